"""Logs mask debtors' contact data; metrics are valid Prometheus text from real stores."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis

from campaigns.ledger.chain import LedgerEntry, append_now
from campaigns.metrics import render_metrics
from campaigns.observability import JsonFormatter, MaskingFilter, configure_logging, mask_pii
from campaigns.storage.db import make_engine

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
    retry = "Job dial-run2-s1: scheduled for retry at 2026-12-07 16:34:14.986593+00:00"
    assert mask_pii(retry) == retry
    # a real number beside an unbalanced bracket is still masked
    assert mask_pii("called 3001234567 (2nd try)") == "called •••••••567 (2nd try)"


def test_json_log_lines_carry_extra_fields_and_no_contact_data() -> None:
    record = logging.makeLogRecord(
        {
            "msg": "sms to %s failed",
            "args": ("+573001234567",),
            "levelname": "WARNING",
            "name": "campaigns.messaging",
            "attempt_id": 42,
        }
    )
    MaskingFilter().filter(record)
    doc = json.loads(JsonFormatter().format(record))
    assert doc["message"] == "sms to +57•••••••567 failed" and doc["attempt_id"] == 42
    assert doc["level"] == "WARNING" and doc["logger"] == "campaigns.messaging"


def test_metrics_from_the_ledger_and_rq(database_url: str, redis_url: str) -> None:
    """The exposition parses with prometheus-client's own parser, odd campaign names too."""
    odd = 'co "tarjetas" \\ 2'  # a quote and a backslash, which the format must escape
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
            campaign=campaign,
        )
        for campaign in ("co-tarjetas", odd)
        for i, outcome in enumerate(["conversation"] * 3 + ["abandoned", "busy"])
    ]
    append_now(engine, entries, now=NOW)
    text = render_metrics(engine, Redis.from_url(redis_url), now=NOW)
    engine.dispose()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in families.values()
        for s in family.samples
    }
    for campaign in ("co-tarjetas", odd):
        key = (("campaign", campaign), ("channel", "voice"), ("outcome", "conversation"))
        assert samples[("cadencia_attempts_today", key)] == 3
        assert samples[("cadencia_abandon_ratio_today", (("campaign", campaign),))] == 0.25
    assert samples[("cadencia_queue_jobs", (("queue", "messages"),))] == 0
    assert set(families) >= {
        "cadencia_attempts_today",
        "cadencia_abandon_ratio_today",
        "cadencia_attempts_pending",
        "cadencia_runs",
        "cadencia_queue_jobs",
        "cadencia_failed_jobs",
    }
    # One family's samples follow its own HELP and TYPE lines, never another's.
    current = None
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            current = line.split()[2]
        elif not line.startswith("#"):
            assert line.startswith(current), (current, line)


def test_tracebacks_stack_info_and_extra_fields_are_masked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Through the handler every entry point installs, in both formats."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        for log_format in ("text", "json"):
            configure_logging(log_format)
            log = logging.getLogger("campaigns.test")
            try:
                raise ValueError("Twilio 400: 'To' +573001234567 is not valid (maria@example.com)")
            except ValueError:
                log.exception("send failed", extra={"to": "+573001234567"}, stack_info=True)
            out = capsys.readouterr().err
            assert "ValueError" in out and "+57•••••••567" in out and "m•••@example.com" in out
            assert "3001234567" not in out and "maria@example.com" not in out, out
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
