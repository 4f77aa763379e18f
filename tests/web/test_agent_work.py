"""The agent's own work on the desktop, console side: search, open, dial refusals.

The calls that do go out (a worker, the sandbox Asterisk) are in
tests/dialing/test_manual_dial.py; here the console is tested up to the
point where it would queue a call: what it refuses, and that a refusal
writes and dials nothing.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa
from rq import Queue

from campaigns.agents.events import agent_call
from campaigns.ledger.chain import EVENTS
from campaigns.portfolio.search import search_customers
from campaigns.run.state import advance, create_run
from campaigns.storage.models import ContactPoint, Customer, GuardDecisionRow
from tests.web.conftest import Console, pending_call
from tests.web.test_desktop import open_customer
from tests.web.test_pages import EXAMPLES

pytestmark = pytest.mark.redis


def count(console: Console, table: object) -> int:
    with console.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def point_of(console: Console, customer_id: str) -> int:
    with console.engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(ContactPoint.id)
                .join(Customer, Customer.id == ContactPoint.customer_id)
                .where(Customer.external_id == customer_id, ContactPoint.kind == "phone")
                .order_by(ContactPoint.position)
            )
            .scalars()
            .first()
        )


def todays_run(console: Console) -> int:
    now = console.clock.now
    run_id = create_run(
        console.engine, EXAMPLES / "co-tarjetas.toml", now.date(), needs_approval=False, now=now
    )
    advance(console.engine, run_id, now=now)
    return run_id


def test_search_finds_by_id_phone_and_name_without_accents(console: Console) -> None:
    found = {
        "C2": ["C2"],
        "3001234567": ["C1"],  # the last digits of +573001234567
        "(310) 555-0101": ["C2"],
        "NUÑEZ maria": ["C1"],
        "jorge perez": ["C2"],
        "nobody": [],
        "555": [],  # too few digits to be a phone, and no name has it
    }
    for query, ids in found.items():
        assert [h.customer_id for h in search_customers(console.engine, query)] == ids, query
    client = console.login("ana")
    page = client.get("/agent/search", params={"q": "perez"}).text
    assert 'data-customer="C2"' in page and "Jorge Pérez" in page
    assert "+573105550101" not in page  # phones masked on the page too
    assert "Nobody matches" in client.get("/agent/search", params={"q": "zz"}).text
    client.cookies.clear()
    assert console.login("mara").get("/agent/search", params={"q": "C1"}).status_code == 403


def test_an_opened_customer_is_attached_until_released_and_nothing_is_recorded(
    console: Console,
) -> None:
    client = console.login("ana")
    open_customer(console, client, "C1", "C1")
    page = client.get("/agent").text
    assert 'data-customer="C1"' in page and "Close without a disposition" in page
    assert 'class="dial-phone"' in page and "Call +57•" in page
    # one customer at a time
    second = client.post("/agent/open", data={"csrf": console.csrf("/agent"), "customer_id": "C2"})
    assert second.status_code == 409 and "C1 is open" in second.text
    released = client.post(
        "/agent/release", data={"csrf": console.csrf("/agent")}, follow_redirects=False
    )
    assert released.status_code == 303
    call = agent_call(console.redis, "agent1", namespace=console.namespace)
    assert (call.state, call.customer_id) == ("ready", None)
    assert count(console, EVENTS) == 0 and count(console, GuardDecisionRow) == 0
    missing = client.post("/agent/open", data={"csrf": console.csrf("/agent"), "customer_id": "C9"})
    assert missing.status_code == 404


def test_dialing_a_number_not_the_customers_is_refused_and_nothing_happens(
    console: Console,
) -> None:
    run_id = todays_run(console)
    queue = Queue("dialer", connection=console.redis)
    queued = queue.count
    client = console.login("ana")
    open_customer(console, client, "C1", "C1", run_id=run_id)
    response = client.post(
        "/agent/dial",
        data={"csrf": console.csrf("/agent"), "point_id": str(point_of(console, "C2"))},
    )
    assert response.status_code == 403
    assert "only dial the numbers of the customer open" in response.text
    # nothing checked, written or queued
    assert count(console, EVENTS) == 0 and count(console, GuardDecisionRow) == 0
    assert queue.count == queued
    # and without a customer open, no dial at all
    client.post("/agent/release", data={"csrf": console.csrf("/agent")})
    response = client.post(
        "/agent/dial",
        data={"csrf": console.csrf("/agent"), "point_id": str(point_of(console, "C1"))},
    )
    assert response.status_code == 403 and count(console, EVENTS) == 0


def test_a_dial_the_rules_refuse_shows_the_rule_and_its_citation(console: Console) -> None:
    run_id = todays_run(console)
    now = console.clock.now  # Tuesday 10:00 in Bogotá
    # C1 was called at 07:00 today: Ley 2300 allows one contact a day
    pending_call(console.engine, "C1", now - dt.timedelta(hours=3), "plan:earlier")
    queue = Queue("dialer", connection=console.redis)
    queued = queue.count
    client = console.login("ana")
    open_customer(console, client, "C1", "C1", run_id=run_id)
    response = client.post(
        "/agent/dial",
        data={
            "csrf": console.csrf("/agent"),
            "point_id": str(point_of(console, "C1")),
            "run_id": str(run_id),
        },
    )
    assert response.status_code == 422, response.text[-1500:]
    errors = re.search(
        r'<ul class="error" role="alert" id="errors">(.*?)</ul>', response.text, re.S
    )
    assert errors is not None
    text = errors.group(1)
    assert "refused by co-una-vez-al-dia (Ley 2300 de 2023, art. 3)" in text, text
    assert "+573001234567" not in response.text
    # the guard's decision is kept for the audit; no attempt, nothing queued
    with console.engine.connect() as conn:
        (decision,) = conn.execute(sa.select(GuardDecisionRow)).all()
        kinds = conn.execute(sa.select(EVENTS.c.idempotency_key)).scalars().all()
    assert (decision.customer_id, decision.allowed, decision.attempt_id) == ("C1", False, None)
    assert kinds == ["plan:earlier"]
    assert queue.count == queued
    # the customer stays open: the agent can still record what the customer said
    call = agent_call(console.redis, "agent1", namespace=console.namespace)
    assert (call.customer_id, call.run_id, call.campaign) == ("C1", run_id, "co-tarjetas")
