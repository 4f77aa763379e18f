"""A campaign's pacer remembers across dial sessions: saved at the end, restored at the start.

Each slot is its own dial session (an RQ job), so without this every hour
re-learned the live-answer rate, ring times and talk and wrap-up times from
the campaign's priors, spending its first 150 calls in progressive warm-up:
about 1.6 points of the no-idle limit lost against one continuous pacer
(``python -m bench.dialer_pacing --per-slot`` measures both). The abandon
budget is not part of the state: it is seeded from the ledger's counts for
the rule's window, which are the truth after a crash too.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from campaigns.storage.models import PacerState
from dialer.pacing import Pacer

log = logging.getLogger(__name__)


def restore_pacer(engine: Engine, campaign: str, pacer: Pacer, *, time_scale: float = 1.0) -> bool:
    """Load ``campaign``'s saved state into ``pacer``; False (priors kept) if there is none.

    A state the pacer cannot read (an older version, a damaged row) is
    logged and ignored: the session starts from the priors, as a new
    campaign does, rather than not dialing. So is one learned at another
    ``time_scale``: a compressed day's talk times are in compressed seconds.
    """
    try:
        with engine.connect() as conn:
            text = conn.execute(
                sa.select(PacerState.state).where(PacerState.campaign == campaign)
            ).scalar()
    except SQLAlchemyError as exc:
        log.warning("pacer state of %s not read (%s): starting from the priors", campaign, exc)
        return False
    if text is None:
        return False
    try:
        saved = json.loads(text)
        if saved.get("time_scale") != time_scale:
            log.info("pacer state of %s is for another time scale: priors kept", campaign)
            return False
        pacer.restore_state(saved["pacer"])
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        log.warning("pacer state of %s not restored (%s): starting from the priors", campaign, exc)
        return False
    return True


def save_pacer(
    engine: Engine,
    campaign: str,
    pacer: Pacer,
    *,
    now: dt.datetime,
    run_id: int | None = None,
    time_scale: float = 1.0,
) -> None:
    """Store what ``pacer`` learned as ``campaign``'s state (replacing the previous one)."""
    saved = {"time_scale": time_scale, "pacer": pacer.export_state()}
    values = {
        "state": json.dumps(saved, separators=(",", ":")),
        "saved_at": now,
        "run_id": run_id,
    }
    with engine.begin() as conn:
        updated = conn.execute(
            sa.update(PacerState).where(PacerState.campaign == campaign).values(**values)
        ).rowcount
        if not updated:
            conn.execute(sa.insert(PacerState).values(campaign=campaign, **values))
