"""``make demo``: a whole campaign day on embedded defaults, time compressed.

Generates a 20,000-customer portfolio, imports it into an SQLite file, and runs
a full day of the shipped Colombian campaign with the clock compressed (a day
in a few minutes): planning, dispatch to RQ workers on Redis, SendGrid and
Twilio stand-ins with signed webhooks, voice through the dial session (the
real Asterisk sandbox when this machine can run it). It then audits the
ledger and writes the report to ``out/``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import redis

from campaigns.campaign import load_campaign
from campaigns.clock import Clock
from campaigns.ledger.audit import violations
from campaigns.ledger.chain import verify
from campaigns.portfolio.generate import generate_file
from campaigns.portfolio.load import load_portfolio
from campaigns.portfolio.validate import validate_file
from campaigns.run.inputs import slot_starts
from campaigns.run.report.data import report_data
from campaigns.run.report.html import render_html
from campaigns.storage.db import make_engine, migrate
from sandbox import asterisk
from sandbox.day import local_services, run_day, voice_day

OUT = Path("out")
CUSTOMERS = 20_000
CAMPAIGN = Path(__file__).resolve().parents[1] / "examples" / "co-tarjetas.toml"
# A Tuesday that is no Colombian holiday; the day is simulated, not waited for.
DAY = dt.date(2026, 12, 1)
# Twelve hour-slots in about four minutes.
FACTOR = 180.0
# The demo owns this Redis database and empties it first.
DEMO_REDIS = os.environ.get("CADENCIA_DEMO_REDIS_URL", "redis://127.0.0.1:6379/3")


def say(message: str) -> None:
    """Progress for the person watching."""
    print(f"[demo] {message}", flush=True)


def start_pbx() -> tuple[asterisk.SandboxState | None, str]:
    """The Asterisk sandbox when this machine can run it (root, debootstrap), else why not."""
    missing = asterisk.prerequisites_missing()
    if missing is not None:
        return None, missing
    say("starting the Asterisk 22 sandbox (the first time builds a Debian root: ~1–4 min)")
    try:
        return asterisk.start(name="demo"), ""
    except asterisk.SandboxError as exc:
        return None, str(exc)


def main() -> int:
    """Run the demo; returns the process exit code."""
    OUT.mkdir(exist_ok=True)
    portfolio_path, db_path = OUT / "portfolio.csv", OUT / "demo.db"
    for stale in (db_path, OUT / "demo.db-wal", OUT / "demo.db-shm"):
        stale.unlink(missing_ok=True)
    url = f"sqlite:///{db_path}"
    started = time.perf_counter()
    rows = generate_file(portfolio_path, CUSTOMERS, seed=7)
    say(f"generated {CUSTOMERS} customers, {rows} accounts -> {portfolio_path}")
    say(f"database {url} at revision {migrate(url)}")
    portfolio = validate_file(portfolio_path, workers=os.cpu_count() or 1)
    if portfolio.errors:
        for error in portfolio.errors[:20]:
            print(error, file=sys.stderr)
        return 1
    engine = make_engine(url)
    try:
        summary = load_portfolio(engine, portfolio, now=dt.datetime.now(dt.UTC))
        say(f"imported {json.dumps(summary.as_dict())}")
        try:
            redis.Redis.from_url(DEMO_REDIS).flushdb()
        except redis.RedisError as exc:
            say(f"Redis at {DEMO_REDIS} is needed for the day's jobs: {exc}")
            return 1
        campaign = load_campaign(CAMPAIGN)
        first = slot_starts(campaign, DAY)[0]
        pbx, why = start_pbx()
        clock = Clock.compressed(first - dt.timedelta(minutes=10), FACTOR)
        say(f"running {campaign.name} for {DAY} ({campaign.slots} hour-slots, x{FACTOR:.0f} time)")
        with local_services(
            url,
            DEMO_REDIS,
            [campaign],
            clock,
            workers=3 if pbx else 2,
            log_dir=OUT / "logs",
            asterisk=pbx,
            agents=10,
        ) as services:
            seen: set[tuple[str, int]] = set()

            def progress(state: str, now: dt.datetime) -> None:
                local = now.astimezone(ZoneInfo(campaign.timezone))
                if (state, local.hour) not in seen:
                    seen.add((state, local.hour))
                    say(f"{state}: {local:%H:%M} in Bogotá (simulated)")

            run_id = run_day(
                engine,
                CAMPAIGN,
                DAY,
                services,
                clock,
                on_progress=progress,
                poll_s=2.0,
                timeout_s=1800,
            )
        if pbx is None:
            planned = report_data(engine, run_id)["plan"].get("by_channel", {}).get("voice", 0)
            say(
                f"voice in the dialer simulator ({why}): {json.dumps(voice_day(CAMPAIGN, planned))}"
            )
        checked, findings = violations(
            engine, first - dt.timedelta(hours=2), first + dt.timedelta(days=1)
        )
        say(f"audit: {checked} attempts re-judged, {len(findings)} violations")
        chain = verify(engine)
        say(f"ledger chain intact: {chain.ok} ({chain.events} events)")
        report = render_html(report_data(engine, run_id), OUT)
    finally:
        engine.dispose()
        if pbx is not None:
            asterisk.stop(pbx.name)
    say(f"finished in {time.perf_counter() - started:.0f}s")
    say(f"report: {report.resolve()}")
    return 0 if not findings and chain.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
