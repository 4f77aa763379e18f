"""Logs mask debtors' contact data; metrics are valid Prometheus text from real stores."""

from __future__ import annotations

import datetime as dt
import json
import logging

from redis import Redis

from campaigns.db import make_engine
from campaigns.ledger.chain import LedgerEntry, append_now
from campaigns.observability import JsonFormatter, MaskingFilter, mask_pii, render_metrics

NOW = dt.datetime(2026, 11, 24, 15, 0, tzinfo=dt.UTC)


def test_phone_numbers_and_emails_are_masked() -> None:
    text = "called +57 300 123 4567 then wrote maria.nunez@example.com and (212) 555-0123"
    assert mask_pii(text) == "called +57•••••••567 then wrote m•••@example.com and •••••••123"
    assert mask_pii("attempt 12345 of run 7") == "attempt 12345 of run 7"


def test_ids_counts_and_durations_in_worker_logs_stay_readable() -> None:
    # RQ's own lines, which were masked into "run1-email-s11-adf20f-•••00 messages)"
    line = "email batch run1-email-s11-adf20f-133370 (500 messages) job in 0:00:00.921806s"
    assert mask_pii(line) == line
    assert mask_pii("planned 1500 (2026-12-01) at 10.0.0.12") == (
        "planned 1500 (2026-12-01) at 10.0.0.12"
    )
    # a real number beside an unbalanced bracket is still masked
    assert mask_pii("called 3001234567 (2nd try)") == "called •••••••567 (2nd try)"


def test_json_log_lines_carry_extra_fields_and_no_contact_data() -> None:
    record = logging.makeLogRecord(
        {
            "msg": "sms to %s failed",
            "args": ("+573001234567",),
            "levelname": "WARNING",
            "name": "campaigns.jobs",
            "attempt_id": 42,
        }
    )
    MaskingFilter().filter(record)
    doc = json.loads(JsonFormatter().format(record))
    assert doc["message"] == "sms to +57•••••••567 failed" and doc["attempt_id"] == 42
    assert doc["level"] == "WARNING" and doc["logger"] == "campaigns.jobs"


def test_metrics_from_the_ledger_and_rq(database_url: str, redis_url: str) -> None:
    engine = make_engine(database_url)
    entries = [
        LedgerEntry(
            at=NOW,
            customer_id=f"C{i}",
            debt_ids=(),
            channel="voice",
            direction="outbound",
            kind="attempt",
            outcome=outcome,
            campaign="co-tarjetas",
        )
        for i, outcome in enumerate(["conversation"] * 3 + ["abandoned", "busy"])
    ]
    append_now(engine, entries, now=NOW)
    text = render_metrics(engine, Redis.from_url(redis_url), now=NOW)
    engine.dispose()
    lines = dict(line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
    assert (
        lines[
            'cadencia_attempts_today{campaign="co-tarjetas",channel="voice",outcome="conversation"}'
        ]
        == "3"
    )
    assert float(lines['cadencia_abandon_ratio_today{campaign="co-tarjetas"}']) == 0.25
    assert lines['cadencia_queue_jobs{queue="messages"}'] == "0"
    assert all(line.startswith(("# HELP", "# TYPE", "cadencia_")) for line in text.splitlines())
