"""A portfolio file as a sequence of chunks, each validated on its own.

The file is never read whole: ``read_head`` parses the header from its first
bytes, ``cut_chunks`` walks it in binary and cuts it after a newline that is
outside any quoted field, about every ``CHUNK_BYTES``, and ``validate_chunk``
(run in a worker process, or in-process) reads, decodes and validates one
chunk, returning its rows as plain tuples ready to stage plus what only the
caller can check across chunks (each customer's first row, each account id).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from campaigns.portfolio import spec
from campaigns.portfolio.rows import (
    RowError,
    RowValidator,
    ValidatedPortfolio,
    header_ok,
    sniff_delimiter,
    validate_body,
)
from campaigns.portfolio.search import fold
from campaigns.portfolio.stage import copy_text, sqlite_value
from campaigns.texts import Msg, msg

CHUNK_BYTES = 4 << 20
MALFORMED = "malformed CSV: %(problem)s"  # validate_body's message when csv gives up
HEAD_BYTES = 1 << 20
BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Head:
    """The header and where the body starts (byte offset, line number)."""

    delimiter: str
    header: list[str]
    body_start: int
    body_line: int


@dataclass
class ChunkResult:
    """One chunk's rows (tuples in staging order), errors and cross-chunk keys."""

    # per staging table: tuples, or COPY text (PostgreSQL); empty when the chunk has errors
    staged: dict[str, list[tuple[Any, ...]] | bytes] = field(default_factory=dict)
    counts: tuple[int, int, int] = (0, 0, 0)
    errors: list[RowError] = field(default_factory=list)
    # each customer's first row here: (line, digest of its customer columns)
    customer_first: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    account_first_line: dict[str, int] = field(default_factory=dict)
    rows: int = 0
    encoding_error: RowError | None = None
    # The CSV could not be read past an error here: one pass stops there, so must we.
    stopped: bool = False
    # Per error: 1 if it comes before its row's account checks, else 3 (see stream).
    ranks: list[int] = field(default_factory=list)
    # The errors of each customer's first row here: [start, end) in ``errors``.
    customer_errors: dict[str, tuple[int, int]] = field(default_factory=dict)
    # Rows that disagree with the customer's first row here: (error index, cid, line, digest)
    conflicts: list[tuple[int, str, int, bytes]] = field(default_factory=list)


class ChunkValidator(RowValidator):
    """A ``RowValidator`` that also notes what the caller must revisit once it knows
    whether an earlier chunk had the customer: its first row's errors, its conflicts,
    and where each row's account checks begin (to place errors found across chunks)."""

    def __init__(self, name: str, result: ValidatedPortfolio) -> None:
        super().__init__(name, result)
        self.customer_errors: dict[str, tuple[int, int]] = {}
        self.conflicts: list[tuple[int, str, int, bytes]] = []
        self.account_start: dict[int, int] = {}

    def row(self, line: int, values: dict[str, str]) -> None:
        """As ``RowValidator.row``, noting a conflict with the chunk's first row."""
        cid = values.get("customer_id", "")
        first = self.customer_first.get(cid)
        if first is not None:
            cells = tuple(values.get(c, "") for c in spec.CUSTOMER_COLUMNS)
            if cells != first[1]:
                self.conflicts.append((len(self.result.errors), cid, line, digest(cells)))
        super().row(line, values)

    def customer(self, line: int, cid: str, v: dict[str, str]) -> None:
        """As ``RowValidator.customer``, noting which errors it found."""
        start = len(self.result.errors)
        super().customer(line, cid, v)
        self.customer_errors[cid] = (start, len(self.result.errors))

    def account(self, line: int, cid: str, v: dict[str, str]) -> None:
        """As ``RowValidator.account``, noting where its errors begin."""
        self.account_start[line] = len(self.result.errors)
        super().account(line, cid, v)

    def ranks(self) -> list[int]:
        """1 for an error before its row's account checks, 3 for one among them."""
        ends = self.account_start
        return [
            3 if i >= ends.get(e.line, len(self.result.errors)) else 1
            for i, e in enumerate(self.result.errors)
        ]


def encoding_error(name: str, data: bytes, exc: UnicodeDecodeError, offset: int) -> RowError:
    """The located error of the first undecodable byte; ``data`` starts at file offset 0."""
    at = offset + exc.start
    line = data[: exc.start].count(b"\n") + 1
    return RowError(
        name,
        line,
        "encoding",
        msg("byte %(at)s is not UTF-8 (%(reason)s)", at=at, reason=exc.reason),
    )


def read_head(path: Path, name: str, delimiter: str | None) -> Head | list[RowError]:
    """The file's header, or the errors that stop the whole file (as ``validate_text``)."""
    with path.open("rb") as f:
        data = f.read(HEAD_BYTES)
        whole = len(data) < HEAD_BYTES
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(data, final=whole)
    except UnicodeDecodeError as exc:
        return [encoding_error(name, data, exc, 0)]
    skip = len(BOM) if data.startswith(BOM) else 0
    text = text.removeprefix("\ufeff")
    delimiter = delimiter or sniff_delimiter(text[:65536])
    result = ValidatedPortfolio(file=name, delimiter=delimiter)
    validator = RowValidator(name, result)
    buffer = io.StringIO(text, newline="")
    reader = csv.reader(buffer, delimiter=delimiter, strict=True)
    try:
        first = next(reader, None)
    except csv.Error as exc:
        validator.error(1, "header", msg("malformed CSV: %(problem)s", problem=str(exc)))
        return result.errors
    if first is None:
        validator.error(1, "header", msg("the file is empty"))
        return result.errors
    header = [h.strip().lower() for h in first]
    if not header_ok(validator, header):
        return result.errors
    body_start = skip + len(text[: buffer.tell()].encode("utf-8"))
    return Head(delimiter, header, body_start, reader.line_num + 1)


def cut_chunks(path: Path, head: Head, size: int = CHUNK_BYTES) -> Iterator[tuple[int, int, int]]:
    """``(start, end, first_line)`` byte spans of the body, about ``size`` each, each
    ending after a newline outside quotes (an even number of quote characters since
    the chunk began: the rule ``campaigns.portfolio.parallel`` cuts by)."""
    start, line = head.body_start, head.body_line
    with path.open("rb") as f:
        f.seek(start)
        pending = b""
        while block := f.read(size):
            pending += block
            cut = _last_boundary(pending)
            if cut:
                yield start, start + cut, line
                start += cut
                line += pending.count(b"\n", 0, cut)
                pending = pending[cut:]
        if pending:
            yield start, start + len(pending), line


def _last_boundary(data: bytes) -> int:
    """Just past the last newline of ``data`` outside quotes; 0 when there is none."""
    pos = data.rfind(b"\n")
    while pos != -1 and data.count(b'"', 0, pos) % 2:
        pos = data.rfind(b"\n", 0, pos)
    return pos + 1


def digest(cells: tuple[str, ...]) -> bytes:
    """A short fingerprint of a row's customer columns (kept across chunks instead of them)."""
    return hashlib.blake2b("\x1f".join(cells).encode(), digest_size=12).digest()


def validate_chunk(task: tuple[str, int, int, int, str, str, list[str], bool]) -> ChunkResult:
    """Read, decode and validate one chunk (a worker's job; also run in-process).

    With ``as_copy`` the rows come back as ``COPY`` text, which costs the parent
    nothing to stage and far less than tuples of Decimals and dates to pickle.
    """
    path, start, end, first_line, name, delimiter, header, as_copy = task
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read(end - start)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return ChunkResult(encoding_error=_located(name, start, first_line, data, exc))
    result = ValidatedPortfolio(file=name, delimiter=delimiter)
    validator = ChunkValidator(name, result)
    rows = validate_body(validator, text, header, first_line)
    firsts = validator.customer_first
    staged: dict[str, list[tuple[Any, ...]] | bytes] = {}
    if not result.errors:
        tables: dict[str, list[tuple[Any, ...]]] = {
            "stage_customers": [
                (*c, fold(c.name)[:200], firsts[c.external_id][0]) for c in result.customers
            ],
            "stage_accounts": [tuple(a) for a in result.accounts],
            "stage_points": [
                (*p, firsts[p.customer_external_id][0]) for p in result.contact_points
            ],
        }
        if as_copy:
            staged = {t: copy_text(r) for t, r in tables.items()}
        else:  # SQLite's own values: plain str, int and bool pickle far faster
            staged = {t: [tuple(map(sqlite_value, row)) for row in r] for t, r in tables.items()}
    return ChunkResult(
        staged=staged,
        counts=(len(result.customers), len(result.accounts), len(result.contact_points)),
        ranks=validator.ranks(),
        customer_errors=validator.customer_errors,
        conflicts=validator.conflicts,
        errors=result.errors,
        customer_first={cid: (line, digest(cells)) for cid, (line, cells) in firsts.items()},
        account_first_line=validator.account_first_line,
        rows=rows,
        stopped=any(
            isinstance(e.message, Msg) and e.message.text == MALFORMED for e in result.errors[-1:]
        ),
    )


def _located(
    name: str, start: int, first_line: int, data: bytes, exc: UnicodeDecodeError
) -> RowError:
    """The encoding error located in the whole file (the chunk starts at ``first_line``)."""
    line = first_line + data[: exc.start].count(b"\n")
    reason = exc.reason
    return RowError(
        name,
        line,
        "encoding",
        msg("byte %(at)s is not UTF-8 (%(reason)s)", at=start + exc.start, reason=reason),
    )


def cells_at(path: Path, head: Head, lines: set[int]) -> dict[int, tuple[str, ...]]:
    """The customer columns of the records starting at ``lines`` (for conflict messages:
    only the first row's line is kept across chunks, not its cells)."""
    found: dict[int, tuple[str, ...]] = {}
    with path.open("rb") as f:
        f.seek(head.body_start)
        text = io.TextIOWrapper(f, encoding="utf-8", newline="")
        reader = csv.reader(text, delimiter=head.delimiter, strict=True)
        line = head.body_line
        for fields in reader:
            if line in lines and len(fields) == len(head.header):
                values = dict(zip(head.header, fields, strict=True))
                found[line] = tuple(values.get(c, "") for c in spec.CUSTOMER_COLUMNS)
                if len(found) == len(lines):
                    break
            line = head.body_line + reader.line_num
    return found
