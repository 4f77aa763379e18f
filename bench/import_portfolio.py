"""Benchmark: import a generated portfolio into SQLite and PostgreSQL; prints one JSON object.

    .venv/bin/python -m bench.import_portfolio --customers 1000000

The generated file is cached under --cache-dir (generation is not timed).
Validation (CSV parsing, phone normalisation…) and loading (staging + upserts)
are timed separately; ``accounts_per_s`` is end to end (validate + load).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from campaigns.portfolio.generate import generate_file
from campaigns.portfolio.load import load_portfolio
from campaigns.portfolio.validate import validate_file
from campaigns.storage.db import make_engine, migrate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/cadencia-bench"))
    parser.add_argument(
        "--postgres",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
        help="admin URL; a throwaway database is created next to it ('' to skip)",
    )
    args = parser.parse_args()
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    path = args.cache_dir / f"portfolio-{args.customers}-seed{args.seed}.csv"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        generate_file(tmp, args.customers, args.seed)
        tmp.rename(path)

    started = time.perf_counter()
    portfolio = validate_file(path, workers=args.workers)
    validate_s = time.perf_counter() - started
    if portfolio.errors:
        raise SystemExit(f"generated file has errors: {portfolio.errors[:3]}")
    accounts = len(portfolio.accounts)
    result: dict[str, object] = {
        "customers": len(portfolio.customers),
        "accounts": accounts,
        "contact_points": len(portfolio.contact_points),
        "file_mb": round(path.stat().st_size / 1e6, 1),
        "validate_workers": args.workers,
        "validate_seconds": round(validate_s, 2),
        "validate_accounts_per_s": round(accounts / validate_s),
    }
    now = dt.datetime.now(dt.UTC)
    targets = [("sqlite", f"sqlite:///{args.cache_dir}/bench-{uuid.uuid4().hex[:8]}.db")]
    admin = None
    if args.postgres:
        admin = sa.create_engine(args.postgres, isolation_level="AUTOCOMMIT")
        name = f"cadencia_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        targets.append(("postgresql", args.postgres.rsplit("/", 1)[0] + f"/{name}"))
    try:
        for label, url in targets:
            migrate(url)
            engine = make_engine(url)
            t0 = time.perf_counter()
            load_portfolio(engine, portfolio, now=now)
            load_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            load_portfolio(engine, portfolio, now=now)  # the next morning: every row an update
            reload_s = time.perf_counter() - t0
            engine.dispose()
            result[label] = {
                "load_seconds": round(load_s, 2),
                "load_accounts_per_s": round(accounts / load_s),
                "reimport_load_seconds": round(reload_s, 2),
                "end_to_end_accounts_per_s": round(accounts / (validate_s + load_s)),
            }
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
        Path(targets[0][1].removeprefix("sqlite:///")).unlink(missing_ok=True)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
