"""A day ends: a run waits for late outcomes, then closes with what never came still pending."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import sqlalchemy as sa
from redis import Redis

from campaigns.ledger.guard import ContactRequest, guard_and_reserve
from campaigns.queues import rq_queue
from campaigns.run.execute import CLOSE_GRACE, PENDING_PATIENCE, execution_step
from campaigns.run.inputs import slot_starts
from campaigns.run.state import advance, create_run
from campaigns.run.stored import campaign_of, plan_key
from campaigns.storage.db import make_engine, migrate
from campaigns.storage.models import PlannedContact, Run
from compliance import Proposal, load_packs
from tests.run.test_planning import EXAMPLES, NOW, TUESDAY, load_generated


def test_run_waits_for_outcomes_then_closes_leaving_them_visibly_pending(
    tmp_path: Path, redis_url: str
) -> None:
    url = f"sqlite:///{tmp_path}/close.db"
    migrate(url)
    load_generated(url, 200, ("CL",))
    engine = make_engine(url)
    run_id = create_run(
        engine, EXAMPLES / "cl-consumo.toml", TUESDAY, needs_approval=False, now=NOW
    )
    advance(engine, run_id, now=NOW, stop_at="approved")
    with engine.begin() as conn:
        conn.execute(sa.update(Run).where(Run.id == run_id).values(state="executing"))
        planned = conn.execute(
            sa.select(PlannedContact.id, PlannedContact.customer_id, PlannedContact.slot_start)
            .where(PlannedContact.run_id == run_id)
            .limit(1)
        ).one()
    # One attempt reserved for the plan and never settled (its call was up at the end).
    (reserved,) = guard_and_reserve(
        engine,
        [
            ContactRequest(
                plan_key(planned.id),
                Proposal(
                    at=planned.slot_start,
                    customer_id=planned.customer_id,
                    debt_ids=(),
                    channel="email",
                    timezones=("America/Santiago",),
                ),
                load_packs("house"),
            )
        ],
        now=planned.slot_start,
    )
    assert reserved.allowed
    with engine.connect() as conn:
        run = conn.execute(sa.select(Run.__table__).where(Run.id == run_id)).mappings().one()
    day_end = slot_starts(campaign_of(Run(**run)), TUESDAY)[-1] + dt.timedelta(hours=1)
    step = execution_step(rq_queue("messages", connection=Redis.from_url(redis_url)))

    assert advance(engine, run_id, now=day_end + CLOSE_GRACE * 2, dispatch=step) == "executing"
    late = day_end + CLOSE_GRACE * PENDING_PATIENCE
    assert advance(engine, run_id, now=late, dispatch=step) == "closed"
    with engine.connect() as conn:
        summary = json.loads(
            conn.execute(sa.select(Run.summary).where(Run.id == run_id)).scalar_one()
        )
        status = conn.execute(
            sa.text("SELECT status FROM contact_events WHERE idempotency_key = :k"),
            {"k": plan_key(planned.id)},
        ).scalar_one()
    assert summary["pending_at_close"] == 1 and status == "pending"
    engine.dispose()
