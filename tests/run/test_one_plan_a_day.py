"""One plan per customer a day: two campaigns that hold the same debtor contact them once."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from campaigns.agents.disposition import check_callback, parse_form, save_disposition
from campaigns.agents.events import AgentCall
from campaigns.portfolio.view import customer_360
from campaigns.run.planning import plan_run
from campaigns.run.state import advance, create_run, status
from campaigns.run.stored import campaign_of
from campaigns.storage.db import make_engine
from campaigns.storage.models import PlannedContact, Run, RunCustomer
from tests.run.test_planning import EXAMPLES, NOW, TUESDAY, load_generated


def _campaign(tmp_path: Path, name: str, priority: int) -> Path:
    """The Colombian cards campaign under another name and priority (the same customers)."""
    text = (EXAMPLES / "co-tarjetas.toml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^name\s*=.*$", f'name = "{name}"', text, count=1)
    text = re.sub(r"(?m)^priority\s*=.*$", f"priority = {priority}", text, count=1)
    path = tmp_path / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _live_plans(engine: sa.Engine) -> dict[str, set[int]]:
    """Runs with a contact not dropped, by customer."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(PlannedContact.customer_id, PlannedContact.run_id).where(
                PlannedContact.status != "dropped"
            )
        ).all()
    plans: dict[str, set[int]] = {}
    for customer, run in rows:
        plans.setdefault(str(customer), set()).add(int(run))
    return plans


def test_the_higher_priority_campaign_keeps_the_customer_and_the_plan_review_says_so(
    database_url: str, tmp_path: Path
) -> None:
    load_generated(database_url, 600, ("CO",))
    engine = make_engine(database_url)
    cards = create_run(engine, EXAMPLES / "co-tarjetas.toml", TUESDAY, needs_approval=True, now=NOW)
    advance(engine, cards, now=NOW)
    first = _live_plans(engine)
    assert first and all(runs == {cards} for runs in first.values())
    # Auto loans, priority 10, planned later: it takes over the cards plan's customers.
    loans_path = _campaign(tmp_path, "co-vehiculos", 10)
    loans = create_run(engine, loans_path, TUESDAY, needs_approval=True, now=NOW)
    advance(engine, loans, now=NOW)
    # A third campaign at the default priority, planned last: it leaves them to auto loans.
    arrears = create_run(
        engine, _campaign(tmp_path, "co-mora", 100), TUESDAY, needs_approval=True, now=NOW
    )
    advance(engine, arrears, now=NOW)
    plans = _live_plans(engine)
    with engine.connect() as conn:
        dropped = (
            conn.execute(
                sa.select(PlannedContact.reason).where(
                    PlannedContact.run_id == cards, PlannedContact.status == "dropped"
                )
            )
            .scalars()
            .all()
        )
        left = dict(
            conn.execute(
                sa.select(RunCustomer.customer_id, RunCustomer.left_out_reason).where(
                    RunCustomer.run_id == arrears
                )
            ).all()
        )
    loans_summary = status(engine, loans).summary["one_plan_a_day"]
    arrears_summary = status(engine, arrears).summary["one_plan_a_day"]
    engine.dispose()
    assert all(len(runs) == 1 for runs in plans.values())  # nobody in two plans
    taken = {c for c, runs in plans.items() if runs == {loans}}
    assert taken & set(first)
    assert dropped and all("taken by campaign co-vehiculos (priority 10" in r for r in dropped)
    assert loans_summary["taken_from_other_runs"] == {str(cards): len(taken & set(first))}
    assert arrears_summary["left_to_by_campaign"].get("co-vehiculos") == len(taken)
    assert all("co-vehiculos's plan today (priority 10" in str(left[c]) for c in taken)


def test_a_customer_who_asked_for_a_callback_is_left_out_of_that_days_plan(
    database_url: str,
) -> None:
    """The callback is the day's contact: a planned one first would spend it (Ley 2300)."""
    load_generated(database_url, 300, ("CO",))
    engine = make_engine(database_url)
    campaign_path = EXAMPLES / "co-tarjetas.toml"
    wednesday = create_run(engine, campaign_path, TUESDAY + dt.timedelta(days=1),
                           needs_approval=True, now=NOW)  # fmt: skip
    advance(engine, wednesday, now=NOW)
    with engine.connect() as conn:
        customer = str(
            conn.execute(
                sa.select(PlannedContact.customer_id)
                .where(PlannedContact.run_id == wednesday, PlannedContact.channel == "voice")
                .limit(1)
            ).scalar_one()
        )
    # On Tuesday's call the debtor asks to be called back on Wednesday at 09:30 Bogotá:
    # saved as the desktop saves it, with the rules' decision.
    call = AgentCall("agent1", "wrap", None, customer_id=customer, run_id=wednesday,
                     campaign="co-tarjetas")  # fmt: skip
    asked = NOW + dt.timedelta(hours=10)  # Tuesday 10:00 Bogotá
    form = parse_form(
        {"party": "right", "result": "callback", "callback_at": "2026-11-25T09:30"},
        customer_360(engine, customer),
        now=asked,
    )
    assert form.callback_at is not None
    decision = check_callback(engine, call, form.callback_at)
    assert decision.allowed, decision
    save_disposition(engine, call, form, now=asked, callback_decision=decision)
    # Wednesday's plan, made again (as a manager re-plans before approving).
    with Session(engine) as db:
        run = db.get(Run, wednesday)
        assert run is not None
        campaign = campaign_of(run)
    with engine.begin() as conn:
        summary = plan_run(conn, wednesday, campaign, TUESDAY + dt.timedelta(days=1))
        planned = conn.execute(
            sa.select(sa.func.count()).where(
                PlannedContact.run_id == wednesday, PlannedContact.customer_id == customer
            )
        ).scalar_one()
        reason = conn.execute(
            sa.select(RunCustomer.left_out_reason).where(
                RunCustomer.run_id == wednesday, RunCustomer.customer_id == customer
            )
        ).scalar_one()
    engine.dispose()
    assert planned == 0
    assert str(reason).startswith("callback: the customer asked agent1 to call back at 09:30")
    assert summary.callbacks_today == 1
