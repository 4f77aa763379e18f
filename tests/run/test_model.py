"""The learning loop: right-party rates move from the campaign's priors toward the ledger's data."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from campaigns.campaign import load_campaign
from campaigns.ledger.interchange import import_events
from campaigns.run.model import learned_model
from campaigns.storage.db import make_engine, migrate
from compliance import Event
from tests.run.test_planning import EXAMPLES, NOW, load_generated


def test_many_conversations_raise_the_learned_voice_rate(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/m.db"
    migrate(url)
    load_generated(url, 200, ("CO",))
    campaign = load_campaign(EXAMPLES / "co-tarjetas.toml")
    engine = make_engine(url)
    before = learned_model(engine, campaign, now=NOW)
    segment = before["cells"][0]["segment"]
    with engine.connect() as conn:
        from campaigns.run.inputs import load_slice

        frame = load_slice(conn, campaign).customers
    members = list(frame[frame["segment"] == segment]["customer_id"])
    start = NOW - dt.timedelta(days=20)
    events = [
        Event(
            at=start + dt.timedelta(days=d, hours=(k % 5)),
            customer_id=cid,
            debt_ids=(),
            channel="voice",
            direction="outbound",
            kind="attempt",
            outcome="conversation" if k % 10 < 8 else "no_answer",
        )
        for k, cid in enumerate(members)
        for d in range(10)
    ]
    import_events(engine, events, now=NOW)
    after = learned_model(engine, campaign, now=NOW)
    engine.dispose()

    def voice(model: dict[str, object]) -> dict[str, object]:
        cells = model["cells"]
        assert isinstance(cells, list)
        return next(c for c in cells if c["segment"] == segment and c["channel"] == "voice")

    assert voice(before)["attempts"] == 0
    learned = voice(after)
    assert learned["attempts"] == len(events)
    assert learned["raw_rpc_rate"] == round(
        sum(e.outcome == "conversation" for e in events) / len(events), 4
    )
    prior_mean = voice(before)["learned_rpc_rate_mean_over_hours"]
    assert isinstance(prior_mean, float) and isinstance(
        learned["learned_rpc_rate_mean_over_hours"], float
    )
    assert learned["learned_rpc_rate_mean_over_hours"] > prior_mean
