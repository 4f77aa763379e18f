"""Structured logs and Prometheus metrics for operations.

Logs: one JSON object per line when ``CADENCIA_LOG_FORMAT=json`` (for log
shipping), with phone numbers and email addresses masked in every message,
since debtors' contact data must not leak into log stores. Metrics: the
Prometheus text format, computed on request from the ledger, the runs and RQ.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from redis import Redis
from sqlalchemy.engine import Engine

from campaigns.ledger.chain import EVENTS
from campaigns.models import Run

PHONE_RE = re.compile(r"\+?\(?\d[\d\s().-]{6,}\d")
EMAIL_RE = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")


def mask_pii(text: str) -> str:
    """Mask phone numbers (keep the last 2 digits) and emails (keep first letter, domain)."""
    text = EMAIL_RE.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    return PHONE_RE.sub(lambda m: "***" + re.sub(r"\D", "", m.group(0))[-2:], text)


class MaskingFilter(logging.Filter):
    """Rewrites each record's message with contact data masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_pii(record.getMessage())
        record.args = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and any ``extra`` fields."""

    RESERVED = frozenset(vars(logging.makeLogRecord({})))

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "at": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        doc.update({k: v for k, v in vars(record).items() if k not in self.RESERVED})
        if record.exc_info:
            doc["exception"] = mask_pii(self.formatException(record.exc_info))
        return json.dumps(doc, default=str, ensure_ascii=False)


def configure_logging(env: Mapping[str, str], level: int = logging.INFO) -> None:
    """Set up the root logger once, at an entry point (never at import time)."""
    handler = logging.StreamHandler()
    if env.get("CADENCIA_LOG_FORMAT", "").lower() == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(MaskingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def _line(name: str, value: float, labels: Mapping[str, str] | None = None) -> str:
    if not labels:
        return f"{name} {value}"
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}} {value}"


def render_metrics(engine: Engine, redis: Redis | None, *, now: dt.datetime) -> str:
    """Prometheus exposition text for today's contacts, abandon rates, runs and queues."""
    since = now.replace(hour=0, minute=0, second=0, microsecond=0)
    out = [
        "# HELP cadencia_attempts_today Attempt outcomes recorded since 00:00 UTC.",
        "# TYPE cadencia_attempts_today gauge",
    ]
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(EVENTS.c.channel, EVENTS.c.outcome, EVENTS.c.campaign, sa.func.count())
            .where(EVENTS.c.kind == "attempt", EVENTS.c.at >= since, EVENTS.c.outcome.is_not(None))
            .group_by(EVENTS.c.channel, EVENTS.c.outcome, EVENTS.c.campaign)
        ).all()
        pending = conn.execute(
            sa.select(sa.func.count())
            .select_from(EVENTS)
            .where(EVENTS.c.kind == "attempt", EVENTS.c.status == "pending", EVENTS.c.at >= since)
        ).scalar_one()
        runs = conn.execute(sa.select(Run.state, sa.func.count()).group_by(Run.state)).all()
    live: dict[str, int] = {}
    abandoned: dict[str, int] = {}
    for channel, outcome, campaign, count in rows:
        out.append(
            _line(
                "cadencia_attempts_today",
                count,
                {"channel": channel, "outcome": outcome, "campaign": campaign or ""},
            )
        )
        if channel == "voice" and outcome in ("conversation", "abandoned", "wrong_party"):
            live[campaign or ""] = live.get(campaign or "", 0) + count
            if outcome == "abandoned":
                abandoned[campaign or ""] = abandoned.get(campaign or "", 0) + count
    out += [
        "# HELP cadencia_abandon_ratio_today Abandoned calls over live answers today.",
        "# TYPE cadencia_abandon_ratio_today gauge",
    ]
    out += [
        _line("cadencia_abandon_ratio_today", abandoned.get(c, 0) / n, {"campaign": c})
        for c, n in sorted(live.items())
        if n
    ]
    out += [
        "# HELP cadencia_attempts_pending Attempts reserved today and not yet settled.",
        "# TYPE cadencia_attempts_pending gauge",
        _line("cadencia_attempts_pending", pending),
        "# HELP cadencia_runs Runs by state.",
        "# TYPE cadencia_runs gauge",
    ]
    out += [_line("cadencia_runs", n, {"state": s}) for s, n in runs]
    if redis is not None:
        from rq import Queue
        from rq.registry import FailedJobRegistry

        out += [
            "# HELP cadencia_queue_jobs Jobs waiting per RQ queue.",
            "# TYPE cadencia_queue_jobs gauge",
            "# HELP cadencia_failed_jobs Jobs in RQ's failed registry.",
            "# TYPE cadencia_failed_jobs gauge",
        ]
        for name in ("dialer", "messages"):
            queue = Queue(name, connection=redis)
            out.append(_line("cadencia_queue_jobs", queue.count, {"queue": name}))
            out.append(
                _line("cadencia_failed_jobs", FailedJobRegistry(queue=queue).count, {"queue": name})
            )
    return "\n".join(out) + "\n"
