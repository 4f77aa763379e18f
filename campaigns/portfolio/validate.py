"""Portfolio validation: file text in, typed records or a list of located errors out.

Nothing here touches the database, so a rejected file cannot change it. Every
problem is reported as ``file:line: field: message``; validation continues past
an error so one run lists them all.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from campaigns.portfolio.parallel import validate_in_parallel
from campaigns.portfolio.rows import (
    RowError,
    RowValidator,
    ValidatedPortfolio,
    header_ok,
    sniff_delimiter,
    validate_body,
)
from campaigns.texts import msg

# Below this much text, forking workers costs more than it saves.
PARALLEL_MIN_CHARS = 4_000_000


def validate_text(
    text: str, name: str, delimiter: str | None = None, *, workers: int = 1
) -> ValidatedPortfolio:
    """Validate a whole portfolio given as text; ``name`` is used in error locations.

    ``workers`` > 1 validates large files in that many processes (see
    ``campaigns.portfolio.parallel``); the result is the same.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    delimiter = delimiter or sniff_delimiter(text[:65536])
    result = ValidatedPortfolio(file=name, delimiter=delimiter)
    validator = RowValidator(name, result)
    buffer = io.StringIO(text, newline="")
    reader = csv.reader(buffer, delimiter=delimiter, strict=True)
    try:
        first = next(reader, None)
    except csv.Error as exc:
        validator.error(1, "header", msg("malformed CSV: %(problem)s", problem=str(exc)))
        return result
    if first is None:
        validator.error(1, "header", msg("the file is empty"))
        return result
    header = [h.strip().lower() for h in first]
    if not header_ok(validator, header):
        return result
    body_start, body_line = buffer.tell(), reader.line_num + 1
    if workers > 1 and len(text) - body_start > PARALLEL_MIN_CHARS:
        rows = validate_in_parallel(text, body_start, body_line, header, result, workers)
    else:
        rows = validate_body(validator, text[body_start:], header, body_line)
    if rows == 0 and not result.errors:
        validator.error(2, "row", msg("the file has a header but no rows"))
    return result


def validate_file(
    path: Path, delimiter: str | None = None, *, workers: int = 1
) -> ValidatedPortfolio:
    """Read ``path`` as UTF-8 and validate it; undecodable bytes are a located error."""
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        result = ValidatedPortfolio(file=name, delimiter=delimiter or ",")
        result.errors.append(
            RowError(name, 0, "file", msg("cannot read: %(problem)s", problem=exc.strerror))
        )
        return result
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        result = ValidatedPortfolio(file=name, delimiter=delimiter or ",")
        line = raw[: exc.start].count(b"\n") + 1
        result.errors.append(
            RowError(
                name,
                line,
                "encoding",
                msg("byte %(at)s is not UTF-8 (%(reason)s)", at=exc.start, reason=exc.reason),
            )
        )
        return result
    return validate_text(text, name, delimiter, workers=workers)
