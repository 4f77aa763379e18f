"""Benchmark: a signed ledger checkpoint's size and time per million rows; prints one JSON object.

    .venv/bin/python -m bench.ledger_checkpoint --rows 1000000

Appends ``--rows`` ledger rows (untimed) to a fresh database (an SQLite file
under --cache-dir, or a throwaway PostgreSQL database next to --postgres),
then times ``cadencia ledger checkpoint``'s work (read, re-link, sign, store)
and ``cadencia audit verify --checkpoint``'s, and reports the checkpoint
file's size, also scaled to a million rows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from campaigns.ledger.attest import checkpoint_names, make_checkpoint, verify_with_checkpoints
from campaigns.ledger.chain import LedgerEntry, append_now
from campaigns.ledger.checkpoint_store import DirectoryStore
from campaigns.ledger.signing import generate
from campaigns.storage.db import make_engine, migrate

START = dt.datetime(2026, 12, 1, 14, 0, tzinfo=dt.UTC)


def entries(first: int, count: int) -> list[LedgerEntry]:
    """``count`` SMS attempts shaped like the product's (provider id, campaign, key)."""
    return [
        LedgerEntry(
            at=START + dt.timedelta(seconds=i),
            customer_id=f"C{i % 250_000:08d}",
            debt_ids=(f"A{i % 400_000:08d}",),
            channel="sms",
            direction="outbound",
            kind="attempt",
            outcome="sent",
            contact_point="+15005550006",
            campaign="bench",
            extra={"provider_id": f"SM{i:032x}"},
            idempotency_key=f"bench-{i}",
        )
        for i in range(first, first + count)
    ]


@contextmanager
def database(postgres: str, folder: Path) -> Iterator[str]:
    """A fresh migrated database: PostgreSQL next to ``postgres`` if given, else SQLite."""
    if not postgres:
        url = f"sqlite:///{folder}/ledger.db"
        migrate(url)
        yield url
        return
    admin = sa.create_engine(postgres, isolation_level="AUTOCOMMIT")
    name = f"cadencia_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        url = postgres.rsplit("/", 1)[0] + f"/{name}"
        migrate(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/cadencia-bench"))
    parser.add_argument("--postgres", default="", help="admin URL; '' (default) uses SQLite")
    args = parser.parse_args()
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.cache_dir) as tmp:
        folder = Path(tmp)
        with database(args.postgres, folder) as url:
            print(json.dumps(measure(url, folder, args.rows, args.batch)))


def measure(url: str, folder: Path, rows: int, batch: int) -> dict[str, object]:
    """Fill the ledger, then time one checkpoint and one verification against it."""
    engine = make_engine(url)
    for first in range(0, rows, batch):
        append_now(engine, entries(first, min(batch, rows - first)), now=START)
    signer, _ = generate(folder / "key.pem")
    store = DirectoryStore(folder / "checkpoints")
    started = time.perf_counter()
    made = make_checkpoint(engine, store, signer, now=dt.datetime.now(dt.UTC))
    signed_s = time.perf_counter() - started
    size = (folder / "checkpoints" / checkpoint_names(store)[-1]).stat().st_size
    started = time.perf_counter()
    report = verify_with_checkpoints(
        engine, store, checkpoint_names(store), {signer.key_id: signer.public}
    )
    verified_s = time.perf_counter() - started
    engine.dispose()
    return {
        "database": url.split(":", 1)[0],
        "rows": made.rows,
        "checkpoint_bytes": size,
        "bytes_per_million_rows": round(size * 1_000_000 / max(rows, 1)),
        "checkpoint_s": round(signed_s, 2),
        "verify_with_checkpoint_s": round(verified_s, 2),
        "verified": report.ok,
    }


if __name__ == "__main__":
    main()
