"""The streaming import: a file validated chunk by chunk straight into staging, then merged.

Memory stays bounded by a few chunks whatever the file's size: workers
validate chunks (``campaigns.portfolio.chunks``) at most ``2 × workers`` ahead
of the parent, which stages each chunk's rows (``COPY``) as it arrives, in file
order, inside the import's one transaction. The parent keeps only what checks
need across chunks: each customer's first line and a digest of its customer
columns, and each account id's first line. Any error anywhere and the
transaction rolls back: nothing is loaded, and the errors (every one, in line
order, as ``validate_text`` lists them) are returned. Results do not depend on
the number of workers: the chunks are the same, only who validates them differs.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import multiprocessing.pool
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Connection, Engine

from campaigns.portfolio.chunks import (
    CHUNK_BYTES,
    ChunkResult,
    Head,
    cells_at,
    cut_chunks,
    read_head,
    validate_chunk,
)
from campaigns.portfolio.load import ImportSummary, finish_import, summarize
from campaigns.portfolio.rows import RowError, conflict
from campaigns.portfolio.stage import create_stages, drop_repeats, fill_stage
from campaigns.texts import msg


class _Rejected(Exception):
    """Raised inside the transaction so it rolls back; carries the file's errors."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"{len(errors)} errors")
        self.errors = errors


@dataclass(frozen=True)
class ImportOutcome:
    """An import's summary, or (nothing loaded) the file's errors in line order."""

    summary: ImportSummary | None
    errors: list[RowError]
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class _Tally:
    """The parent's state across chunks."""

    name: str
    customers: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    accounts: dict[str, int] = field(default_factory=dict)
    # (line, rank, sequence, error), sorted so that each row's errors come in the
    # order one pass over the whole text gives: a conflict with the customer's first
    # row (rank 0), the customer's own checks (1), an account id used in an earlier
    # chunk (2), the account's other checks (3).
    errors: list[tuple[int, int, int, RowError]] = field(default_factory=list)
    # (customer id, line of its first row, line of the row that disagrees)
    conflicts: list[tuple[str, int, int]] = field(default_factory=list)
    # staged rows of customers an earlier chunk had: (customer id, line), unstaged at the end
    repeats: list[tuple[str, int]] = field(default_factory=list)
    rows: int = 0
    staged: list[int] = field(default_factory=lambda: [0, 0, 0])

    @property
    def failed(self) -> bool:
        return bool(self.errors or self.conflicts)

    def add(self, error: RowError, rank: int) -> None:
        self.errors.append((error.line, rank, len(self.errors), error))


def import_file(
    engine: Engine,
    path: Path,
    *,
    now: dt.datetime,
    full_refresh: bool = False,
    delimiter: str | None = None,
    workers: int = 1,
    chunk_bytes: int = CHUNK_BYTES,
    clock: Callable[[], float] | None = None,
) -> ImportOutcome:
    """Validate ``path`` and merge it into the database: all rows or none.

    ``workers`` > 1 validates chunks in that many forked processes; the
    database ends up the same. ``full_refresh`` as in ``load_portfolio``.
    ``clock`` (e.g. ``time.perf_counter``) adds per-phase seconds to the outcome.
    """
    name = str(path)
    try:
        head = read_head(path, name, delimiter)
    except OSError as exc:
        problem = msg("cannot read: %(problem)s", problem=exc.strerror)
        return ImportOutcome(None, [RowError(name, 0, "file", problem)])
    if isinstance(head, list):
        return ImportOutcome(None, head)
    tally = _Tally(name)
    timings: dict[str, float] = {}
    tick = clock or (lambda: 0.0)
    started = tick()
    as_copy = engine.dialect.name == "postgresql"
    if path.stat().st_size < 2 * chunk_bytes:
        workers = 1  # one or two chunks: forking costs more than it saves
    with _results(path, head, (name, workers, chunk_bytes, as_copy)) as results:
        try:
            with engine.begin() as conn:
                create_stages(conn)
                _stage_all(conn, results, tally)
                timings["seconds_validate_stage"] = tick() - started
                errors = _errors(path, head, tally)
                if errors:
                    raise _Rejected(errors)
                customers, points = drop_repeats(conn, tally.repeats)
                tally.staged[0] -= customers
                tally.staged[2] -= points
                merged = finish_import(conn, now, full_refresh, file=name)
        except _Rejected as rejected:
            return ImportOutcome(None, rejected.errors, timings)
    timings["seconds_merge"] = tick() - started - timings["seconds_validate_stage"]
    customers, accounts, points = tally.staged
    return ImportOutcome(summarize(customers, accounts, points, merged), [], timings)


@contextmanager
def _results(
    path: Path, head: Head, how: tuple[str, int, int, bool]
) -> Iterator[Iterator[ChunkResult]]:
    """The chunks' results in file order, from a pool of ``workers`` (forked before the
    database connection is opened, so no child inherits it) or in-process.

    ``how`` is (file name for errors, workers, chunk bytes, rows as COPY text).
    """
    name, workers, chunk_bytes, as_copy = how
    tasks = (
        (str(path), start, end, line, name, head.delimiter, head.header, as_copy)
        for start, end, line in cut_chunks(path, head, chunk_bytes)
    )
    if workers <= 1:
        yield (validate_chunk(task) for task in tasks)
        return
    with multiprocessing.get_context("fork").Pool(workers) as pool:

        def ordered() -> Iterator[ChunkResult]:
            # At most 2 × workers chunks in flight: the parent's memory stays bounded
            # even when validating outruns staging.
            pending: deque[multiprocessing.pool.AsyncResult[ChunkResult]] = deque()
            for task in tasks:
                pending.append(pool.apply_async(validate_chunk, (task,)))
                if len(pending) >= 2 * workers:
                    yield pending.popleft().get()
            while pending:
                yield pending.popleft().get()
            pool.close()  # every chunk is in: let the workers go before the merge
            pool.join()

        yield ordered()


def _stage_all(conn: Connection, results: Iterator[ChunkResult], tally: _Tally) -> None:
    """Check each chunk against the ones before it and stage its rows, in file order."""
    for chunk in results:
        if chunk.encoding_error is not None:
            # As when the whole file is decoded first: that error alone.
            raise _Rejected([chunk.encoding_error])
        tally.rows += chunk.rows
        repeated = _cross_check(chunk, tally)
        if chunk.stopped:
            return  # as one pass: nothing after a record the CSV reader cannot read
        if tally.failed:
            continue  # nothing will load: validate on for the errors, stage nothing
        for table, rows in chunk.staged.items():
            fill_stage(conn, table, rows)
        tally.staged = [a + b for a, b in zip(tally.staged, chunk.counts, strict=True)]
        tally.repeats.extend((cid, chunk.customer_first[cid][0]) for cid in repeated)


def _cross_check(chunk: ChunkResult, tally: _Tally) -> set[str]:
    """Record this chunk's errors, customers and accounts; returns the customers an
    earlier chunk already had (their rows here are dropped, as one pass keeps the first).

    For such a customer the chunk judged its rows against its own first one: those
    judgements (the customer's checks, the conflicts) are redone against the file's.
    """
    repeated: set[str] = set()
    dropped: set[int] = set()
    for cid, (line, digest) in chunk.customer_first.items():
        first = tally.customers.setdefault(cid, (line, digest))
        if first[0] == line:
            continue
        repeated.add(cid)
        start, end = chunk.customer_errors.get(cid, (0, 0))
        dropped.update(range(start, end))
        if first[1] != digest:
            tally.conflicts.append((cid, first[0], line))
    for index, cid, line, digest in chunk.conflicts:
        if cid in repeated:
            dropped.add(index)
            first = tally.customers[cid]
            if digest != first[1]:
                tally.conflicts.append((cid, first[0], line))
    for index, error in enumerate(chunk.errors):
        if index not in dropped:
            tally.add(error, chunk.ranks[index])
    for aid, line in chunk.account_first_line.items():
        first_line = tally.accounts.setdefault(aid, line)
        if first_line != line:
            message = msg("%(aid)s already on line %(value)s", aid=aid, value=first_line)
            tally.add(RowError(tally.name, line, "account_id", message), 2)
    return repeated


def _errors(path: Path, head: Head, tally: _Tally) -> list[RowError]:
    """Every error, in line order and within a line in the order of one pass."""
    if tally.conflicts:
        wanted = {first for _, first, _ in tally.conflicts} | {n for *_, n in tally.conflicts}
        cells = cells_at(path, head, wanted)
        for cid, first, line in tally.conflicts:
            column, message = conflict(cid, first, cells[first], cells[line])
            tally.add(RowError(tally.name, line, column, message), 0)
    errors = [error for *_, error in sorted(tally.errors, key=lambda e: e[:3])]
    if not errors and tally.rows == 0:
        errors.append(RowError(tally.name, 2, "row", msg("the file has a header but no rows")))
    return errors
