"""Planning a day: the plan respects compliance, capacity and the experiment's arms."""

from __future__ import annotations

import datetime as dt
import io
from collections import Counter, defaultdict
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from campaigns.campaign import load_campaign
from campaigns.ledger.history import customer_histories
from campaigns.portfolio.generate import generate_portfolio
from campaigns.portfolio.load import load_portfolio
from campaigns.portfolio.validate import validate_text
from campaigns.run.state import advance, create_run, status
from campaigns.storage.db import make_engine
from campaigns.storage.models import ContactPoint, PlannedContact, RunCustomer
from compliance import Proposal, evaluate, load_packs

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TUESDAY = dt.date(2026, 11, 24)
NOW = dt.datetime(2026, 11, 24, 5, 0, tzinfo=dt.UTC)


def load_generated(url: str, customers: int, countries: tuple[str, ...]) -> None:
    out = io.StringIO()
    generate_portfolio(out, customers, seed=5, countries=countries)
    engine = make_engine(url)
    load_portfolio(engine, validate_text(out.getvalue(), "gen.csv"), now=NOW)
    engine.dispose()


def test_colombian_day_plan_is_compliant_within_capacity_and_resumable(database_url: str) -> None:
    load_generated(database_url, 1500, ("CO",))
    engine = make_engine(database_url)
    campaign_path = EXAMPLES / "co-tarjetas.toml"
    campaign = load_campaign(campaign_path)
    run_id = create_run(engine, campaign_path, TUESDAY, needs_approval=True, now=NOW)
    assert create_run(engine, campaign_path, TUESDAY, needs_approval=True, now=NOW) == run_id
    assert advance(engine, run_id, now=NOW) == "awaiting_approval"
    report = status(engine, run_id)
    assert report.summary["planned_attempts"] > 0 and report.planned_by_status["planned"] > 0
    assert report.summary["upper_bound"] >= report.summary["objective"] > 0

    with Session(engine) as session:
        planned = session.scalars(
            sa.select(PlannedContact).where(PlannedContact.run_id == run_id)
        ).all()
    with engine.connect() as conn:
        arms = dict(
            conn.execute(
                sa.select(RunCustomer.customer_id, RunCustomer.arm).where(
                    RunCustomer.run_id == run_id
                )
            ).all()
        )
        left_out = (
            conn.execute(
                sa.select(RunCustomer.left_out_reason).where(
                    RunCustomer.run_id == run_id, RunCustomer.planned_attempts == 0
                )
            )
            .scalars()
            .all()
        )
        zones = dict(conn.execute(sa.text("SELECT external_id, timezones FROM customers")).all())
        debts: dict[str, tuple[str, ...]] = defaultdict(tuple)
        for cid, aid in conn.execute(
            sa.text(
                "SELECT c.external_id, a.external_id"
                " FROM accounts a JOIN customers c ON c.id = a.customer_id"
            )
        ):
            debts[cid] += (aid,)
        histories = customer_histories(
            conn, sorted({p.customer_id for p in planned}), NOW - dt.timedelta(days=40)
        )

    # Ley 2300: at most one contact a day, so at most one planned attempt per customer.
    per_customer = Counter(p.customer_id for p in planned)
    assert max(per_customer.values()) == 1
    assert all(arms[p.customer_id] in ("optimised", "challenger") for p in planned)
    assert "holdout" in arms.values() and all(reason for reason in left_out)
    # Every planned contact passes the contact-time check at its slot's start.
    packs = load_packs(campaign.packs_for("CO", None))
    for p in planned:
        proposal = Proposal(
            at=p.slot_start,
            customer_id=p.customer_id,
            debt_ids=debts[p.customer_id],
            channel=p.channel,
            timezones=tuple(zones[p.customer_id].split(";")),
        )
        decision = evaluate(packs, histories[p.customer_id].events, proposal)
        assert decision.allowed, (
            p.customer_id,
            p.channel,
            [r for r in decision.results if not r.ok],
        )
    # Voice fits the agents: expected handle minutes per slot within capacity.
    handle = (
        campaign.agents.talk_minutes + campaign.agents.wrap_minutes
    ) * campaign.priors.right_party_rate["voice"]
    voice_per_slot = Counter(p.slot for p in planned if p.channel == "voice")
    for slot, n in voice_per_slot.items():
        assert n * handle <= campaign.agents.per_slot[slot] * 60 * campaign.agents.occupancy + 1e-6
    budget = campaign.channels["sms"].daily_budget
    assert budget is not None and sum(1 for p in planned if p.channel == "sms") <= budget
    engine.dispose()


def test_customers_without_a_rule_pack_are_left_out_fail_closed(database_url: str) -> None:
    load_generated(database_url, 300, ("US", "MX"))
    engine = make_engine(database_url)
    run_id = create_run(engine, EXAMPLES / "us-cards.toml", TUESDAY, needs_approval=False, now=NOW)
    assert advance(engine, run_id, now=NOW) == "approved"
    with engine.connect() as conn:
        planned_customers = set(
            conn.execute(
                sa.select(PlannedContact.customer_id).where(PlannedContact.run_id == run_id)
            ).scalars()
        )
        countries = dict(conn.execute(sa.text("SELECT external_id, country FROM customers")).all())
    assert planned_customers and {countries[c] for c in planned_customers} == {"US"}
    engine.dispose()


def test_channels_without_a_usable_contact_point_are_not_planned(database_url: str) -> None:
    load_generated(database_url, 400, ("US",))
    engine = make_engine(database_url)
    with engine.begin() as conn:
        cut_off = conn.execute(
            sa.text("SELECT id, external_id FROM customers ORDER BY external_id LIMIT 25")
        ).all()
        ids = [int(r[0]) for r in cut_off]
        # Every phone a wrong number, every email opted out: nothing reaches them.
        conn.execute(
            sa.update(ContactPoint)
            .where(ContactPoint.customer_id.in_(ids), ContactPoint.kind == "phone")
            .values(wrong_number_at=NOW - dt.timedelta(days=3))
        )
        conn.execute(
            sa.update(ContactPoint)
            .where(ContactPoint.customer_id.in_(ids), ContactPoint.kind == "email")
            .values(opted_out_at=NOW - dt.timedelta(days=2))
        )
        points: dict[str, list[tuple[str, str | None, bool]]] = defaultdict(list)
        for cid, kind, line_type, out, wrong in conn.execute(
            sa.text(
                "SELECT c.external_id, p.kind, p.line_type, p.opted_out_at, p.wrong_number_at"
                " FROM contact_points p JOIN customers c ON c.id = p.customer_id"
            )
        ):
            points[cid].append((kind, line_type, out is None and wrong is None))
    unreachable = {str(r[1]) for r in cut_off}
    without_email = {c for c in points if not any(k == "email" and ok for k, _, ok in points[c])}
    assert len(without_email - unreachable) > 20  # the generator leaves a quarter without one

    run_id = create_run(engine, EXAMPLES / "us-cards.toml", TUESDAY, needs_approval=False, now=NOW)
    assert advance(engine, run_id, now=NOW) == "approved"
    with engine.connect() as conn:
        planned = conn.execute(
            sa.select(PlannedContact.customer_id, PlannedContact.channel).where(
                PlannedContact.run_id == run_id
            )
        ).all()
        reasons = dict(
            conn.execute(
                sa.select(RunCustomer.customer_id, RunCustomer.left_out_reason).where(
                    RunCustomer.run_id == run_id, RunCustomer.arm != "holdout"
                )
            ).all()
        )
    engine.dispose()
    assert {ch for _, ch in planned} >= {"email", "sms"}
    for cid, channel in planned:
        kind = "email" if channel == "email" else "phone"
        assert any(
            k == kind and ok and not (channel in ("sms", "whatsapp") and line == "landline")
            for k, line, ok in points[cid]
        ), (cid, channel, points[cid])
    assert not {cid for cid, _ in planned} & unreachable
    judged = unreachable & reasons.keys()
    assert judged and all(reasons[c].startswith("unreachable: ") for c in judged)
