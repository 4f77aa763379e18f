"""Contact requests the guard tests make: one Colombian and one New York debtor."""

from __future__ import annotations

import datetime as dt

from campaigns.ledger.guard import ContactRequest
from compliance import Proposal, load_packs

# Tuesday 24 November 2026, 10:00 in Bogotá: inside Ley 2300's weekday hours, no holiday.
TUESDAY_10_BOGOTA = dt.datetime(2026, 11, 24, 15, 0, tzinfo=dt.UTC)
# Tuesday 24 November 2026, 11:00 in New York.
TUESDAY_11_NEW_YORK = dt.datetime(2026, 11, 24, 16, 0, tzinfo=dt.UTC)


def colombian_call(key: str, at: dt.datetime = TUESDAY_10_BOGOTA) -> ContactRequest:
    """A voice call to customer C1's mobile about debt A1 under Ley 2300."""
    return ContactRequest(
        key=key,
        proposal=Proposal(
            at=at,
            customer_id="C1",
            debt_ids=("A1",),
            channel="voice",
            timezones=("America/Bogota",),
            contact_point="+573001234567",
            line_type="mobile",
        ),
        packs=load_packs("co-ley2300"),
    )


def us_call(key: str, at: dt.datetime = TUESDAY_11_NEW_YORK) -> ContactRequest:
    """A voice call to customer U1 about debt UA1 under Regulation F."""
    return ContactRequest(
        key=key,
        proposal=Proposal(
            at=at,
            customer_id="U1",
            debt_ids=("UA1",),
            channel="voice",
            timezones=("America/New_York",),
            contact_point="+12125550123",
            line_type="unknown",
        ),
        packs=load_packs("us-regf"),
    )
