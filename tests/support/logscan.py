"""Search every log line a day produced for the portfolio's personal data.

``product_logging`` makes this process log as an entry point does (JSON to
stderr, the masking filter installed), into a file beside the workers' logs;
``personal_data_in_logs`` then looks in every ``*.log`` of the folder for every
phone number, email address and customer name on file, in the forms a log
line might carry them (JSON escapes non-ASCII letters; URLs encode ``+`` and
``@``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from campaigns.observability import configure_logging
from campaigns.storage.models import ContactPoint, Customer


@contextlib.contextmanager
def product_logging(path: Path) -> Iterator[None]:
    """This process logs into ``path`` as an entry point would; restored afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    # configure_logging writes to stderr, as the entry points' logs go to
    # stderr; pointing stderr at the file here captures exactly that handler
    # (and uvicorn's, which the webhook receiver adds to stderr too).
    with path.open("w", encoding="utf-8") as out, contextlib.redirect_stderr(out):
        configure_logging("json")
        try:
            yield
        finally:
            root.handlers[:] = handlers
            root.setLevel(level)


def forms(kind: str, value: str) -> set[str]:
    """How ``value`` might appear in a log line (compared lower-case)."""
    if kind == "email":
        return {value.lower(), value.lower().replace("@", "%40")}
    if kind == "name":
        name = value.lower()
        return {name, json.dumps(name)[1:-1]}
    digits = re.sub(r"\D", "", value)
    # +56912345678: with and without the +, URL-encoded, and the national number.
    return {value, digits, "%2b" + digits, digits[-9:]}


def log_lines(folder: Path) -> list[tuple[str, int, str]]:
    """(file, line number, lower-cased text) of every line of every ``*.log`` in ``folder``."""
    return [
        (f.name, n, line)
        for f in sorted(folder.glob("*.log"))
        for n, line in enumerate(f.read_text(encoding="utf-8").lower().splitlines(), 1)
    ]


def personal_data_in_logs(engine: Engine, folder: Path) -> list[str]:
    """Each log line that carries a phone, email or name of the portfolio, named."""
    with engine.connect() as conn:
        data = [
            *conn.execute(sa.select(ContactPoint.kind, ContactPoint.value)).all(),
            *(("name", n) for n in conn.execute(sa.select(Customer.name)).scalars()),
        ]
    lines = log_lines(folder)
    return [
        f"{name}:{n}: {kind} {value!r} in {line[:200]!r}"
        for kind, value in data
        for needle in forms(kind, value)
        for name, n, line in lines
        if needle in line
    ]
