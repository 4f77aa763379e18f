"""The payments file: text in, validated payments or every located error out.

``account_id,amount,currency,paid_at,reference`` and optionally ``channel``
and ``method`` (docs/payments-format.md). Like the portfolio, a machine
export: amounts are decimals with ``.`` and no thousands separators, so
``150000,50`` is an error naming the line and field instead of a rescaled
amount. Checking the rows against the accounts they name is the importer's
(``campaigns.payments.record``); nothing here touches the database.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from campaigns.texts import Msg, msg

REQUIRED = ("account_id", "amount", "currency", "paid_at", "reference")
OPTIONAL = ("channel", "method")
AMOUNT_RE = re.compile(r"^\d+(\.\d{1,2})?$")
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
MAX_AMOUNT = Decimal("999999999999.99")


@dataclass(frozen=True)
class PaymentRecord:
    """One payment as the file (or the API) states it.

    ``paid_at`` is an instant when the file gave one with an offset; a bare
    date is kept as ``paid_on`` and read in the account holder's time zone by
    the importer (the file cannot know it).
    """

    line: int
    account_id: str
    amount: Decimal
    currency: str
    reference: str
    paid_at: dt.datetime | None = None
    paid_on: dt.date | None = None
    channel: str | None = None
    method: str | None = None


@dataclass
class PaymentsFile:
    """A parsed file: its payments, or the errors (``file:line: field: message``).

    ``located`` holds the same errors as (line, field, message) with the
    message translatable, for a reader in another language (the console).
    """

    name: str
    payments: list[PaymentRecord] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    located: list[tuple[int, str, str | Msg]] = field(default_factory=list)

    def error(self, line: int, column: str, message: str | Msg) -> None:
        """Record a located error."""
        self.errors.append(f"{self.name}:{line}: {column}: {message}")
        self.located.append((line, column, message))


def parse_amount(raw: str) -> Decimal | Msg:
    """A positive amount with at most two decimals written with ``.``, or what is wrong."""
    if not AMOUNT_RE.match(raw):
        return msg(
            "%(raw)s is not an amount: write digits with '.' for the decimals and no "
            "thousands separators (150000.50)",
            raw=repr(raw),
        )
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return msg("%(raw)s is not a number", raw=repr(raw))
    if value <= 0:
        return msg("%(raw)s must be more than zero", raw=raw)
    if value > MAX_AMOUNT:
        return msg("%(raw)s is larger than %(most)s", raw=raw, most=str(MAX_AMOUNT))
    return value


def parse_paid_at(raw: str) -> dt.datetime | dt.date | Msg:
    """An aware instant, or a date, or what is wrong."""
    try:
        if len(raw) == 10:
            return dt.date.fromisoformat(raw)
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        return msg("%(raw)s is not a date (YYYY-MM-DD) or date-time with an offset", raw=repr(raw))
    if value.tzinfo is None:
        return msg("%(raw)s has no UTC offset (write 2026-12-01T10:30:00-05:00)", raw=repr(raw))
    return value


def read_payment(
    result: PaymentsFile, line: int, row: Mapping[str, str], seen: dict[str, int]
) -> None:
    """Validate one payment's fields (a file's row, an API item); add it or its errors."""
    before = len(result.errors)
    account = row.get("account_id", "").strip()
    if not account:
        result.error(line, "account_id", msg("required"))
    amount = parse_amount(row.get("amount", "").strip())
    if isinstance(amount, Msg):
        result.error(line, "amount", amount)
    currency = row.get("currency", "").strip()
    if not CURRENCY_RE.match(currency):
        result.error(
            line,
            "currency",
            msg("%(code)s is not an ISO 4217 code (COP, USD…)", code=repr(currency)),
        )
    paid = parse_paid_at(row.get("paid_at", "").strip())
    if isinstance(paid, Msg):
        result.error(line, "paid_at", paid)
    reference = row.get("reference", "").strip()
    if not reference or len(reference) > 100:
        result.error(line, "reference", msg("required, at most 100 characters"))
    elif reference in seen:
        result.error(
            line,
            "reference",
            msg("%(reference)s already on line %(line)s", reference=repr(reference),
                line=seen[reference]),
        )  # fmt: skip
    else:
        seen[reference] = line
    if len(result.errors) > before:
        return
    assert isinstance(amount, Decimal) and not isinstance(paid, Msg)
    result.payments.append(
        PaymentRecord(
            line=line,
            account_id=account,
            amount=amount,
            currency=currency,
            reference=reference,
            paid_at=paid if isinstance(paid, dt.datetime) else None,
            paid_on=None if isinstance(paid, dt.datetime) else paid,
            channel=(row.get("channel") or "").strip()[:20] or None,
            method=(row.get("method") or "").strip()[:40] or None,
        )
    )


def parse_payments_text(text: str, name: str) -> PaymentsFile:
    """Validate a whole payments file given as text; every problem is reported."""
    result = PaymentsFile(name)
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), strict=True)
    try:
        header = [h.strip().lower() for h in next(reader, [])]
        if not header:
            result.error(1, "header", msg("the file is empty"))
            return result
        missing = [c for c in REQUIRED if c not in header]
        unknown = [h for h in header if h not in REQUIRED + OPTIONAL and not h.startswith("x_")]
        if missing or unknown:
            if missing:
                result.error(
                    1, "header", msg("missing columns: %(columns)s", columns=", ".join(missing))
                )
            if unknown:
                result.error(
                    1,
                    "header",
                    msg("unknown columns %(columns)s (prefix extras with 'x_')", columns=unknown),
                )
            return result
        seen: dict[str, int] = {}
        for fields in reader:
            line = reader.line_num
            if len(fields) == 1 and not fields[0].strip():
                continue
            if len(fields) != len(header):
                result.error(
                    line,
                    "row",
                    msg(
                        "has %(n)s fields, the header %(header)s", n=len(fields), header=len(header)
                    ),
                )
                continue
            read_payment(result, line, dict(zip(header, fields, strict=True)), seen)
    except csv.Error as exc:
        result.error(reader.line_num, "row", msg("malformed CSV: %(problem)s", problem=str(exc)))
    if not result.payments and not result.errors:
        result.error(2, "row", msg("the file has a header but no payments"))
    return result


def parse_payments_file(path: Path) -> PaymentsFile:
    """Read ``path`` as UTF-8 and validate it."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        result = PaymentsFile(str(path))
        result.error(0, "file", msg("cannot read: %(problem)s", problem=exc.strerror))
        return result
    except UnicodeDecodeError as exc:
        result = PaymentsFile(str(path))
        result.error(
            0,
            "encoding",
            msg("byte %(at)s is not UTF-8 (%(reason)s)", at=exc.start, reason=exc.reason),
        )
        return result
    return parse_payments_text(text, str(path))
