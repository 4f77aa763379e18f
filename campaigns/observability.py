"""Structured logs for operations, with debtors' contact data masked.

One JSON object per line when ``CADENCIA_LOG_FORMAT=json`` (for log
shipping), with phone numbers and email addresses masked in every message,
since debtors' contact data must not leak into log stores. The Prometheus
metrics are in ``campaigns.metrics``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
from typing import Any

EMAIL_RE = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*(?:@|%40)([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
# A phone number: an optional + (or its URL form %2B), then 7+ digits with
# spaces, dashes or brackets between (an area code may open with one). Dots
# are left out on purpose, so IP addresses, decimals and durations in log
# lines stay readable.
PHONE_RE = re.compile(r"(?<![\w.])(?:\+|%2[Bb])?\(?\d[\d ()-]{5,}\d(?![\w.])")


def mask_phone(number: str) -> str:
    """``+573001234567`` → ``+57•••••••567``: enough to tell numbers apart, not to dial."""
    plus = number.startswith("+") or number[:3].upper() == "%2B"
    digits = [c for c in (number[3:] if number[:3].upper() == "%2B" else number) if c.isdigit()]
    if len(digits) < 7:
        return "•" * len(number)
    keep_head = 2 if plus else 0
    head = ("+" if plus else "") + "".join(digits[:keep_head])
    return head + "•" * (len(digits) - keep_head - 3) + "".join(digits[-3:])


def mask_email(address: str) -> str:
    """``maria.nunez@example.com`` → ``m•••@example.com``."""
    return EMAIL_RE.sub(lambda m: f"{m.group(1)}•••@{m.group(2)}", address)


# ISO dates are not phones, nor what the phone regex takes of a timestamp: the
# year-month of "2026-12", or the date and hour of "2026-12-07 16:34:14" (RQ's
# "scheduled for retry at …").
DATE_RE = re.compile(r"\d{4}-\d{2}(?:-\d{2}(?:[ T]\d{2})?)?")


def _mask_phone_like(match: re.Match[str]) -> str:
    text = match.group(0)
    if DATE_RE.fullmatch(text.strip("()")):
        return text
    if text.count("(") == text.count(")"):
        return mask_phone(text)
    # Unbalanced brackets are two things side by side, e.g. RQ's "batch 133370
    # (500 messages)": each side is judged alone, so ids and counts stay
    # readable while a real number before a bracket is still masked.
    cut = text.index("(") if text.count("(") > text.count(")") else text.rindex(")") + 1
    return PHONE_RE.sub(_mask_phone_like, text[:cut]) + PHONE_RE.sub(_mask_phone_like, text[cut:])


def user_ref(username: str) -> str:
    """How a log line names a console account: ``user#`` and 12 hex digits of a SHA-256.

    Never the name itself: what someone typed in the username box may be their
    password, and an account's name is often a person's. The same name gives
    the same reference in every process, so an operator can follow one account
    through the logs, and find whose it is by hashing the accounts' names
    (``user_ref(name)``).
    """
    digest = hashlib.sha256(f"cadencia-user:{username}".encode()).hexdigest()
    return f"user#{digest[:12]}"


def mask_pii(text: str) -> str:
    """``text`` with every email address and phone-like number masked."""
    return PHONE_RE.sub(_mask_phone_like, mask_email(text))


def _masked_arg(value: object) -> object:
    if isinstance(value, (int, float)) or value is None:
        return value  # numbers keep their type: "%d" and uvicorn's status code need it
    return mask_pii(value if isinstance(value, str) else str(value))


# ``extra`` fields that hold a console account's name: logged as ``user_ref``.
USER_FIELDS = frozenset({"username", "user"})
_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_TRACEBACKS = logging.Formatter()


class MaskingFilter(logging.Filter):
    """A logging filter that masks phone numbers and email addresses in every record.

    The message and each argument are masked one by one, keeping the
    arguments' shape: formatters such as uvicorn's access log unpack them.
    The traceback (``exc_info``), ``stack_info`` and ``extra`` fields are
    masked too: an exception's message or a job's arguments may name a
    debtor's number. An ``extra`` field named ``username`` or ``user`` becomes
    its ``user_ref`` (a message must name an account with ``user_ref`` itself:
    a filter cannot tell a name in free text). Installed on handlers too, so third-party loggers are
    masked as well.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the record in place; never drops a record."""
        if isinstance(record.msg, str):
            record.msg = mask_pii(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_masked_arg(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _masked_arg(v) for k, v in record.args.items()}
        if record.exc_info and not record.exc_text:
            # Formatters print exc_text when it is set: formatting it here, masked,
            # is what keeps the exception's message out of every formatter's output.
            record.exc_text = _TRACEBACKS.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_pii(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_pii(record.stack_info)
        for key, value in list(vars(record).items()):
            if key in USER_FIELDS and isinstance(value, str):
                setattr(record, key, user_ref(value))
            elif key not in _RECORD_FIELDS:
                setattr(record, key, _masked_arg(value))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and any ``extra`` fields."""

    RESERVED = frozenset(vars(logging.makeLogRecord({})))

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "at": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        doc.update({k: v for k, v in vars(record).items() if k not in self.RESERVED})
        if record.exc_info:
            doc["exception"] = mask_pii(self.formatException(record.exc_info))
        return json.dumps(doc, default=str, ensure_ascii=False)


UVICORN_LOGGERS = ("uvicorn", "uvicorn.access", "uvicorn.error")


def mask_server_logs(names: tuple[str, ...] = ("", *UVICORN_LOGGERS)) -> None:
    """Mask every handler of the root and uvicorn loggers (call after ``uvicorn.Config()``).

    uvicorn installs its own handlers on its loggers, which do not propagate to
    the root's masked handler: without this, an access line or a server error
    would be written unmasked.
    """
    masking = MaskingFilter()
    for name in names:
        logger = logging.getLogger(name)
        logger.addFilter(masking)
        for handler in logger.handlers:
            handler.addFilter(masking)


def configure_logging(log_format: str = "text", level: int = logging.INFO) -> None:
    """Set up the root logger once, at an entry point (never at import time).

    ``log_format`` is ``Settings.log_format``: ``json`` or ``text``.
    """
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(MaskingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Alembic logs each plugin it loads at INFO (seven lines on every command
    # since alembic 1.16); its warnings and errors still come through.
    logging.getLogger("alembic").setLevel(logging.WARNING)
