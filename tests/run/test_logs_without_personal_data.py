"""No debtor's phone number or email address reaches the logs of a whole compressed day.

A messages-only day runs through real Redis, RQ worker processes (``cadencia
worker``, each logging to its own file), the provider stand-in and the webhook
receiver (delivery events, STOP replies), with this process's logging set up
as every entry point sets it (``configure_logging``). Every line any of them
logged is then searched for every phone number and email of the portfolio, in
the forms a log line might carry them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from campaigns.campaign import load_campaign
from campaigns.clock import Clock
from campaigns.observability import configure_logging
from campaigns.run.inputs import slot_starts
from campaigns.storage.db import make_engine, migrate
from campaigns.storage.models import ContactPoint
from sandbox.day import local_services, run_day
from tests.run.test_day_end_to_end import DAY, messages_only
from tests.run.test_planning import load_generated


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
    digits = re.sub(r"\D", "", value)
    # +56912345678: with and without the +, URL-encoded, and the national number.
    return {value, digits, "%2b" + digits, digits[-9:]}


def test_a_compressed_day_logs_no_phone_or_email_of_the_portfolio(
    tmp_path: Path, redis_url: str
) -> None:
    url = f"sqlite:///{tmp_path}/day.db"
    migrate(url)
    load_generated(url, 80, ("CL",))
    campaign_path = messages_only(tmp_path)
    campaign = load_campaign(campaign_path)
    first_slot = slot_starts(campaign, DAY)[0]
    clock = Clock.compressed(first_slot - dt.timedelta(minutes=5), factor=1440)
    engine = make_engine(url)
    logs = tmp_path / "logs"
    logs.mkdir()
    with product_logging(logs / "driver.log"):
        logging.getLogger(__name__).info("the day starts")  # the capture works
        with local_services(url, redis_url, [campaign], clock, workers=1, log_dir=logs) as day:
            run_day(engine, campaign_path, DAY, day, clock, timeout_s=600)
            delivered = len(day.standin.state.sent_emails()) + len(day.standin.state.sent_texts())
    with engine.connect() as conn:
        points = conn.execute(sa.select(ContactPoint.kind, ContactPoint.value)).all()
        stops = conn.execute(sa.text("SELECT count(*) FROM contact_events WHERE kind = 'opt_out'"))
        opted_out = stops.scalar_one()
    engine.dispose()
    assert delivered > 0 and opted_out > 0  # messages went out and webhooks came back

    lines = [
        (f.name, n, line)
        for f in sorted(logs.glob("*.log"))
        for n, line in enumerate(f.read_text(encoding="utf-8").lower().splitlines(), 1)
    ]
    assert any("the day starts" in line for _, _, line in lines)
    assert any(name.startswith("worker") for name, _, _ in lines)  # the workers logged
    leaks = [
        f"{name}:{n}: {kind} {value!r} in {line[:200]!r}"
        for kind, value in points
        for needle in forms(kind, value)
        for name, n, line in lines
        if needle in line
    ]
    assert leaks == []
