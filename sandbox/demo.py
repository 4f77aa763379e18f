"""``make demo``: two campaign days on embedded defaults, time compressed, with money.

Generates a 20,000-customer portfolio and imports it into an SQLite file; hands
over the bank's earlier promises through the ledger interchange; then runs two
full days of the shipped Colombian campaign with the clock compressed (each day
in a few minutes): planning, dispatch to RQ workers on Redis, SendGrid and
Twilio stand-ins with signed webhooks, voice through the dial session (the real
Asterisk sandbox when this machine can run it). After each day the bank's
payments file is imported (``sandbox.bank`` plays the bank and says how its
debtors pay). The second day's plan has learned from the first: its voice
capacity is what the floor carried, broken promises are followed up. It then
audits the ledger and writes both days' reports to ``out/``.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import redis
from sqlalchemy.engine import Engine

from campaigns.campaign import Campaign, load_campaign
from campaigns.clock import Clock
from campaigns.ledger.audit import violations
from campaigns.ledger.chain import verify
from campaigns.ledger.interchange import import_events, parse_jsonl
from campaigns.payments.file import parse_payments_file
from campaigns.payments.record import record_payments
from campaigns.portfolio.generate import generate_file
from campaigns.portfolio.load import load_portfolio
from campaigns.portfolio.validate import validate_file
from campaigns.run.inputs import slot_starts
from campaigns.run.report.data import report_data
from campaigns.run.report.html import render_html
from campaigns.storage.db import make_engine, migrate
from sandbox import asterisk
from sandbox.bank import payments_file, previous_system_history
from sandbox.day import local_services, run_day, voice_day

OUT = Path("out")
CUSTOMERS = 20_000
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "co-tarjetas.toml"
CAMPAIGN = OUT / "co-tarjetas-demo.toml"
# A Tuesday and a Wednesday that are no Colombian holidays; simulated, not waited for.
DAYS = (dt.date(2026, 12, 1), dt.date(2026, 12, 2))
# Agents logged in to the sandbox's queue (simulated: they answer and talk).
SANDBOX_AGENTS = 10
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


def demo_campaign() -> Campaign:
    """The shipped Colombian campaign, staffed as the demo's floor is: the sandbox's agents
    every hour (the plan's agent capacity must be the floor's)."""
    text = EXAMPLE.read_text(encoding="utf-8")
    start = text.index("per_slot = [")
    slots = text[start : text.index("]", start)].count(",") + 1
    staffed = f"per_slot = [{', '.join([str(SANDBOX_AGENTS)] * slots)}]"
    CAMPAIGN.write_text(text[:start] + staffed + text[text.index("\n", start) :], encoding="utf-8")
    return load_campaign(CAMPAIGN)


def prepare(url: str, portfolio_path: Path) -> bool:
    """Generate and import the portfolio; False (with the errors printed) if it is invalid."""
    rows = generate_file(portfolio_path, CUSTOMERS, seed=7)
    say(f"generated {CUSTOMERS} customers, {rows} accounts -> {portfolio_path}")
    say(f"database {url} at revision {migrate(url)}")
    portfolio = validate_file(portfolio_path, workers=os.cpu_count() or 1)
    if portfolio.errors:
        for error in portfolio.errors[:20]:
            print(error, file=sys.stderr)
        return False
    engine = make_engine(url)
    try:
        summary = load_portfolio(engine, portfolio, now=dt.datetime.now(dt.UTC))
    finally:
        engine.dispose()
    say(
        f"imported {summary.as_dict()['customers']} customers, {summary.as_dict()['accounts']} "
        "accounts"
    )
    return True


def hand_over_history(engine: Engine, campaign: Campaign) -> None:
    """The bank's earlier promises, through the ledger interchange (as another system would)."""
    path = previous_system_history(
        engine,
        campaign.name,
        campaign.currency,
        DAYS[0],
        OUT / "history.jsonl",
        share=0.03,
        seed=11,
    )
    parsed = parse_jsonl(path)
    assert not parsed.errors, parsed.errors[:5]
    new = import_events(engine, parsed.events, now=dt.datetime.now(dt.UTC), terms=parsed.terms)
    say(f"handed over {new} ledger events from the bank's previous system ({path})")


def run_campaign_day(
    engine: Engine, url: str, campaign: Campaign, day: dt.date, pbx: asterisk.SandboxState | None
) -> int:
    """One compressed day of the campaign through the real services; returns the run id."""
    first = slot_starts(campaign, day)[0]
    clock = Clock.compressed(first - dt.timedelta(minutes=10), FACTOR)
    redis.Redis.from_url(DEMO_REDIS).flushdb()
    say(f"running {campaign.name} for {day} ({campaign.slots} hour-slots, x{FACTOR:.0f} time)")
    with local_services(
        url,
        DEMO_REDIS,
        [campaign],
        clock,
        workers=3 if pbx else 2,
        log_dir=OUT / "logs" / str(day),
        asterisk=pbx,
        agents=SANDBOX_AGENTS,
    ) as services:
        seen: set[tuple[str, int]] = set()

        def progress(state: str, now: dt.datetime) -> None:
            local = now.astimezone(ZoneInfo(campaign.timezone))
            if (state, local.hour) not in seen:
                seen.add((state, local.hour))
                say(f"{state}: {local:%H:%M} in Bogotá (simulated)")

        return run_day(
            engine,
            CAMPAIGN,
            day,
            services,
            clock,
            on_progress=progress,
            poll_s=2.0,
            timeout_s=1800,
        )


def import_payments(engine: Engine, campaign: Campaign, day: dt.date) -> None:
    """The bank's payments file of ``day``, imported as a manager would (all or nothing)."""
    path = payments_file(
        engine, campaign.currency, day, OUT / f"payments-{day}.csv", seed=day.toordinal()
    )
    parsed = parse_payments_file(path)
    assert not parsed.errors, parsed.errors[:5]
    end_of_day = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(6), tzinfo=dt.UTC)
    summary = record_payments(
        engine, parsed.payments, source="file", now=end_of_day, name=str(path)
    )
    promises = summary.promises
    say(
        f"payments {path.name}: {summary.recorded} recorded "
        f"({', '.join(f'{a:,.2f} {c}' for c, a in summary.amounts.items())}); promises "
        f"{promises.kept} kept, {promises.partly_kept} partly kept, {promises.broken} broken"
    )


def tell_the_day(engine: Engine, run_id: int, why_no_pbx: str) -> dict[str, Any]:
    """What a manager reads first: voice planned and placed, money per arm."""
    data = report_data(engine, run_id)
    planned = sum(data["planned_per_slot"].get("voice", []))
    placed = sum(data["actual_per_slot"].get("voice", []))
    rate = data["plan"].get("voice_attempts_per_agent_hour") or {}
    say(
        f"{data['run']['day']}: voice placed {placed} of {planned} planned "
        # one decimal: 563 of 565 is 99.6%, not a rounded-up 100%
        f"({100 * placed / planned if planned else 0:.1f}%), planned at {rate.get('used')} "
        f"attempts per agent-hour (model {rate.get('model')} on the "
        f"{rate.get('model_basis', 'priors')}, measured {rate.get('measured')})"
    )
    if why_no_pbx:
        say(f"voice in the dialer simulator ({why_no_pbx}): {voice_day(CAMPAIGN, planned)}")
    money = data["money"]
    for arm, f in money["arms"].items():
        if f["customers"]:
            say(
                f"  {arm}: {f['customers']} customers, {f['payers']} paid, "
                f"{f['per_customer']:,.2f} {money['currency']} per customer"
            )
    for control, u in (money.get("uplift_per_customer") or {}).items():
        say(f"  optimised {control.replace('_', ' ')}: {_uplift(u, money['currency'])}")
    return data


def _uplift(u: dict[str, float], currency: str) -> str:
    """The difference per customer with its 95% interval, and whether it can be told from zero.

    The holdout is 2% of the customers: a few large payments swing its mean,
    and only the interval says whether a difference is one.
    """
    low, high = u["ci95_low"], u["ci95_high"]
    verdict = (
        "ahead"
        if low > 0
        else "behind"
        if high < 0
        else "not distinguishable from zero at this size"
    )
    return (
        f"{u['difference']:+,.2f} {currency} per customer "
        f"(95% interval {low:+,.2f} to {high:+,.2f}: {verdict})"
    )


def main() -> int:
    """Run the demo; returns the process exit code."""
    OUT.mkdir(exist_ok=True)
    portfolio_path, db_path = OUT / "portfolio.csv", OUT / "demo.db"
    for stale in (db_path, OUT / "demo.db-wal", OUT / "demo.db-shm"):
        stale.unlink(missing_ok=True)
    url = f"sqlite:///{db_path}"
    started = time.perf_counter()
    if not prepare(url, portfolio_path):
        return 1
    try:
        redis.Redis.from_url(DEMO_REDIS).ping()
    except redis.RedisError as exc:
        say(f"Redis at {DEMO_REDIS} is needed for the day's jobs: {exc}")
        return 1
    campaign = demo_campaign()
    engine = make_engine(url)
    pbx, why = start_pbx()
    try:
        hand_over_history(engine, campaign)
        runs = []
        for day in DAYS:
            runs.append(run_campaign_day(engine, url, campaign, day, pbx))
            import_payments(engine, campaign, day)
        for run_id in runs:
            report = render_html(tell_the_day(engine, run_id, why), OUT)
            say(f"report: {report.resolve()}")
        first = slot_starts(campaign, DAYS[0])[0]
        checked, findings = violations(
            engine, first - dt.timedelta(hours=2), first + dt.timedelta(days=len(DAYS))
        )
        say(f"audit: {checked} attempts re-judged, {len(findings)} violations")
        chain = verify(engine)
        say(f"ledger chain intact: {chain.ok} ({chain.events} events)")
    finally:
        engine.dispose()
        if pbx is not None:
            asterisk.stop(pbx.name)
    say(f"finished in {time.perf_counter() - started:.0f}s")
    return 0 if not findings and chain.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
