"""Benchmark: messages end to end through RQ workers; prints one JSON object.

    .venv/bin/python -m bench.channels_throughput --messages 200000

Half the messages are emails, half SMS, to generated US debtors. As in a daily
run, a message is planned only where the planner could plan it: for a debtor
with a usable contact point on its channel (``campaigns.reach``; about a
quarter of the generated debtors have no email address) whom the compliance
allowances let be contacted on it this hour (a tenth denied email, a third
gave no consent to autodialed texts), so more debtors are generated than
messages. ``--all-debtors`` plans one email and one SMS for
every debtor instead, as earlier versions of this bench did; the workers then
drop the unreachable ones. Each message goes render → guard (one call per
batch) → pending ledger row → provider stand-in over real HTTP (its own
process) → outcome row, carried by ``--workers`` real ``rq worker`` processes
on real Redis. The database is a throwaway PostgreSQL database (the production
path) unless ``--sqlite``.
``email_per_s`` / ``sms_per_s`` count messages sent (accepted by the stand-in
and recorded) over the wall time from the first job's start to the last
job's end; ``worker_cpu_ms_per_message`` (per channel) is the CPU the worker
processes spent per message carried through, steadier than rates on a
machine that is doing other work too. ``--profile N`` also runs one batch of
N emails and one of N SMS in this process under cProfile and reports where
the time goes.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import cProfile
import datetime as dt
import io
import json
import os
import pstats
import resource
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import psutil
import sqlalchemy as sa
from redis import Redis

from campaigns.ledger.chain import EVENTS
from campaigns.messaging import (
    MessageBatch,
    MessagingSettings,
    PlannedMessage,
    Senders,
    build_runtime,
    enqueue_batch,
    process_batch,
)
from campaigns.messaging.context import packs_for
from campaigns.portfolio.generate import generate_file
from campaigns.portfolio.load import load_portfolio
from campaigns.portfolio.validate import validate_file
from campaigns.queues import fetch_job, rq_queue
from campaigns.reach import usable_channels
from campaigns.run.inputs import histories
from campaigns.storage.db import make_engine, migrate
from campaigns.storage.models import Customer
from channels import ChannelSettings
from compliance import allowances
from compliance.frames import events_frame

ROOT = Path(__file__).resolve().parents[1]


def midday_zone(now: dt.datetime) -> str:
    """An Etc/GMT zone where it is about 13:00 now (the bench must run at any hour)."""
    offset = (13 - now.hour + 12) % 24 - 12
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/UTC"


def start_standin() -> tuple[subprocess.Popen[str], dict[str, str]]:
    port = 18000 + os.getpid() % 1000
    code = (
        "from sandbox.providers import WebhookMix, run_forever; "
        f"run_forever('127.0.0.1', {port}, max_stored=1_000_000, mix=WebhookMix(replied=0.0))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-u", "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    proc.stdout.readline()
    env = dict(proc.stdout.readline().strip().split("=", 1) for _ in range(6))
    return proc, env


def database(args: argparse.Namespace) -> tuple[str, Any]:
    if args.sqlite:
        path = Path(f"/tmp/cadencia-bench-channels-{uuid.uuid4().hex[:8]}.db")
        return f"sqlite:///{path}", lambda: path.unlink(missing_ok=True)
    admin = sa.create_engine(args.postgres, isolation_level="AUTOCOMMIT")
    name = f"cadencia_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return args.postgres.rsplit("/", 1)[0] + f"/{name}", drop


def load_debtors(url: str, customers: int, cache: Path) -> list[str]:
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"portfolio-us-{customers}.csv"
    if not path.exists():
        generate_file(path, customers, 11, countries=("US",))
    portfolio = validate_file(path)
    assert not portfolio.errors, portfolio.errors[:3]
    engine = make_engine(url)
    load_portfolio(engine, portfolio, now=dt.datetime.now(dt.UTC))
    with engine.begin() as conn:
        conn.execute(sa.update(Customer).values(timezones=midday_zone(dt.datetime.now(dt.UTC))))
        ids = [str(r[0]) for r in conn.execute(sa.select(Customer.external_id))]
    engine.dispose()
    return ids


def planned_for(
    url: str, ids: list[str], channel: str, wanted: int, all_debtors: bool
) -> list[str]:
    """The first ``wanted`` debtors a daily run could plan ``channel`` for now (or just the first).

    As the planner decides: a usable contact point on the channel
    (``campaigns.reach``) and the compliance allowances open this hour's slot
    (consent, opt-outs, local hours, caps; the guard still re-checks each).
    """
    if all_debtors:
        return ids[:wanted]
    now = dt.datetime.now(dt.UTC)
    slot = now.replace(minute=0, second=0, microsecond=0)
    engine = make_engine(url)
    with engine.connect() as conn:
        reach = usable_channels(conn, ids, (channel,))
        rows = conn.execute(
            sa.select(
                Customer.external_id, Customer.country, Customer.subdivision, Customer.timezones
            )
        ).all()
        where = {str(r[0]): r for r in rows}
        packs = [",".join(packs_for(where[c].country, where[c].subdivision) or ()) for c in ids]
        events = histories(conn, ids, packs, slot)
    engine.dispose()
    zone = ZoneInfo(where[ids[0]].timezones.split(";")[0])
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "packs": packs,
            "timezones": [where[c].timezones.replace(";", ",") for c in ids],
        }
    )
    frame, debts = events_frame(events)
    allow = allowances(
        customers,
        frame,
        slot.astimezone(zone).date(),
        [slot],
        event_debts=debts,
        channels=(channel,),
    )
    open_now = allow.slot_allowed[:, 0, 0] & (allow.remaining[:, 0] > 0)
    chosen = [c for c, ok in zip(ids, open_now, strict=True) if ok and channel in reach[c]][:wanted]
    if len(chosen) < wanted:
        raise SystemExit(f"only {len(chosen)} of {len(ids)} debtors can be planned {channel} now")
    return chosen


def batches(ids: list[str], channel: str, size: int, tag: str) -> list[MessageBatch]:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    return [
        MessageBatch(
            batch_id=f"{tag}-{channel}-{n}",
            campaign="default",
            channel=channel,  # type: ignore[arg-type]
            slot_start=start,
            slot_end=start + dt.timedelta(hours=2),
            messages=tuple(PlannedMessage(f"{tag}:{c}:{channel}", c) for c in ids[i : i + size]),
        )
        for n, i in enumerate(range(0, len(ids), size))
    ]


def busy_cpu_s() -> float:
    """CPU seconds the whole machine has spent on anything but idling, since boot."""
    t = psutil.cpu_times()
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))


class LedgerAnalyzer:
    """ANALYZE the ledger every ``every_s`` seconds while workers run, as autovacuum would.

    A production PostgreSQL runs autovacuum, which re-analyzes a table as it
    grows (migration 0006 makes it do so every ~0.5% of the ledger's growth).
    This machine's server has autovacuum off, and the bench's ledger grows from
    nothing to 270,000 rows in two minutes: without fresh statistics the
    planner scans the whole ledger for every lookup, a cost no deployment pays.
    The ANALYZE runs in PostgreSQL, so its CPU counts in ``rest``.
    """

    def __init__(self, url: str, every_s: float) -> None:
        self.engine = make_engine(url)
        self.every_s = every_s
        self.runs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            with self.engine.begin() as conn:
                conn.execute(sa.text("ANALYZE contact_events"))
            self.runs += 1

    def __enter__(self) -> LedgerAnalyzer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.engine.dispose()


def autovacuum_off(url: str) -> bool:
    """True when ``url`` is a PostgreSQL server whose autovacuum is disabled."""
    if not url.startswith("postgresql"):
        return False
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(sa.text("SHOW autovacuum")).scalar()) == "off"
    finally:
        engine.dispose()


def run_workers(
    settings: MessagingSettings,
    redis: Redis,
    work: list[MessageBatch],
    workers: int,
    standin: psutil.Process,
    analyze_every_s: float,
) -> dict[str, Any]:
    queue = rq_queue(settings.queue, connection=redis)
    jobs = [enqueue_batch(queue, b, retry=None) for b in work]
    rq = Path(sys.executable).with_name("rq")
    env = {**os.environ, **settings.to_env()}
    procs = [
        subprocess.Popen(
            [
                str(rq),
                "worker",
                "--url",
                settings.redis_url,
                "--burst",
                "-q",
                "--worker-class",
                "rq.worker.SimpleWorker",
                "--serializer",
                "campaigns.queues.SERIALIZER",  # jobs are JSON, as the product queues them
                settings.queue,
            ],
            env=env,
            cwd=ROOT,
        )
        for _ in range(workers)
    ]
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    standin_before, machine_before = sum(standin.cpu_times()[:2]), busy_cpu_s()
    analyzer = (
        LedgerAnalyzer(settings.database_url, analyze_every_s)
        if analyze_every_s > 0
        else contextlib.nullcontext()
    )
    with analyzer:
        for p in procs:
            p.wait()
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    standin_s = sum(standin.cpu_times()[:2]) - standin_before
    machine_s = busy_cpu_s() - machine_before
    totals: dict[str, Any] = {"sent": 0, "failed": 0, "dropped": 0, "refused": 0}
    starts, ends = [], []
    for j in jobs:
        job = fetch_job(j.id, redis)
        if job.get_status() != "finished":
            raise SystemExit(f"job {job.id} {job.get_status()}: {job.exc_info}")
        result = job.return_value() or {}
        for key in totals:
            totals[key] += int(result.get(key, 0))
        assert job.started_at is not None and job.ended_at is not None
        starts.append(job.started_at)
        ends.append(job.ended_at)
    totals["seconds"] = round((max(ends) - min(starts)).total_seconds(), 2)
    # CPU the workers burnt (user + system), per message carried through: unlike
    # messages per second it hardly moves when other work shares the machine.
    cpu_s = sum(getattr(cpu_after, f) - getattr(cpu_before, f) for f in ("ru_utime", "ru_stime"))
    processed = sum(len(b.messages) for b in work)
    totals["worker_cpu_s"] = round(cpu_s, 2)
    totals["worker_cpu_ms_per_message"] = round(cpu_s / max(1, processed) * 1000, 3)
    # Where the machine's CPU went while the workers ran: workers, the provider
    # stand-in (a test double sharing these cores), and the rest, which on a
    # quiet machine is PostgreSQL and Redis.
    totals["cpu_ms_per_message"] = {
        "workers": round(cpu_s / max(1, processed) * 1000, 3),
        "standin": round(standin_s / max(1, processed) * 1000, 3),
        "rest": round((machine_s - cpu_s - standin_s) / max(1, processed) * 1000, 3),
    }
    return totals


def profile(settings: MessagingSettings, ids: list[str], size: int) -> dict[str, Any]:
    rt = build_runtime(settings)
    out: dict[str, Any] = {}
    for channel in ("email", "sms"):
        (batch,) = batches(ids[:size], channel, size, "prof")
        profiler = cProfile.Profile()
        t0 = time.perf_counter()
        profiler.enable()
        process_batch(
            rt, batch, now=dt.datetime.now(dt.UTC), not_sent=set(), last_try=True,
            reschedule=lambda b, at: None,
        )  # fmt: skip
        profiler.disable()
        elapsed = time.perf_counter() - t0
        stats = pstats.Stats(profiler, stream=io.StringIO())
        provider = "sendgrid_transport.py" if channel == "email" else "twilio_transport.py"
        targets = {
            "load 360 context": ("context.py", "load_targets"),
            "render": ("templates.py", "render"),
            "guard (history, evaluate, reserve)": ("guard.py", "guard_and_reserve"),
            "provider HTTP": (provider, "send"),
            "outcome rows": ("batch.py", "record_outcomes"),
        }
        by_area: dict[str, float] = {}
        raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
        for (file, _line, func), (_cc, _nc, _tt, cumulative, _callers) in raw.items():
            for area, wanted in targets.items():
                if (Path(file).name, func) == wanted:
                    by_area[area] = by_area.get(area, 0.0) + cumulative
        out[channel] = {
            "messages": size,
            "seconds": round(elapsed, 3),
            "ms_per_message": {k: round(v / size * 1000, 3) for k, v in by_area.items()},
        }
    rt.engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--email-batch", type=int, default=1000)
    parser.add_argument("--sms-batch", type=int, default=500)
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument(
        "--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/cadencia-bench"))
    parser.add_argument("--profile", type=int, default=0, help="also profile N-message batches")
    parser.add_argument(
        "--analyze-every",
        type=float,
        default=None,
        help="ANALYZE the ledger every S seconds while workers run (default: 5 when the "
        "PostgreSQL server's autovacuum is off, standing in for it; 0: never)",
    )
    parser.add_argument(
        "--all-debtors",
        action="store_true",
        help="plan an email and an SMS for every debtor, reachable or not",
    )
    args = parser.parse_args()
    per_channel = args.messages // 2
    # A third of generated debtors cannot be planned email now (no address,
    # opted out, consent denied), and about as many SMS (no consent for an
    # autodialed text): generate enough that each channel gets its share.
    customers = per_channel if args.all_debtors else per_channel * 2
    url, drop = database(args)
    standin, provider_env = start_standin()
    redis = Redis.from_url(args.redis)
    redis.flushdb()
    try:
        migrate(url)
        analyze_every = args.analyze_every
        if analyze_every is None:
            analyze_every = 5.0 if autovacuum_off(url) else 0.0
        t0 = time.perf_counter()
        ids = load_debtors(url, customers + args.profile, args.cache_dir)
        setup_s = time.perf_counter() - t0
        profiled, ids = ids[: args.profile], ids[args.profile :]
        planned = {
            channel: planned_for(url, ids, channel, per_channel, args.all_debtors)
            for channel in ("email", "sms")
        }
        settings = MessagingSettings(
            database_url=url,
            redis_url=args.redis,
            channels=ChannelSettings.from_mapping(provider_env),
            senders={"default": Senders(email="cobranza@bank.example", sms="+15005550006")},
            opt_out_url="https://bank.example/opt-out/{customer}/{channel}",
            queue="bench-messages",
        )
        standin_proc = psutil.Process(standin.pid)
        email, sms = (
            run_workers(
                settings,
                redis,
                batches(planned[channel], channel, size, "b"),
                args.workers,
                standin_proc,
                analyze_every,
            )
            for channel, size in (("email", args.email_batch), ("sms", args.sms_batch))
        )
        engine = make_engine(url)
        with engine.connect() as conn:
            rows = conn.execute(sa.select(sa.func.count()).select_from(EVENTS)).scalar_one()
            reasons = collections.Counter(
                f"{x.get('status')} {x.get('code')}"
                for (raw,) in conn.execute(
                    sa.select(EVENTS.c.extra).where(EVENTS.c.outcome == "failed")
                )
                for x in [json.loads(raw)]
            )
        engine.dispose()
        result: dict[str, Any] = {
            "database": "sqlite" if args.sqlite else "postgresql",
            "workers": args.workers,
            # Who got messages: debtors a daily run would plan the channel for
            # ("reachable"), or every debtor ("all-debtors").
            "workload": "all-debtors" if args.all_debtors else "reachable",
            "debtors_generated": customers,
            "messages": args.messages,
            "email_per_s": round(email["sent"] / email["seconds"]) if email["seconds"] else 0,
            "sms_per_s": round(sms["sent"] / sms["seconds"]) if sms["seconds"] else 0,
            # Every planned message carried through (sent, refused by the guard,
            # dropped for lack of a usable contact point, failed).
            "email_processed_per_s": round(per_channel / email["seconds"]),
            "sms_processed_per_s": round(per_channel / sms["seconds"]),
            "email": email,
            "sms": sms,
            "ledger_rows": rows,
            "failed_by_status_code": dict(reasons.most_common(5)),
            "setup_s": round(setup_s, 1),
            # The bench's own ANALYZE of the ledger (see LedgerAnalyzer), 0 when
            # autovacuum does it or on SQLite.
            "ledger_analyze_every_s": analyze_every,
            "cpus": os.cpu_count(),
        }
        if args.profile:
            result["profile"] = profile(settings, profiled, args.profile)
        print(json.dumps(result))
    finally:
        redis.flushdb()
        redis.close()
        standin.terminate()
        standin.wait()
        drop()


if __name__ == "__main__":
    main()
