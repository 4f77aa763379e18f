"""A whole campaign day, time compressed, through real Redis, RQ workers, HTTP and webhooks.

The plan's every contact ends executed, dropped with a recorded reason, or
visibly pending; nobody is contacted twice; an audit finds no violation; the
ledger's chain verifies; the report renders with charts.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from campaigns.campaign import load_campaign
from campaigns.clock import Clock
from campaigns.ledger.audit import violations
from campaigns.ledger.chain import verify
from campaigns.run.inputs import slot_starts
from campaigns.run.report.data import report_data
from campaigns.run.report.html import render_html
from campaigns.run.stored import plan_key
from campaigns.storage.db import make_engine, migrate
from campaigns.storage.models import GuardDecisionRow, PlannedContact
from sandbox.asterisk import SandboxState
from sandbox.day import local_services, run_day
from tests.run.test_planning import EXAMPLES, load_generated
from tests.support.asterisk import reset_agents
from tests.support.logscan import personal_data_in_logs, product_logging

DAY = dt.date(2026, 12, 1)  # a Tuesday, not a Chilean holiday


def messages_only(tmp_path: Path) -> Path:
    path = tmp_path / "cl-messages.toml"
    text = (EXAMPLES / "cl-consumo.toml").read_text(encoding="utf-8")
    path.write_text(
        text.replace("[channels.voice]\n", "[channels.voice]\nenabled = false\n"), encoding="utf-8"
    )
    return path


def test_compressed_day_executes_the_plan_exactly_once(tmp_path: Path, redis_url: str) -> None:
    url = f"sqlite:///{tmp_path}/day.db"
    migrate(url)
    load_generated(url, 250, ("CL",))
    campaign_path = messages_only(tmp_path)
    campaign = load_campaign(campaign_path)
    first_slot = slot_starts(campaign, DAY)[0]
    # 12 hour slots in about a minute.
    clock = Clock.compressed(first_slot - dt.timedelta(minutes=5), factor=720)
    engine = make_engine(url)
    with local_services(
        url, redis_url, [campaign], clock, workers=2, log_dir=tmp_path / "logs"
    ) as services:
        run_id = run_day(engine, campaign_path, DAY, services, clock, timeout_s=600)
        emails = services.standin.state.sent_emails()
        texts = services.standin.state.sent_texts()

    with Session(engine) as session:
        planned = session.scalars(
            sa.select(PlannedContact).where(PlannedContact.run_id == run_id)
        ).all()
        refusals = {d.request_key: d for d in session.scalars(sa.select(GuardDecisionRow))}
    keys = {plan_key(p.id): p for p in planned}
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT a.idempotency_key, a.id, (SELECT o.outcome FROM contact_events o"
                " WHERE o.resolves_id = a.id ORDER BY o.id DESC LIMIT 1) FROM contact_events a"
                " WHERE a.idempotency_key LIKE 'plan:%'"
            )
        ).all()
    attempts = {k: (i, outcome) for k, i, outcome in rows}
    assert planned and set(attempts) <= set(keys)
    # Every planned contact: attempted (settled or visibly pending) or refused with reasons.
    forgotten = [k for k in keys if k not in attempts and k not in refusals]
    assert forgotten == []
    settled = Counter(outcome for _, outcome in attempts.values())
    assert settled["sent"] + settled["delivered"] + settled["bounced"] + settled["replied"] > 0
    # Nobody contacted twice: each attempt reached the provider at most once.
    sent_ids = [e.custom_args.get("attempt_id") for e in emails]
    sent_ids += [
        parse_qs(urlsplit(t.status_callback or "").query).get("attempt", [None])[0] for t in texts
    ]
    assert len(sent_ids) == len(set(sent_ids))
    assert len(sent_ids) <= len(attempts)
    per_customer = Counter(keys[k].customer_id for k in attempts)
    assert max(per_customer.values()) <= 1  # Ley 21.320: two messages a week, two days apart

    with engine.connect() as conn:
        opt_outs = conn.execute(
            sa.text("SELECT min(at) FROM contact_events WHERE kind = 'opt_out'")
        ).scalar()
    assert opt_outs is not None  # STOP replies arrived, stamped by the day's clock
    checked, findings = violations(
        engine, first_slot - dt.timedelta(hours=1), first_slot + dt.timedelta(days=1)
    )
    assert checked == len(attempts) and findings == []
    assert verify(engine).ok
    data = report_data(engine, run_id)
    assert data["run"]["state"] == "closed"
    page = render_html(data, tmp_path / "out")
    assert page.read_text(encoding="utf-8").count("data:image/png;base64,") >= 3
    json.dumps(data, default=str)
    engine.dispose()


@pytest.mark.asterisk
@pytest.mark.slow
def test_compressed_day_with_voice_on_the_sandbox_asterisk(
    tmp_path: Path, redis_url: str, asterisk_sandbox: SandboxState
) -> None:
    url = f"sqlite:///{tmp_path}/day.db"
    migrate(url)
    load_generated(url, 150, ("CL",))
    campaign_path = EXAMPLES / "cl-consumo.toml"
    campaign = load_campaign(campaign_path)
    first_slot = slot_starts(campaign, DAY)[0]
    clock = Clock.compressed(first_slot - dt.timedelta(minutes=10), factor=360)
    engine = make_engine(url)
    logs = tmp_path / "logs"
    logs.mkdir()
    # The sandbox is shared by the session: use its two built-in agents only,
    # and hand them back as other tests expect them.
    try:
        with (
            product_logging(logs / "driver.log"),
            local_services(
                url,
                redis_url,
                [campaign],
                clock,
                workers=3,
                log_dir=logs,
                asterisk=asterisk_sandbox,
                agents=2,
                # The plan holds about a dozen calls: at the default 25% that
                # answer, about one run in 30 reached nobody and failed.
                answer_percent=60,
            ) as services,
        ):
            run_id = run_day(engine, campaign_path, DAY, services, clock, timeout_s=900)
    finally:
        reset_agents(asterisk_sandbox)
    # Every process of the voice day (the dial sessions in the workers) logged
    # without a phone, email or name of the portfolio.
    assert personal_data_in_logs(engine, logs) == []
    with engine.connect() as conn:
        voice = (
            conn.execute(
                sa.text(
                    "SELECT (SELECT o.outcome FROM contact_events o WHERE o.resolves_id = a.id"
                    " ORDER BY o.id DESC LIMIT 1) FROM contact_events a JOIN planned_contacts p"
                    " ON a.idempotency_key = 'plan:' || p.id"
                    " WHERE p.run_id = :r AND p.channel = 'voice'"
                ),
                {"r": run_id},
            )
            .scalars()
            .all()
        )
    assert voice, "the plan's voice contacts were dialed"
    assert "conversation" in voice  # calls reached the sandbox's agents
    checked, findings = violations(
        engine, first_slot - dt.timedelta(hours=1), first_slot + dt.timedelta(days=1)
    )
    assert checked > 0 and findings == []
    assert verify(engine).ok
    engine.dispose()
