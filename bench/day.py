"""Benchmark: a whole campaign day for N customers on this machine; prints one JSON object.

    .venv/bin/python bench/day.py --customers 1000000

Phases, each timed: import the portfolio (generated and cached, not timed),
plan (allowances, value model, optimizer, persisted plan), dispatch and
execute the messages through RQ worker processes to the SendGrid/Twilio
stand-ins with signed webhooks (a compressed day), and the day's voice load
through the dialer simulator with the campaign's agents and pacing. Reports
peak memory of this process and the database's size.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

import redis
import sqlalchemy as sa

# Scripts run with their own folder first on sys.path, where bench/dialer.py
# and bench/channels.py would shadow the packages of the same names.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from campaigns.campaign import load_campaign
from campaigns.clock import Clock
from campaigns.db import make_engine, migrate
from campaigns.portfolio.generate import generate_file
from campaigns.portfolio.load import load_portfolio
from campaigns.portfolio.validate import validate_file
from campaigns.run.inputs import slot_starts
from campaigns.run.state import status
from campaigns.sandbox.day import local_services, run_day, voice_day

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--db", default="", help="database URL (default: a fresh SQLite file)")
    parser.add_argument(
        "--redis",
        default="redis://127.0.0.1:6379/4",
        help="a Redis database the benchmark may empty",
    )
    parser.add_argument("--factor", type=float, default=120.0, help="time compression")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/cadencia-bench"))
    args = parser.parse_args()
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

    t0 = time.perf_counter()
    migrate(url)
    validated = validate_file(portfolio, workers=os.cpu_count() or 1)
    engine = make_engine(url)
    load_portfolio(engine, validated, now=dt.datetime.now(dt.UTC))
    phases["import"] = time.perf_counter() - t0
    del validated

    campaign = load_campaign(campaign_path)
    clock = Clock.compressed(slot_starts(campaign, DAY)[0] - dt.timedelta(minutes=5), args.factor)
    redis.Redis.from_url(args.redis).flushdb()
    with local_services(
        url, args.redis, [campaign], clock, workers=args.workers, log_dir=work / "logs"
    ) as services:
        t0 = time.perf_counter()
        run_id = run_day(engine, campaign_path, DAY, services, clock, timeout_s=7200, poll_s=2.0)
        phases["plan_dispatch_execute_messages"] = time.perf_counter() - t0
        sent = len(services.standin.state.sent_emails()) + len(services.standin.state.sent_texts())
    report = status(engine, run_id)
    summary = report.summary
    by_channel = summary.get("by_channel", {})
    t0 = time.perf_counter()
    voice = voice_day(campaign_path, int(by_channel.get("voice", 0)))
    phases["voice_simulation"] = time.perf_counter() - t0
    engine.dispose()
    print(
        json.dumps(
            {
                "customers": args.customers,
                "database": url.split(":", 1)[0],
                "seconds_by_phase": {k: round(v, 1) for k, v in phases.items()},
                "planning_seconds": summary.get("seconds"),
                "planned_attempts": summary.get("planned_attempts"),
                "planned_by_channel": by_channel,
                "gap_pct": summary.get("gap_pct"),
                "messages_accepted_by_providers": sent,
                "voice": voice,
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                "database_mb": round(database_size(url) / 1e6, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
