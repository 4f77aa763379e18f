"""One portfolio row at a time: parsing cells and checking them, with located errors.

``RowValidator`` turns records into customer, account and contact-point
records or ``RowError``s naming file, line and field; ``validate_body`` runs
it over a block of records. ``campaigns.portfolio.validate`` reads a whole
file (in several processes when large) with these.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import PhoneNumberType

from campaigns.portfolio import spec
from campaigns.portfolio.timezones import derive_zones
from campaigns.texts import Msg, msg

NUMBER_RE = re.compile(r"^-?\d+(\.\d+)?$")
INTEGER_RE = re.compile(r"^-?\d+$")
# Deliberately simple: one @, a dot in the domain, no spaces. Deliverability is
# the provider's job (a bounce comes back through the webhook).
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z0-9-]{2,}$")
MAX_MONEY = Decimal("999999999999.99")
LINE_TYPES = {
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE: "landline",
}


@dataclass(frozen=True)
class RowError:
    """One problem in the file, located by line and field."""

    file: str
    line: int
    field: str
    message: str | Msg  # English in str(); translated where a person reads it

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


class CustomerRecord(NamedTuple):
    """A validated customer, as the file describes them."""

    external_id: str
    name: str
    country: str
    subdivision: str | None
    timezones: str
    language: str
    behavior_score: int | None
    segment: str | None


class AccountRecord(NamedTuple):
    """A validated account (debt)."""

    external_id: str
    customer_external_id: str
    product: str
    balance: Decimal
    currency: str
    days_past_due: int
    minimum_due: Decimal
    status: str
    opened_on: dt.date | None


class ContactPointRecord(NamedTuple):
    """A validated phone (E.164) or email with its consent state."""

    customer_external_id: str
    kind: str
    value: str
    line_type: str | None
    position: int
    consent: str
    consent_at: dt.datetime | None
    consent_source: str | None
    opted_out: bool


@dataclass
class ValidatedPortfolio:
    """What a file contained, or why it cannot be imported (``errors`` non-empty)."""

    file: str
    delimiter: str
    customers: list[CustomerRecord] = field(default_factory=list)
    accounts: list[AccountRecord] = field(default_factory=list)
    contact_points: list[ContactPointRecord] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the file can be imported."""
        return not self.errors


@lru_cache(maxsize=1024)
def _zone_exists(name: str) -> bool:
    try:
        ZoneInfo(name)
    # OSError: ZoneInfo opens a file named after the key, so an over-long or
    # odd name fails in the filesystem, not as "not found" (found by fuzzing).
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _parse_money(raw: str) -> Decimal | Msg:
    """The amount, or an error message."""
    if not NUMBER_RE.match(raw):
        return msg(
            "%(raw)s is not a number (use '.' for decimals, no thousands separators)", raw=repr(raw)
        )
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return msg("%(raw)s is not a number", raw=repr(raw))
    if value < 0:
        return msg("%(raw)s is negative", raw=raw)
    if value > MAX_MONEY:
        return msg("%(raw)s is larger than %(most)s", raw=raw, most=str(MAX_MONEY))
    return value


def _parse_date(raw: str) -> dt.date | Msg:
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        return msg("%(raw)s is not a date (YYYY-MM-DD)", raw=repr(raw))


def _parse_instant(raw: str) -> dt.datetime | Msg:
    """An aware datetime; a bare date or naive time is taken as UTC."""
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        return msg("%(raw)s is not an ISO 8601 date or date-time", raw=repr(raw))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def sniff_delimiter(sample: str) -> str:
    """The delimiter of a CSV sample among , ; TAB and |, defaulting to ','."""
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def conflict(
    cid: str, first_line: int, first: tuple[str, ...], here: tuple[str, ...]
) -> tuple[str, Msg]:
    """(column, message) for a customer whose columns differ from their first row."""
    for column, old, new in zip(spec.CUSTOMER_COLUMNS, first, here, strict=True):
        if old != new:
            return (
                column,
                msg(
                    "customer %(cid)s has %(column)s %(new)s here "
                    "but %(old)s on line %(first_line)s",
                    cid=cid,
                    column=column,
                    new=repr(new),
                    old=repr(old),
                    first_line=first_line,
                ),
            )
    raise ValueError("the rows agree")


class RowValidator:
    """One pass over one file; keeps the state needed for cross-row checks."""

    def __init__(self, name: str, result: ValidatedPortfolio) -> None:
        self.name = name
        self.result = result
        self.customer_first: dict[str, tuple[int, tuple[str, ...]]] = {}
        self.account_first_line: dict[str, int] = {}

    def error(self, line: int, column: str, message: str | Msg) -> None:
        self.result.errors.append(RowError(self.name, line, column, message))

    def row(self, line: int, values: dict[str, str]) -> None:
        cid = values.get("customer_id", "")
        if not cid:
            self.error(line, "customer_id", msg("required"))
        elif len(cid) > 64:
            self.error(line, "customer_id", msg("longer than 64 characters"))
        else:
            customer_key = tuple(values.get(c, "") for c in spec.CUSTOMER_COLUMNS)
            first = self.customer_first.get(cid)
            if first is None:
                self.customer_first[cid] = (line, customer_key)
                self.customer(line, cid, values)
            elif first[1] != customer_key:
                self.error(line, *conflict(cid, first[0], first[1], customer_key))
        self.account(line, cid, values)

    def customer(self, line: int, cid: str, v: dict[str, str]) -> None:
        """Check the customer columns of ``cid``'s first row; keep them and their points if clean.

        Runs once per customer of a file that may hold millions: the phone and
        email columns and the time zones are one method call each, no more.
        """
        errors_before = len(self.result.errors)
        name = v.get("customer_name", "").strip()
        if not name:
            self.error(line, "customer_name", msg("required"))
        elif len(name) > 200:
            self.error(line, "customer_name", msg("longer than 200 characters"))
        country = v.get("country", "").strip().upper()
        if country not in phonenumbers.SUPPORTED_REGIONS:
            self.error(
                line,
                "country",
                msg("%(value)s is not an ISO 3166-1 code", value=repr(v.get("country", ""))),
            )
        subdivision = v.get("subdivision", "").strip().upper() or None
        if subdivision and not (subdivision.startswith(f"{country}-") and len(subdivision) <= 6):
            self.error(
                line,
                "subdivision",
                msg(
                    "%(subdivision)s is not an ISO 3166-2 code of %(country)s",
                    subdivision=repr(subdivision),
                    country=country,
                ),
            )
        language = v.get("language", "").strip().lower() or spec.DEFAULT_LANGUAGE.get(country, "es")
        if language not in spec.LANGUAGES:
            self.error(
                line,
                "language",
                msg(
                    "%(language)s is not one of %(sorted)s",
                    language=repr(language),
                    sorted=sorted(spec.LANGUAGES),
                ),
            )
        score: int | None = None
        raw_score = v.get("behavior_score", "").strip()
        if raw_score:
            if not INTEGER_RE.match(raw_score) or not 0 <= int(raw_score) <= 1000:
                self.error(
                    line,
                    "behavior_score",
                    msg("%(raw_score)s is not an integer 0–1000", raw_score=repr(raw_score)),
                )
            else:
                score = int(raw_score)
        segment = v.get("segment", "").strip() or None
        if segment and len(segment) > 40:
            self.error(line, "segment", msg("longer than 40 characters"))
        points, parsed_phones = self.contact_points(line, cid, v, country)
        zones = self.time_zones(line, v, country, subdivision, parsed_phones)
        if len(self.result.errors) == errors_before:
            self.result.customers.append(
                CustomerRecord(
                    cid, name, country, subdivision, ";".join(zones), language, score, segment
                )
            )
            self.result.contact_points.extend(points)

    def contact_points(
        self, line: int, cid: str, v: dict[str, str], country: str
    ) -> tuple[list[ContactPointRecord], list[phonenumbers.PhoneNumber]]:
        """The row's phones and email with their consents, and the phones as parsed.

        Errors are recorded, not raised; a point in error is left out.
        """
        consent_at: dt.datetime | None = None
        raw_consent_at = v.get("consent_at", "").strip()
        if raw_consent_at:
            parsed_at = _parse_instant(raw_consent_at)
            if isinstance(parsed_at, Msg):
                self.error(line, "consent_at", parsed_at)
            else:
                consent_at = parsed_at
        source = v.get("consent_source", "").strip() or None

        points: list[ContactPointRecord] = []
        parsed_phones: list[phonenumbers.PhoneNumber] = []
        for position, (phone_col, consent_col) in enumerate(spec.PHONE_SLOTS, start=1):
            raw_phone = v.get(phone_col, "").strip()
            consent = self.consent(line, consent_col, v, raw_phone, consent_at)
            if not raw_phone or country not in phonenumbers.SUPPORTED_REGIONS:
                continue
            try:
                number = phonenumbers.parse(raw_phone, country)
            except phonenumbers.NumberParseException as exc:
                self.error(
                    line,
                    phone_col,
                    msg(
                        "%(raw_phone)s is not a phone number: %(msg)s",
                        raw_phone=repr(raw_phone),
                        msg=exc._msg,
                    ),
                )
                continue
            # number_type() runs the very matching is_valid_number() does (UNKNOWN
            # means invalid); calling both would double the import's hottest cost.
            number_type = phonenumbers.number_type(number)
            if number_type == PhoneNumberType.UNKNOWN:
                self.error(
                    line,
                    phone_col,
                    msg(
                        "%(raw_phone)s is not a valid number for %(country)s",
                        raw_phone=repr(raw_phone),
                        country=country,
                    ),
                )
                continue
            parsed_phones.append(number)
            e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            same = next((p for p in points if p.value == e164), None)
            if same is not None:
                stated = self.point(cid, "phone", e164, None, 0, consent, consent_at, source)
                self.repeated_phone(line, consent_col, consent, stated, same, points)
                continue
            line_type = LINE_TYPES.get(number_type, "unknown")
            points.append(
                self.point(cid, "phone", e164, line_type, position, consent, consent_at, source)
            )
        raw_email = v.get("email", "").strip()
        email_consent = self.consent(line, "email_consent", v, raw_email, consent_at)
        if raw_email:
            if not EMAIL_RE.match(raw_email) or len(raw_email) > 254:
                self.error(
                    line,
                    "email",
                    msg("%(raw_email)s is not an email address", raw_email=repr(raw_email)),
                )
            else:
                points.append(
                    self.point(
                        cid, "email", raw_email.lower(), None, 1, email_consent, consent_at, source
                    )
                )
        return points, parsed_phones

    def repeated_phone(
        self,
        line: int,
        consent_col: str,
        consent: str,
        stated: ContactPointRecord,
        same: ContactPointRecord,
        points: list[ContactPointRecord],
    ) -> None:
        """A number already in an earlier phone column (``same``): merge it into that point.

        Banks often repeat one number in both columns: one contact point,
        unless the file gives it two different known consents. A known
        consent here replaces an unknown one there.
        """
        if stated.consent != "unknown" and same.consent == "unknown":
            points[points.index(same)] = stated._replace(
                line_type=same.line_type, position=same.position
            )
        elif stated.consent not in (same.consent, "unknown"):
            self.error(
                line,
                consent_col,
                msg(
                    "%(value)s is also phone_%(position)s but with consent %(consent)s "
                    "instead of %(consent2)s",
                    value=stated.value,
                    position=same.position,
                    consent=repr(consent),
                    consent2=repr(same.consent),
                ),
            )

    def time_zones(
        self,
        line: int,
        v: dict[str, str],
        country: str,
        subdivision: str | None,
        parsed_phones: list[phonenumbers.PhoneNumber],
    ) -> tuple[str, ...]:
        """The zones the file names, else those the subdivision and phones tell."""
        zones: tuple[str, ...] = ()
        raw_zones = v.get("timezone", "").strip()
        if raw_zones:
            zones = tuple(z.strip() for z in raw_zones.split(";") if z.strip())
            for zone in zones:
                if not _zone_exists(zone):
                    self.error(
                        line, "timezone", msg("%(zone)s is not an IANA time zone", zone=repr(zone))
                    )
        elif country in phonenumbers.SUPPORTED_REGIONS:
            zones = derive_zones(country, subdivision, parsed_phones)
            if not zones:
                self.error(
                    line, "timezone", msg("empty, and neither subdivision nor phones tell it")
                )
        return zones

    def consent(
        self, line: int, column: str, v: dict[str, str], point: str, at: dt.datetime | None
    ) -> str:
        value = v.get(column, "").strip().lower()
        if value not in spec.CONSENT_VALUES:
            self.error(
                line,
                column,
                msg(
                    "%(value)s is not one of granted, denied, opted_out or empty", value=repr(value)
                ),
            )
            return ""
        if value and not point:
            self.error(
                line, column, msg("%(value)s given but the contact point is empty", value=value)
            )
        if value in ("granted", "opted_out") and at is None:
            # Consent without a date is no evidence a compliance officer can show.
            self.error(
                line,
                "consent_at",
                msg("required when %(column)s is %(value)s", column=column, value=value),
            )
        return value

    @staticmethod
    def point(
        cid: str,
        kind: str,
        value: str,
        line_type: str | None,
        position: int,
        consent: str,
        at: dt.datetime | None,
        source: str | None,
    ) -> ContactPointRecord:
        opted_out = consent == "opted_out"
        state = "denied" if opted_out else (consent or "unknown")
        # The customer-level consent date and source belong to the points whose
        # consent the file states; an unknown consent has no evidence to carry.
        if not consent:
            at, source = None, None
        return ContactPointRecord(
            cid, kind, value, line_type, position, state, at, source, opted_out
        )

    def account(self, line: int, cid: str, v: dict[str, str]) -> None:
        errors_before = len(self.result.errors)
        aid = v.get("account_id", "").strip()
        if not aid:
            self.error(line, "account_id", msg("required"))
        elif len(aid) > 64:
            self.error(line, "account_id", msg("longer than 64 characters"))
        elif aid in self.account_first_line:
            self.error(
                line,
                "account_id",
                msg(
                    "%(aid)s already on line %(value)s", aid=aid, value=self.account_first_line[aid]
                ),
            )
        else:
            self.account_first_line[aid] = line
        product = v.get("product", "").strip().lower()
        if product not in spec.PRODUCTS:
            self.error(
                line,
                "product",
                msg(
                    "%(product)s is not one of %(sorted)s",
                    product=repr(product),
                    sorted=sorted(spec.PRODUCTS),
                ),
            )
        balance = self.money(line, "balance", v.get("balance", "").strip(), required=True)
        minimum = self.money(line, "minimum_due", v.get("minimum_due", "").strip(), required=False)
        currency = v.get("currency", "").strip().upper()
        if currency not in spec.CURRENCIES:
            self.error(
                line,
                "currency",
                msg("%(value)s is not an ISO 4217 code", value=repr(v.get("currency", ""))),
            )
        raw_dpd = v.get("days_past_due", "").strip()
        dpd = 0
        if not raw_dpd:
            self.error(line, "days_past_due", msg("required"))
        elif not INTEGER_RE.match(raw_dpd) or int(raw_dpd) < 0:
            self.error(
                line,
                "days_past_due",
                msg("%(raw_dpd)s is not a whole number ≥ 0", raw_dpd=repr(raw_dpd)),
            )
        else:
            dpd = int(raw_dpd)
        status = v.get("account_status", "").strip().lower() or "open"
        if status not in spec.ACCOUNT_STATUSES:
            self.error(
                line, "account_status", msg("%(status)s is not open or closed", status=repr(status))
            )
        opened: dt.date | None = None
        raw_opened = v.get("opened_on", "").strip()
        if raw_opened:
            parsed = _parse_date(raw_opened)
            if isinstance(parsed, Msg):
                self.error(line, "opened_on", parsed)
            else:
                opened = parsed
        if len(self.result.errors) == errors_before and balance is not None:
            self.result.accounts.append(
                AccountRecord(
                    aid, cid, product, balance, currency, dpd, minimum or Decimal(0), status, opened
                )
            )

    def money(self, line: int, column: str, raw: str, *, required: bool) -> Decimal | None:
        if not raw:
            if required:
                self.error(line, column, msg("required"))
            return None
        parsed = _parse_money(raw)
        if isinstance(parsed, Msg):
            self.error(line, column, parsed)
            return None
        return parsed


def validate_body(validator: RowValidator, body: str, header: list[str], first_line: int) -> int:
    """Validate the records of ``body`` (no header), numbering lines from ``first_line``."""
    reader = csv.reader(
        io.StringIO(body, newline=""), delimiter=validator.result.delimiter, strict=True
    )
    rows = 0
    line = first_line  # the first physical line of the current record
    try:
        for fields in reader:
            if len(fields) == 1 and not fields[0].strip():
                pass  # a blank line
            elif len(fields) != len(header):
                rows += 1
                validator.error(
                    line,
                    "row",
                    msg(
                        "has %(len)s fields, the header has %(len2)s",
                        len=len(fields),
                        len2=len(header),
                    ),
                )
            else:
                rows += 1
                validator.row(line, dict(zip(header, fields, strict=True)))
            line = first_line + reader.line_num
    except csv.Error as exc:
        validator.error(
            first_line + reader.line_num - 1,
            "row",
            msg("malformed CSV: %(problem)s", problem=str(exc)),
        )
    return rows


def header_ok(validator: RowValidator, header: list[str]) -> bool:
    """Check the header row; False (with errors recorded) when rows cannot be read."""
    missing = sorted(spec.REQUIRED_COLUMNS - set(header))
    if missing:
        validator.error(
            1, "header", msg("missing required columns: %(value)s", value=", ".join(missing))
        )
    unknown = [h for h in header if h not in spec.ALL_COLUMNS and not h.startswith("x_")]
    if unknown:
        validator.error(
            1,
            "header",
            msg(
                "unknown columns %(unknown)s (prefix extra columns with 'x_' to ignore)",
                unknown=unknown,
            ),
        )
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        validator.error(1, "header", msg("duplicate columns: %(value)s", value=", ".join(dupes)))
    return not (missing or unknown or dupes)
