"""Validating a large portfolio in several processes, with the same result as one.

libphonenumber dominates validation, so a million-row file is CPU-bound. The
body is cut into chunks at record boundaries (never inside a quoted field),
forked workers validate one chunk each (they read the text copy-on-write, so
it is not pickled), and the parent merges what only it can see: a customer
whose rows straddle chunks and disagree, and an account id used twice.
"""

from __future__ import annotations

import itertools
import multiprocessing
from dataclasses import dataclass, field

from campaigns.portfolio.rows import (
    AccountRecord,
    ContactPointRecord,
    CustomerRecord,
    RowError,
    RowValidator,
    ValidatedPortfolio,
    conflict,
    validate_body,
)
from campaigns.texts import msg

# Set in the parent just before forking; each child reads its own slice of it.
_TEXT = ""


@dataclass
class _ChunkResult:
    customers: list[CustomerRecord] = field(default_factory=list)
    accounts: list[AccountRecord] = field(default_factory=list)
    points: list[ContactPointRecord] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    customer_first: dict[str, tuple[int, tuple[str, ...]]] = field(default_factory=dict)
    account_first_line: dict[str, int] = field(default_factory=dict)
    rows: int = 0


def chunk_bounds(text: str, start: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` spans of ``text[start:]`` that end after a newline outside quotes."""
    cuts = [start]
    step = (len(text) - start) // parts
    for k in range(1, parts):
        pos = text.find("\n", max(cuts[-1], start + k * step))
        # An odd number of quote characters before the newline means it sits
        # inside a quoted field: move on to the next newline.
        while pos != -1 and text.count('"', cuts[-1], pos) % 2:
            pos = text.find("\n", pos + 1)
        if pos == -1:
            break
        cuts.append(pos + 1)
    cuts.append(len(text))
    return [(a, b) for a, b in itertools.pairwise(cuts) if b > a]


def _validate_chunk(task: tuple[int, int, int, str, str, list[str]]) -> _ChunkResult:
    start, end, first_line, name, delimiter, header = task
    result = ValidatedPortfolio(file=name, delimiter=delimiter)
    validator = RowValidator(name, result)
    rows = validate_body(validator, _TEXT[start:end], header, first_line)
    return _ChunkResult(
        result.customers,
        result.accounts,
        result.contact_points,
        result.errors,
        validator.customer_first,
        validator.account_first_line,
        rows,
    )


def validate_in_parallel(
    text: str,
    body_start: int,
    body_line: int,
    header: list[str],
    result: ValidatedPortfolio,
    workers: int,
) -> int:
    """Validate the body of ``text`` in ``workers`` processes into ``result``; returns rows."""
    global _TEXT
    bounds = chunk_bounds(text, body_start, workers)
    tasks = []
    line = body_line
    for start, end in bounds:
        tasks.append((start, end, line, result.file, result.delimiter, header))
        line += text.count("\n", start, end)
    _TEXT = text
    try:
        with multiprocessing.get_context("fork").Pool(len(tasks)) as pool:
            chunks = pool.map(_validate_chunk, tasks)
    finally:
        _TEXT = ""
    seen_customers: dict[str, tuple[int, tuple[str, ...]]] = {}
    seen_accounts: dict[str, int] = {}
    errors: list[RowError] = []
    for chunk in chunks:
        errors.extend(chunk.errors)
        repeated: set[str] = set()
        for cid, (line, cells) in chunk.customer_first.items():
            if cid not in seen_customers:
                seen_customers[cid] = (line, cells)
                continue
            repeated.add(cid)
            first_line, first_cells = seen_customers[cid]
            if cells != first_cells:
                column, message = conflict(cid, first_line, first_cells, cells)
                errors.append(RowError(result.file, line, column, message))
        duplicates: set[str] = set()
        for aid, line in chunk.account_first_line.items():
            if aid in seen_accounts:
                duplicates.add(aid)
                errors.append(
                    RowError(
                        result.file,
                        line,
                        "account_id",
                        msg("%(aid)s already on line %(value)s", aid=aid, value=seen_accounts[aid]),
                    )
                )
            else:
                seen_accounts[aid] = line
        result.customers.extend(c for c in chunk.customers if c.external_id not in repeated)
        result.contact_points.extend(
            p for p in chunk.points if p.customer_external_id not in repeated
        )
        result.accounts.extend(a for a in chunk.accounts if a.external_id not in duplicates)
    result.errors.extend(sorted(errors, key=lambda e: e.line))
    return sum(chunk.rows for chunk in chunks)
