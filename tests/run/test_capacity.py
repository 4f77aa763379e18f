"""The plan's voice capacity follows what the floor carried on recent days, not only the model."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from campaigns.campaign import load_campaign
from campaigns.ledger.interchange import import_events
from campaigns.run.capacity import model_rate, voice_rate
from campaigns.run.inputs import slot_starts
from campaigns.run.state import advance, create_run, status
from campaigns.storage.db import make_engine
from campaigns.storage.models import PlannedContact
from compliance import Event
from tests.run.test_planning import EXAMPLES, NOW, TUESDAY, load_generated


def test_a_floor_slower_than_its_model_gets_a_smaller_voice_plan(database_url: str) -> None:
    load_generated(database_url, 3000, ("CO",))
    engine = make_engine(database_url)
    path = EXAMPLES / "co-tarjetas.toml"
    campaign = load_campaign(path)
    first = create_run(engine, path, TUESDAY, needs_approval=True, now=NOW)
    advance(engine, first, now=NOW)
    with engine.connect() as conn:
        planned = Counter(
            dict(
                conn.execute(
                    sa.select(PlannedContact.slot, sa.func.count())
                    .where(PlannedContact.run_id == first, PlannedContact.channel == "voice")
                    .group_by(PlannedContact.slot)
                ).all()
            )
        )
        assert voice_rate(conn, campaign, TUESDAY).measured is None  # no past day yet
    # That Tuesday the dialer placed a third of each slot's planned calls (history
    # as another system would hand it over, through the ledger interchange).
    starts = slot_starts(campaign, TUESDAY)
    made = {slot: n // 3 for slot, n in planned.items()}
    history = [
        Event(
            starts[slot] + dt.timedelta(seconds=10 * k),
            f"C{slot:02d}{k:05d}",
            (),
            "voice",
            "outbound",
            "attempt",
            "no_answer",
            campaign="co-tarjetas",
        )
        for slot, n in made.items()
        for k in range(n)
    ]
    import_events(engine, history, now=NOW + dt.timedelta(days=1))
    wednesday = TUESDAY + dt.timedelta(days=1)
    with engine.connect() as conn:
        rate = voice_rate(conn, campaign, wednesday)
    agent_hours = sum(
        a for s, a in enumerate(campaign.agents.per_slot) if planned[s] > made.get(s, 0)
    )
    assert rate.measured is not None
    assert round(rate.measured, 6) == round(sum(made.values()) / agent_hours, 6)
    assert rate.used == rate.measured < model_rate(campaign)
    second = create_run(engine, path, wednesday, needs_approval=True, now=NOW)
    advance(engine, second, now=NOW + dt.timedelta(days=1))
    summary = status(engine, second).summary
    engine.dispose()
    assert summary["voice_attempts_per_agent_hour"]["used"] == round(rate.used, 2)
    # The plan asks for no more voice than the floor showed it can carry, per slot.
    assert summary["by_channel"]["voice"] < sum(planned.values())


def test_the_staffing_model_learns_answer_rate_and_talk_time_from_the_ledger(
    database_url: str,
) -> None:
    """Debtors who answer less than the priors say: an agent-hour carries more attempts."""
    engine = make_engine(database_url)
    campaign = load_campaign(EXAMPLES / "co-tarjetas.toml")
    with engine.connect() as conn:
        assert voice_rate(conn, campaign, TUESDAY).model_basis == "priors"
    start = slot_starts(campaign, TUESDAY - dt.timedelta(days=1))[0]
    history = [
        Event(
            start + dt.timedelta(seconds=30 * k),
            f"C{k:05d}",
            (),
            "voice",
            "outbound",
            "attempt",
            "conversation" if k % 10 == 0 else "no_answer",
            campaign="co-tarjetas",
            duration_s=120.0 if k % 10 == 0 else None,
        )
        for k in range(400)
    ]
    import_events(engine, history, now=NOW)
    with engine.connect() as conn:
        rate = voice_rate(conn, campaign, TUESDAY)
    engine.dispose()
    assert rate.model_basis == "ledger"
    assert rate.model == model_rate(campaign, rpc=0.1, talk_minutes=2.0) > model_rate(campaign)
    assert rate.used == rate.model  # nothing measured in saturated slots: the model plans


def test_calls_the_guard_refused_at_their_turn_do_not_make_a_slot_look_saturated(
    database_url: str,
) -> None:
    """A slot whose planned calls were all made or refused ran out of work: no measure."""
    from campaigns.ledger.guard import ContactRequest, guard_and_reserve
    from campaigns.run.stored import plan_key
    from compliance import Proposal, load_packs

    load_generated(database_url, 3000, ("CO",))
    engine = make_engine(database_url)
    path = EXAMPLES / "co-tarjetas.toml"
    campaign = load_campaign(path)
    run = create_run(engine, path, TUESDAY, needs_approval=True, now=NOW)
    advance(engine, run, now=NOW)
    with engine.connect() as conn:
        slot, first = conn.execute(
            sa.select(PlannedContact.slot, sa.func.min(PlannedContact.slot_start))
            .where(PlannedContact.run_id == run, PlannedContact.channel == "voice")
            .group_by(PlannedContact.slot)
            .order_by(PlannedContact.slot)
        ).first()
        contacts = conn.execute(
            sa.select(PlannedContact.id, PlannedContact.customer_id).where(
                PlannedContact.run_id == run,
                PlannedContact.channel == "voice",
                PlannedContact.slot == slot,
            )
        ).all()
        others = set(
            conn.execute(
                sa.select(PlannedContact.slot)
                .where(PlannedContact.run_id == run, PlannedContact.channel == "voice")
                .distinct()
            ).scalars()
        ) - {slot}
    made, refused = contacts[: len(contacts) // 3], contacts[len(contacts) // 3 :]
    # The first slot: a third dialed, the rest refused (below). Every later
    # planned slot: one call dialed, the rest never reached.
    starts = slot_starts(campaign, TUESDAY)
    dialed = [(first + dt.timedelta(seconds=k), str(c)) for k, (_, c) in enumerate(made)]
    dialed += [(starts[s] + dt.timedelta(seconds=1), f"X{s}") for s in others]
    import_events(
        engine,
        [
            Event(at, c, (), "voice", "outbound", "attempt", "no_answer", campaign="co-tarjetas")
            for at, c in dialed
        ],
        now=NOW + dt.timedelta(days=1),
    )
    # The rest reached the guard at 23:00 Bogotá, outside Ley 2300's hours: refused.
    late = dt.datetime.combine(TUESDAY, dt.time(23), ZoneInfo("America/Bogota"))
    packs = tuple(load_packs(list(campaign.packs_for("CO", None))))
    requests = [
        ContactRequest(
            plan_key(int(pid)),
            Proposal(
                late,
                str(c),
                (),
                "voice",
                ("America/Bogota",),
                "+573001234567",
                "mobile",
                campaign="co-tarjetas",
                autodialed=True,
            ),
            packs,
        )
        for pid, c in refused
    ]
    results = guard_and_reserve(engine, requests, now=late)
    assert results and not any(r.allowed for r in results)
    with engine.connect() as conn:
        rate = voice_rate(conn, campaign, TUESDAY + dt.timedelta(days=1))
    engine.dispose()
    # Only slots with calls never reached are measured: the others, not this one.
    never_reached = [campaign.agents.per_slot[s] for s in others]
    assert rate.agent_hours_measured == sum(a for a in never_reached if a > 0)
