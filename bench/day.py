"""Benchmark: a whole campaign day for N customers on this machine; prints one JSON object.

    .venv/bin/python -m bench.day --customers 1000000

Phases, each timed: import the portfolio (generated and cached, not timed),
plan (allowances, value model, optimizer, persisted plan; before the day
starts, as a nightly run would), dispatch and execute the messages through RQ
worker processes to the SendGrid/Twilio stand-ins with signed webhooks (a
compressed day), the day's voice load through the dialer simulator with the
campaign's agents and pacing, and the run's report (plan vs actual).

The compressed clock starts only after planning. With ``--factor auto`` (the
default) each slot runs as fast as its own messages allow: it lasts at least
twice the time ``--workers`` need for its messages at ``--message-ms`` per
message per worker, and never faster than ``--max-factor``. Reports the
peak memory of this process after each phase, what the providers accepted and
what the ledger shows for every planned contact, and the database's size.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import tempfile
import time
import uuid
from pathlib import Path

import redis
import sqlalchemy as sa

from campaigns.campaign import load_campaign
from campaigns.clock import Clock
from campaigns.portfolio.generate import generate_file
from campaigns.portfolio.load import load_portfolio
from campaigns.portfolio.validate import validate_file
from campaigns.run.inputs import slot_starts
from campaigns.run.report.data import report_data
from campaigns.run.state import advance, create_run, status
from campaigns.storage.db import make_engine, migrate
from campaigns.storage.models import PlannedContact
from sandbox.day import local_services, run_day, voice_day

ROOT = Path(__file__).resolve().parents[1]
DAY = dt.date(2026, 12, 1)  # a Tuesday, no Colombian holiday


def database_size(url: str) -> int:
    """Bytes the database occupies."""
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    engine = make_engine(url)
    with engine.connect() as conn:
        size = int(
            conn.execute(sa.text("SELECT pg_database_size(current_database())")).scalar_one()
        )
    engine.dispose()
    return size


def peak_rss_mb() -> int:
    """Peak resident memory of this process so far, in MB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def messages_by_slot(engine: sa.Engine, run_id: int) -> dict[int, int]:
    """How many messages (sms, whatsapp, email) the plan puts in each slot."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(PlannedContact.slot, sa.func.count())
            .where(PlannedContact.run_id == run_id, PlannedContact.channel != "voice")
            .group_by(PlannedContact.slot)
        )
        return {int(slot): int(count) for slot, count in rows}


def auto_factor(messages: int, workers: int, message_ms: float, max_factor: float) -> float:
    """The fastest compression at which an hour's ``messages`` fit twice over."""
    needed_s = 2 * messages * message_ms / 1000 / max(1, workers)
    return max(1.0, min(max_factor, 3600 / needed_s)) if needed_s else max_factor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--db", default="", help="database URL (default: a fresh SQLite file)")
    parser.add_argument(
        "--redis",
        default="redis://127.0.0.1:6379/4",
        help="a Redis database the benchmark may empty",
    )
    parser.add_argument(
        "--factor", default="auto", help="time compression, or 'auto' (from the plan's volume)"
    )
    parser.add_argument("--max-factor", type=float, default=360.0)
    parser.add_argument(
        "--message-ms",
        type=float,
        default=3.0,
        help="real milliseconds one worker needs per message, for --factor auto",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/cadencia-bench"))
    args = parser.parse_args()
    if args.factor != "auto":
        try:
            fixed = float(args.factor)
        except ValueError:
            parser.error(f"--factor {args.factor!r}: expected a number or 'auto'")
        if fixed <= 0:
            parser.error("--factor must be > 0")
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    campaign_path = ROOT / "examples" / "co-tarjetas.toml"
    portfolio = args.cache_dir / f"portfolio-co-{args.customers}.csv"
    if not portfolio.exists():
        tmp = portfolio.with_suffix(".tmp")
        generate_file(tmp, args.customers, 11, ("CO",))
        tmp.rename(portfolio)
    work = Path(tempfile.mkdtemp(prefix="cadencia-day-"))
    url = args.db or f"sqlite:///{work}/day-{uuid.uuid4().hex[:6]}.db"
    phases: dict[str, float] = {}
    peaks: dict[str, int] = {}

    t0 = time.perf_counter()
    migrate(url)
    validated = validate_file(portfolio, workers=os.cpu_count() or 1)
    if validated.errors:
        raise SystemExit("\n".join(str(e) for e in validated.errors[:20]))
    engine = make_engine(url)
    imported = load_portfolio(engine, validated, now=dt.datetime.now(dt.UTC))
    phases["import"] = time.perf_counter() - t0
    peaks["import"] = peak_rss_mb()
    del validated

    campaign = load_campaign(campaign_path)
    # Plan before the day starts (a nightly run): a compressed clock started
    # first would spend the morning's slots on planning.
    t0 = time.perf_counter()
    run_id = create_run(
        engine, campaign_path, DAY, needs_approval=False, now=dt.datetime.now(dt.UTC)
    )
    advance(engine, run_id, now=dt.datetime.now(dt.UTC), stop_at="approved")
    phases["plan"] = time.perf_counter() - t0
    peaks["plan"] = peak_rss_mb()

    per_slot = messages_by_slot(engine, run_id)
    starts = slot_starts(campaign, DAY)
    if args.factor == "auto":
        # Each slot runs as fast as its own messages allow: the busiest gets
        # the real time it needs, the quiet afternoon flies by.
        factors = [
            auto_factor(per_slot.get(i, 0), args.workers, args.message_ms, args.max_factor)
            for i in range(len(starts))
        ]
    else:
        factors = [float(args.factor)] * len(starts)
    changes = [
        (at, f)
        for at, f, before in zip(starts[1:], factors[1:], factors, strict=False)
        if f != before
    ]
    clock = Clock.compressed(starts[0] - dt.timedelta(minutes=5), factors[0], changes)
    redis.Redis.from_url(args.redis).flushdb()
    with local_services(
        url, args.redis, [campaign], clock, workers=args.workers, log_dir=work / "logs"
    ) as services:
        t0 = time.perf_counter()
        run_day(engine, campaign_path, DAY, services, clock, timeout_s=14400, poll_s=2.0)
        phases["dispatch_execute_messages"] = time.perf_counter() - t0
        peaks["dispatch_execute_messages"] = peak_rss_mb()
        emails = len(services.standin.state.sent_emails())
        texts = len(services.standin.state.sent_texts())
    report = status(engine, run_id)
    summary = report.summary
    by_channel = summary.get("by_channel", {})
    t0 = time.perf_counter()
    voice = voice_day(campaign_path, int(by_channel.get("voice", 0)))
    phases["voice_simulation"] = time.perf_counter() - t0
    peaks["voice_simulation"] = peak_rss_mb()
    t0 = time.perf_counter()
    data = report_data(engine, run_id)
    phases["report"] = time.perf_counter() - t0
    peaks["report"] = peak_rss_mb()
    engine.dispose()
    print(
        json.dumps(
            {
                "customers": args.customers,
                "imported": imported.as_dict(),
                "database": url.split(":", 1)[0],
                "workers": args.workers,
                "factor_by_slot": [round(f, 1) for f in factors],
                "messages_by_slot": [per_slot.get(i, 0) for i in range(len(starts))],
                "compressed_day_real_s": round(
                    clock.to_real(starts[-1] + dt.timedelta(hours=1)).timestamp()
                    - clock.real_start,
                    1,
                ),
                "seconds_by_phase": {k: round(v, 1) for k, v in phases.items()},
                "peak_rss_mb_after_phase": peaks,
                "planning_seconds": summary.get("seconds"),
                "planned_customers": summary.get("customers"),
                "planned_attempts": summary.get("planned_attempts"),
                "planned_by_channel": by_channel,
                "gap_pct": summary.get("gap_pct"),
                "run_state": report.state,
                "pending_at_close": summary.get("pending_at_close"),
                "planned_by_status": report.planned_by_status,
                "execution": data["execution"],
                "outcomes_by_channel": data["outcomes"],
                "provider_accepted": {"emails": emails, "texts": texts},
                "voice": voice,
                "peak_rss_mb": peak_rss_mb(),
                "database_mb": round(database_size(url) / 1e6, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
