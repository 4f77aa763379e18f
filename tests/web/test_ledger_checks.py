"""The ledger page shows the last recorded check; an officer's button queues a new one.

The check runs in a real RQ worker (JSON jobs, the queue the console puts it
on) against the real database; ``cadencia ledger verify`` records its own. The
page itself never recomputes the chain.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from rq import SimpleWorker
from typer.testing import CliRunner

from cadencia.cli import app
from campaigns.ledger.verification import QUEUE
from campaigns.queues import rq_queue, rq_worker
from campaigns.storage.models import LedgerCheck
from tests.support.tamper import ledger_opened
from tests.web.conftest import Console, pending_call

pytestmark = pytest.mark.redis


def checks(console: Console) -> list[tuple[str, str | None, bool | None]]:
    """(source, requested by, ok) of every recorded check, oldest first."""
    with console.engine.connect() as conn:
        rows = conn.execute(
            sa.select(LedgerCheck.source, LedgerCheck.requested_by, LedgerCheck.ok).order_by(
                LedgerCheck.id
            )
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


def press(console: Console) -> None:
    """The officer presses "Check the whole chain now"."""
    token = console.csrf("/compliance/ledger")
    done = console.client.post(
        "/compliance/ledger/verify", data={"csrf": token}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == "/compliance/ledger"


def work(console: Console) -> None:
    """A worker on the ledger queue takes what is there, then stops."""
    rq_worker([QUEUE], console.redis, SimpleWorker).work(burst=True)


@pytest.fixture()
def queue_cleaned(console: Console) -> object:
    queue = rq_queue(QUEUE, console.redis)
    queue.empty()
    yield queue
    queue.empty()


def test_the_page_shows_the_last_check_and_the_button_queues_one_for_a_worker(
    console: Console, queue_cleaned: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = console.engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("CADENCIA_DATABASE_URL", url)  # what the worker's job loads
    first = pending_call(console.engine, "C1", console.clock.now, "plan:a")
    client = console.login("cora")
    page = client.get("/compliance/ledger")
    assert 'id="ledger-never"' in page.text and "Intact" not in page.text
    assert checks(console) == []  # opening the page verifies nothing

    press(console)
    press(console)  # a second press while one waits queues nothing more
    queue = rq_queue(QUEUE, console.redis)
    assert queue.count == 1 and checks(console) == [("console", "cora", None)]
    waiting = client.get("/compliance/ledger").text
    assert 'id="ledger-waiting"' in waiting and 'id="ledger-never"' in waiting

    work(console)
    page = client.get("/compliance/ledger").text
    assert "Intact: 1 events" in page and "Asked for by cora" in page
    assert 'id="ledger-waiting"' not in page

    # Someone edits a row behind the application's back; the next check names it.
    pending_call(console.engine, "C2", console.clock.now, "plan:b")
    with ledger_opened(console.engine) as conn:
        conn.execute(
            sa.text("UPDATE contact_events SET contact_point = '+570000000000' WHERE id = :i"),
            {"i": first},
        )
    assert "Intact: 1 events" in client.get("/compliance/ledger").text  # until checked again
    press(console)
    work(console)
    page = client.get("/compliance/ledger").text
    assert f"BROKEN after 0 good events at event {first}" in page

    # The command line (and its schedule) records its checks for the page too.
    result = CliRunner().invoke(app, ["--db", url, "ledger", "verify", "--json"])
    assert result.exit_code == 1, result.output
    assert checks(console)[-1] == ("cli", None, False)
    assert "Run from the command line" in client.get("/compliance/ledger").text


def test_a_check_that_cannot_finish_says_so_instead_of_a_verdict(console: Console) -> None:
    """The ledger's table is unreadable (here: renamed away): no 'intact', no 'broken'."""
    url = console.engine.url.render_as_string(hide_password=False)
    pending_call(console.engine, "C1", console.clock.now, "plan:a")
    with console.engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE contact_events RENAME TO contact_events_away"))
    result = CliRunner().invoke(app, ["--db", url, "ledger", "verify"])
    assert result.exit_code == 1 and "ledger check failed" in result.output
    page = console.login("cora").get("/compliance/ledger").text
    assert 'id="ledger-failed"' in page and "Intact" not in page and "BROKEN" not in page
    with console.engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE contact_events_away RENAME TO contact_events"))
