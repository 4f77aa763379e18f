"""No debtor's phone number, email address or name reaches the logs of a whole compressed day.

A messages-only day runs through real Redis, RQ worker processes (``cadencia
worker``, each logging to its own file), the provider stand-in and the webhook
receiver (delivery events, STOP replies), with this process's logging set up
as every entry point sets it (``configure_logging``). Every line any of them
logged is then searched for every phone number, email and name of the
portfolio, in the forms a log line might carry them (``tests/support/logscan.py``).
The voice day's logs (dial sessions in the workers, on the sandbox Asterisk)
are searched the same way in ``tests/run/test_day_end_to_end.py``.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import sqlalchemy as sa

from campaigns.campaign import load_campaign
from campaigns.clock import Clock
from campaigns.run.inputs import slot_starts
from campaigns.storage.db import make_engine, migrate
from sandbox.day import local_services, run_day
from tests.run.test_day_end_to_end import DAY, messages_only
from tests.run.test_planning import load_generated
from tests.support.logscan import log_lines, personal_data_in_logs, product_logging


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
        stops = conn.execute(sa.text("SELECT count(*) FROM contact_events WHERE kind = 'opt_out'"))
        opted_out = stops.scalar_one()
    assert delivered > 0 and opted_out > 0  # messages went out and webhooks came back
    lines = log_lines(logs)
    assert any("the day starts" in line for _, _, line in lines)
    assert any(name.startswith("worker") for name, _, _ in lines)  # the workers logged
    assert personal_data_in_logs(engine, logs) == []
    engine.dispose()
