"""Column layout of the allowance inputs, and a builder from ledger events.

The allowances read the ledger as columns (one row per event) plus a long
table of (event row, debt) pairs, the shape a SQL query over the ledger and its
event-debt link returns. :func:`events_frame` builds both from :class:`Event`
objects (JSON-lines imports, tests); the lead's SQL path fills the same columns.

``events`` columns (row order is free):

=================  ==========================================================
``customer_id``    same values and dtype as ``customers.customer_id``
``at``             datetime64[ns], UTC (tz-aware, or naive meaning UTC)
``channel``        voice|sms|whatsapp|email (categorical with these
                   categories is fastest; object strings work)
``direction``      outbound|inbound
``kind``           attempt|consent|opt_out|cease|promise|dispute
``outcome``        attempts only, else null
``campaign``       optional; only read for ``window = "campaign"`` caps
``granted``        optional bool, consent rows (null = granted)
``until``          optional datetime64 local date (midnight), promise rows
``resolved``       optional bool, dispute rows (null = open)
=================  ==========================================================

``event_debts`` columns: ``event`` (integer row position in ``events``) and
``debt_id``. An event with no row concerns every debt of its customer.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from compliance.model import CHANNELS, DIRECTIONS, KINDS, OUTCOMES, Event

CATEGORIES: dict[str, tuple[str, ...]] = {
    "channel": CHANNELS,
    "direction": DIRECTIONS,
    "kind": KINDS,
    "outcome": OUTCOMES,
}


def events_frame(events: Iterable[Event]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(events, event_debts)`` frames in the allowance input layout."""
    rows = list(events)
    frame = pd.DataFrame(
        {
            "customer_id": pd.Series([e.customer_id for e in rows], dtype=object),
            "at": pd.to_datetime([e.at for e in rows], utc=True).astype("datetime64[ns, UTC]"),
            **{
                col: pd.Categorical([getattr(e, col) for e in rows], categories=list(cats))
                for col, cats in CATEGORIES.items()
            },
            "campaign": pd.Series([e.campaign for e in rows], dtype=object),
            "granted": pd.Series([e.granted for e in rows], dtype="boolean"),
            "until": pd.Series(
                [pd.NaT if e.until is None else pd.Timestamp(e.until) for e in rows],
                dtype="datetime64[ns]",
            ),
            "resolved": pd.Series([e.resolved for e in rows], dtype="boolean"),
        }
    )
    pairs = [(i, d) for i, e in enumerate(rows) for d in e.debt_ids]
    debts = pd.DataFrame(
        {
            "event": np.array([i for i, _ in pairs], dtype=np.int64),
            "debt_id": pd.Series([d for _, d in pairs], dtype=object),
        }
    )
    return frame, debts
