"""Benchmark: the streaming portfolio import into SQLite and PostgreSQL; prints one JSON object.

    .venv/bin/python -m bench.import_portfolio --customers 1000000 [--engines postgresql]

The generated file is cached under --cache-dir (generation is not timed). Each
engine gets a fresh database and two imports of the same file, exactly as
``cadencia portfolio import`` runs them (``campaigns.portfolio.stream``): the
first load (every row new) and the next morning's re-import (every row exists,
the merge path). ``accounts_per_s`` is end to end: validation, staging and the
merge. ``peak_rss_mb`` is the peak of the summed RSS of this process and all its
children (the validation workers), sampled every 50 ms; the database server's
memory is not included. ``loadavg`` (1-minute, before and after each import)
says how contended the machine was.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from campaigns.portfolio.generate import generate_file
from campaigns.portfolio.stream import import_file
from campaigns.storage.db import make_engine, migrate


class TreeRss:
    """The peak summed RSS of a process and its descendants, sampled in a thread."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def reset(self) -> int:
        """The peak since the last reset (then starts over)."""
        peak, self.peak = self.peak, 0
        return peak

    def _run(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        while not self._stop.wait(self.interval):
            total = 0
            for pid in _tree(os.getpid()):
                try:
                    with open(f"/proc/{pid}/statm") as f:
                        total += int(f.read().split()[1]) * page
                except OSError:
                    pass  # the process ended meanwhile
            self.peak = max(self.peak, total)


def _tree(root: int) -> list[int]:
    """``root`` and every process descended from it."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _one_import(
    url: str, path: Path, now: dt.datetime, workers: int, rss: TreeRss
) -> dict[str, Any]:
    """One timed import; its figures."""
    engine = make_engine(url)
    load_before = os.getloadavg()[0]
    rss.reset()
    started = time.perf_counter()
    outcome = import_file(engine, path, now=now, workers=workers, clock=time.perf_counter)
    seconds = time.perf_counter() - started
    engine.dispose()
    if outcome.summary is None:
        raise SystemExit(f"generated file has errors: {outcome.errors[:3]}")
    accounts = outcome.summary.accounts
    return {
        "seconds": round(seconds, 2),
        "accounts_per_s": round(accounts / seconds),
        **{k: round(v, 2) for k, v in outcome.timings.items()},
        "peak_rss_mb": round(rss.reset() / 2**20),
        "loadavg": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "summary": outcome.summary.as_dict(),
    }


def main() -> None:
    """Generate (cached), then import twice per engine; print the JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/cadencia-bench"))
    parser.add_argument("--engines", default="sqlite,postgresql")
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
    engines = {e.strip() for e in args.engines.split(",")}
    result: dict[str, Any] = {
        "customers": args.customers,
        "file_mb": round(path.stat().st_size / 1e6, 1),
        "workers": args.workers,
        "cpus": os.cpu_count(),
    }
    now = dt.datetime.now(dt.UTC)
    sqlite_file = args.cache_dir / f"bench-{uuid.uuid4().hex[:8]}.db"
    targets = [("sqlite", f"sqlite:///{sqlite_file}")] if "sqlite" in engines else []
    admin, name = None, f"cadencia_bench_{uuid.uuid4().hex[:8]}"
    if args.postgres and "postgresql" in engines:
        admin = sa.create_engine(args.postgres, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        targets.append(("postgresql", args.postgres.rsplit("/", 1)[0] + f"/{name}"))
    try:
        with TreeRss() as rss:
            for label, url in targets:
                migrate(url)
                first = _one_import(url, path, now, args.workers, rss)
                # the next morning: the same file again, every row an update
                again = _one_import(url, path, now + dt.timedelta(days=1), args.workers, rss)
                result["accounts"] = first["summary"]["accounts"]
                result["contact_points"] = first["summary"]["contact_points"]
                result[label] = {"first_load": first, "reimport": again}
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{sqlite_file}{suffix}").unlink(missing_ok=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
