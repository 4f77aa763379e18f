"""A debtor who says "no more calls" on the portal: the guard refuses calls at once, texts go on."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from campaigns.ledger.guard import LOOKBACK
from campaigns.ledger.history import customer_histories
from compliance import Proposal, evaluate, load_packs
from tests.portal.conftest import NOW, Bed
from tests.portal.test_portal_http import portal_events, post, verified


def _decision(bed: Bed, channel: str, number: str) -> tuple[bool, list[str]]:
    """The guard's judgement of a contact to C1 an hour later (as the dial session asks)."""
    with bed.engine.connect() as conn:
        history = customer_histories(conn, ["C1"], NOW - LOOKBACK)["C1"]
    proposal = Proposal(
        at=NOW + dt.timedelta(hours=1),
        customer_id="C1",
        debt_ids=("A1", "A2"),
        channel=channel,  # type: ignore[arg-type]
        timezones=("America/Bogota",),
        contact_point=number,
        line_type="mobile",
        campaign="co-tarjetas",
    )
    decision = evaluate(load_packs(("co-ley2300", "house")), history.events, proposal)
    return decision.allowed, [r.detail for r in decision.results if not r.ok]


def test_no_more_calls_binds_every_number_of_the_customer_and_not_their_texts(bed: Bed) -> None:
    assert _decision(bed, "voice", "+573001234567")[0]
    with TestClient(bed.app) as client:
        csrf = verified(client, bed.reference)
        assert post(client, bed.reference, "opt-out", csrf, channel="voice") == 303
        again = post(client, bed.reference, "opt-out", csrf, channel="voice")  # a double submit
        assert again == 303
    assert portal_events(bed) == [("opt_out", "voice", "inbound")]  # recorded once
    for number in ("+573001234567", "+573109999999"):  # any number, even one not on file
        allowed, why = _decision(bed, "voice", number)
        assert not allowed and any("opted out of voice" in w for w in why)
    assert _decision(bed, "sms", "+573001234567")[0]  # texts are not calls
