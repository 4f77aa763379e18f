"""Benchmark: the planning phase of one campaign day, as ``cadencia run`` performs it; one JSON.

    .venv/bin/python -m bench.plan --customers 200000 --campaign examples/co-tarjetas.toml \\
        --ledger-days 30

Set-up, cached and not timed: a generated portfolio for the campaign's
countries, imported with ``cadencia portfolio import`` into a PostgreSQL
database kept by name (``cadencia_benchplan_<N>_<days>_<campaign>``; ``--db``
names another), and a ledger history of ``--ledger-days`` days before the
planned day: each customer is attempted about every ``--every-days`` days on
the campaign's channels, each attempt a pending row and its outcome row (the
guard's and ``record_outcome``'s shapes), appended through the ledger's own
``append`` so the hash chain is real. Both run in child processes, so the
peak memory measured is the planning's.

Timed: ``create_run`` then ``advance`` to ``awaiting_approval`` (the run's
allowances, value model, optimizer, left-out reasons and the persisted plan),
exactly the calls ``cadencia run --campaign … --date …`` makes before the
manager approves. A run already planned for the day is deleted first.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from campaigns.campaign import load_campaign
from campaigns.ledger.chain import EVENTS, LedgerEntry, append
from campaigns.portfolio.generate import generate_file
from campaigns.run.state import advance, create_run
from campaigns.storage.db import make_engine, migrate
from campaigns.storage.models import Account, Customer, PlannedContact, Run, RunCustomer

ROOT = Path(__file__).resolve().parents[1]
ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DAY = dt.date(2026, 12, 1)  # a Tuesday, no holiday in Colombia, Chile or the US
CHUNK = 20_000
# How seeded attempts end, per channel (shares; compliance.model's outcomes): what
# the learned rates and the allowances read.
OUTCOMES = {
    "voice": (("no_answer", 0.45), ("conversation", 0.2), ("busy", 0.1), ("machine", 0.25)),
    "sms": (("delivered", 0.9), ("failed", 0.05), ("replied", 0.05)),
    "whatsapp": (("delivered", 0.9), ("failed", 0.05), ("replied", 0.05)),
    "email": (("delivered", 0.9), ("bounced", 0.05), ("sent", 0.05)),
}


def peak_rss_mb() -> int:
    """Peak resident memory of this process so far, in MB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def cpu_seconds() -> float:
    """User plus system CPU time of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def database_url(args: argparse.Namespace, campaign_name: str) -> str:
    """The cached database's URL, created if missing."""
    if args.db:
        return str(args.db)
    name = f"cadencia_benchplan_{args.customers}_{args.ledger_days}_{campaign_name}".replace(
        "-", "_"
    )
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        found = conn.execute(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
        ).scalar()
        if not found:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def prepare(url: str, args: argparse.Namespace, countries: tuple[str, ...]) -> dict[str, object]:
    """Import the portfolio and seed the ledger once (children); what the database holds."""
    migrate(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        customers = int(conn.execute(sa.select(sa.func.count()).select_from(Customer)).scalar_one())
        events = int(conn.execute(sa.select(sa.func.count()).select_from(EVENTS)).scalar_one())
    engine.dispose()
    if customers == 0:
        portfolio = args.cache_dir / f"portfolio-{'-'.join(countries)}-{args.customers}.csv"
        if not portfolio.exists():
            args.cache_dir.mkdir(parents=True, exist_ok=True)
            generate_file(portfolio, args.customers, args.seed, countries)
        subprocess.run(
            [sys.executable, "-m", "cadencia", "--db", url, "portfolio", "import", str(portfolio)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    if events == 0 and args.ledger_days > 0:
        subprocess.run(
            [sys.executable, "-m", "bench.plan", "--seed-ledger", "--db", url,
             "--campaign", str(args.campaign), "--ledger-days", str(args.ledger_days),
             "--every-days", str(args.every_days), "--seed", str(args.seed)],
            check=True,
        )  # fmt: skip
    engine = make_engine(url)
    with engine.connect() as conn:
        held: dict[str, object] = {
            "customers": int(
                conn.execute(sa.select(sa.func.count()).select_from(Customer)).scalar_one()
            ),
            "ledger_events": int(
                conn.execute(sa.select(sa.func.count()).select_from(EVENTS)).scalar_one()
            ),
        }
    engine.dispose()
    return held


def seed_ledger(url: str, campaign_path: Path, days: int, every: float, seed: int) -> None:
    """Append ``days`` of attempts and outcomes before ``DAY`` (child process; not timed)."""
    campaign = load_campaign(campaign_path)
    channels = [c for c, ch in campaign.channels.items() if ch.enabled]
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(Customer.external_id, Account.external_id).join(
                Account, Account.customer_id == Customer.id
            )
        ).all()
    debts: dict[str, list[str]] = {}
    for customer, account in rows:
        debts.setdefault(str(customer), []).append(str(account))
    ids = sorted(debts)
    rng = np.random.default_rng(seed)
    start = dt.datetime.combine(DAY - dt.timedelta(days=days), dt.time(13), tzinfo=dt.UTC)
    for day in range(days):
        chosen = rng.random(len(ids)) < 1.0 / every
        picked = [ids[i] for i in np.flatnonzero(chosen)]
        for lo in range(0, len(picked), CHUNK):
            _seed_chunk(engine, picked[lo : lo + CHUNK], debts, channels, campaign.name,
                        start + dt.timedelta(days=day), rng)  # fmt: skip
    engine.dispose()


def _seed_chunk(
    engine: sa.Engine,
    customers: list[str],
    debts: dict[str, list[str]],
    channels: list[str],
    campaign: str,
    day_start: dt.datetime,
    rng: np.random.Generator,
) -> None:
    """One chunk's attempts (pending) and their outcomes, in one transaction."""
    now = dt.datetime.now(dt.UTC)
    picks = rng.integers(0, len(channels), len(customers))
    minutes = rng.integers(0, 10 * 60, len(customers))
    attempts = [
        LedgerEntry(
            at=day_start + dt.timedelta(minutes=int(m)),
            customer_id=c,
            debt_ids=tuple(debts[c]),
            channel=channels[k],
            direction="outbound",
            kind="attempt",
            status="pending",
            campaign=campaign,
            idempotency_key=f"bench:{c}:{day_start.date()}",
        )
        for c, k, m in zip(customers, picks.tolist(), minutes.tolist(), strict=True)
    ]
    with engine.begin() as conn:
        ids = append(conn, attempts, now=now)
        outcomes = [
            LedgerEntry(
                at=a.at + dt.timedelta(seconds=40),
                customer_id=a.customer_id,
                debt_ids=a.debt_ids,
                channel=a.channel,
                direction="outbound",
                kind="attempt",
                outcome=_outcome(a.channel, rng),
                status="final",
                resolves_id=attempt_id,
                campaign=campaign,
                duration_s=90.0 if a.channel == "voice" else None,
                idempotency_key=f"outcome:{attempt_id}",
            )
            for a, attempt_id in zip(attempts, ids, strict=True)
        ]
        append(conn, outcomes, now=now)


def _outcome(channel: str, rng: np.random.Generator) -> str:
    names, shares = zip(*OUTCOMES.get(channel, OUTCOMES["sms"]), strict=True)
    return str(names[int(rng.choice(len(names), p=np.array(shares) / sum(shares)))])


def plan_once(url: str, campaign_path: Path) -> dict[str, object]:
    """Time the planning phase as ``cadencia run`` performs it (a fresh run of ``DAY``)."""
    engine = make_engine(url)
    name = load_campaign(campaign_path).name
    with engine.begin() as conn:  # a run of an earlier bench: planned again from nothing
        old = [int(r) for r in conn.execute(
            sa.select(Run.id).where(Run.campaign == name, Run.day == DAY)).scalars()]  # fmt: skip
        for table in (PlannedContact, RunCustomer):
            conn.execute(sa.delete(table).where(table.run_id.in_(old)))
        conn.execute(sa.delete(Run).where(Run.id.in_(old)))
    now = dt.datetime.combine(DAY - dt.timedelta(days=1), dt.time(23), tzinfo=dt.UTC)
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    run_id = create_run(engine, campaign_path, DAY, needs_approval=True, now=now)
    state = advance(engine, run_id, now=now)
    wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
    with engine.connect() as conn:
        summary = json.loads(
            conn.execute(sa.select(Run.summary).where(Run.id == run_id)).scalar_one() or "{}"
        )
    engine.dispose()
    return {
        "state": state,
        "planning_seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),
        "peak_rss_mb": peak_rss_mb(),
        "gap_pct": summary.get("gap_pct"),
        "planned_attempts": summary.get("planned_attempts"),
        "planned_by_channel": summary.get("by_channel"),
        "optimizer_and_planning_seconds": summary.get("seconds"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--campaign", type=Path, default=ROOT / "examples" / "co-tarjetas.toml")
    parser.add_argument("--db", default="", help="PostgreSQL URL (default: a cached database)")
    parser.add_argument("--ledger-days", type=int, default=30)
    parser.add_argument("--every-days", type=float, default=12.0,
                        help="each customer is attempted about once in this many days")  # fmt: skip
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/cadencia-bench"))
    parser.add_argument("--seed-ledger", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed_ledger:
        seed_ledger(args.db, args.campaign, args.ledger_days, args.every_days, args.seed)
        return
    campaign = load_campaign(args.campaign)
    countries = tuple(sorted(campaign.rule_packs))  # keyed by country: CO, CL, US
    url = database_url(args, campaign.name)
    t0 = time.perf_counter()
    held = prepare(url, args, countries)
    setup = time.perf_counter() - t0
    result = {
        "customers_requested": args.customers,
        "campaign": campaign.name,
        **held,
        "setup_seconds_not_timed": round(setup, 1),
        # The ledger history is generated (attempts and outcomes drawn at random,
        # appended through the chain's own append), not a month of real runs.
        "ledger_history": f"synthetic, {args.ledger_days} days, one attempt per customer "
        f"every {args.every_days:g} days on average",
        **plan_once(url, args.campaign),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
