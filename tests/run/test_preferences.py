"""The plan honours the channel and hours a customer chose on the portal."""

from __future__ import annotations

import datetime as dt

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from campaigns.campaign import Preferences
from campaigns.portal.actions import context_of, set_preference
from campaigns.portal.links import issue_links, live_link
from campaigns.run.planning import plan_run
from campaigns.run.preferences import DayPreferences, channel_weights, inside_hours
from campaigns.run.state import advance, create_run
from campaigns.run.stored import campaign_of
from campaigns.storage.db import make_engine
from campaigns.storage.models import PlannedContact, Run, RunCustomer
from tests.run.test_planning import EXAMPLES, NOW, TUESDAY, load_generated

WEDNESDAY = TUESDAY + dt.timedelta(days=1)


def _choose(engine: sa.Engine, customer: str, channel: str, hours: tuple[int, int]) -> None:
    """The customer opens their link and chooses, through the portal's own action."""
    with engine.begin() as conn:
        reference = issue_links(conn, [customer], "co-tarjetas", now=NOW,
                                ttl=dt.timedelta(hours=72))[customer]  # fmt: skip
    with engine.connect() as conn:
        link = live_link(conn, reference, NOW)
    assert link is not None
    ctx = context_of(engine, link)
    assert ctx is not None
    form = {"channel": channel, "hour_from": str(hours[0]), "hour_to": str(hours[1]),
            "nonce": f"n-{customer}"}  # fmt: skip
    set_preference(engine, ctx, form, now=NOW)


def _replan(engine: sa.Engine, run_id: int) -> tuple[dict[str, object], dict[str, list[tuple]]]:
    """Wednesday's plan made again (as a manager re-plans before approving)."""
    with Session(engine) as db:
        run = db.get(Run, run_id)
        assert run is not None
        campaign = campaign_of(run)
    with engine.begin() as conn:
        summary = plan_run(conn, run_id, campaign, WEDNESDAY)
        rows = conn.execute(
            sa.select(
                PlannedContact.customer_id, PlannedContact.channel, PlannedContact.slot_start
            ).where(PlannedContact.run_id == run_id)
        ).all()
    planned: dict[str, list[tuple]] = {}
    for customer, channel, slot in rows:
        planned.setdefault(str(customer), []).append((channel, slot))
    return summary.as_dict(), planned


def test_chosen_hours_bind_every_channel_and_a_day_without_them_says_why(
    database_url: str,
) -> None:
    load_generated(database_url, 300, ("CO",))
    engine = make_engine(database_url)
    run_id = create_run(engine, EXAMPLES / "co-tarjetas.toml", WEDNESDAY,
                        needs_approval=True, now=NOW)  # fmt: skip
    advance(engine, run_id, now=NOW)
    _, before = _replan(engine, run_id)
    evening, night = sorted(before)[:2]
    # One asks for 14:00–16:00 Bogotá; the other for 02:00–04:00, when no slot is open.
    _choose(engine, evening, "email", (14, 16))
    _choose(engine, night, "voice", (2, 4))
    summary, after = _replan(engine, run_id)
    with engine.connect() as conn:
        reason = conn.execute(
            sa.select(RunCustomer.left_out_reason).where(
                RunCustomer.run_id == run_id, RunCustomer.customer_id == night
            )
        ).scalar_one()
    engine.dispose()
    bogota = dt.timezone(dt.timedelta(hours=-5))
    assert after[evening], "the customer who chose reachable hours is still planned"
    for _channel, slot in after[evening]:
        assert 14 <= slot.astimezone(bogota).hour < 16, (evening, slot)
    assert night not in after
    assert str(reason).startswith("preference: the customer chose to be contacted from 02:00")
    assert summary["preferences"] == {"chose": 2, "outside_chosen_hours": 1}


def test_the_chosen_channel_is_favoured_not_exclusive() -> None:
    prefs = DayPreferences(
        has=np.array([True, True, False]),
        channel=np.array([2, -1, -1]),
        hour_from=np.array([18, 0, 0]),
        hour_to=np.array([20, 24, 24]),
    )
    weights = channel_weights(
        prefs, 4, Preferences(preferred_channel_boost=1.5, other_channels=0.7)
    )
    assert weights[0].tolist() == np.float32([0.7, 0.7, 1.5, 0.7]).tolist()
    # A channel the campaign does not use: the hours still bind, no channel is favoured.
    assert weights[1].tolist() == [1.0, 1.0, 1.0, 1.0]
    assert weights[2].tolist() == [1.0, 1.0, 1.0, 1.0]
    # Slots at campaign hours 17..20, the first customer one hour ahead of the campaign.
    inside = inside_hours(prefs, np.arange(17, 21), np.array([1, 0, 0]))
    assert inside.tolist() == [
        [True, True, False, False],
        [True, True, True, True],
        [True, True, True, True],
    ]
