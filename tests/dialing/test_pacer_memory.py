"""The pacer remembers across dial sessions: what one session learned, the next restores."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest
import sqlalchemy as sa

from campaigns.campaign import load_campaign
from campaigns.dialing import pacing_config, restore_pacer, save_pacer, session_pacer
from campaigns.storage.db import make_engine
from campaigns.storage.models import PacerState
from dialer.estimators import CallOutcome
from dialer.pacing import Pacer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NOW = dt.datetime(2027, 2, 1, 15, tzinfo=dt.UTC)


def _learned(pacer: Pacer) -> Pacer:
    """A pacer after a busy hour: a low live rate and long talks."""
    for k in range(400):
        outcome = CallOutcome.LIVE if k % 10 == 0 else CallOutcome.NO_ANSWER
        pacer.record_call_resolved(outcome, 8.0 if outcome is CallOutcome.LIVE else 30.0)
    for _ in range(60):
        pacer.record_talk(420.0)
        pacer.record_wrap(45.0)
    return pacer


@pytest.mark.postgres
def test_the_next_session_of_the_campaign_starts_where_the_last_one_ended(
    postgres_url: str,
) -> None:
    campaign = load_campaign(EXAMPLES / "co-tarjetas.toml")
    cfg = pacing_config(campaign)
    engine = make_engine(postgres_url)
    first = session_pacer(engine, campaign, cfg, NOW.date(), 1.0)
    priors = first.export_state()
    _learned(first)
    save_pacer(engine, campaign.name, first, now=NOW, run_id=None)
    # The second save replaces the first: one row per campaign.
    save_pacer(engine, campaign.name, first, now=NOW, run_id=None)
    second = session_pacer(engine, campaign, cfg, NOW.date(), 1.0)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(sa.func.count()).select_from(PacerState)).scalar()
    engine.dispose()
    assert rows == 1
    assert second.export_state() == first.export_state() != priors
    assert second.answers.live_rate() < 0.2
    assert second.talk.mean() > 300


@pytest.mark.postgres
def test_a_state_from_another_time_scale_or_damaged_leaves_the_priors(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    campaign = load_campaign(EXAMPLES / "co-tarjetas.toml")
    cfg = pacing_config(campaign)
    engine = make_engine(postgres_url)
    save_pacer(engine, campaign.name, _learned(Pacer(cfg)), now=NOW, time_scale=60.0)
    priors = Pacer(cfg).export_state()
    assert not restore_pacer(engine, campaign.name, fresh := Pacer(cfg), time_scale=1.0)
    assert fresh.export_state() == priors
    with engine.begin() as conn:
        conn.execute(sa.update(PacerState).values(state='{"time_scale": 1.0, "pacer": {}}'))
    with caplog.at_level(logging.WARNING):
        assert not restore_pacer(engine, campaign.name, fresh := Pacer(cfg))
    engine.dispose()
    assert fresh.export_state() == priors
    assert "not restored" in caplog.text
