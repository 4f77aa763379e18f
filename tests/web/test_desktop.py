"""The agent desktop over HTTP: scope, the disposition's validation and what saving writes.

A customer is attached to the agent the way production does it: the agent
finds them with the desktop's search and opens them (``POST /agent/open``,
which publishes the agent event ``open``), or a real call's connect
(tests/dialing). No test here publishes an agent event itself.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from campaigns.agents.events import agent_call
from campaigns.ledger.chain import EVENTS, verify
from campaigns.portfolio.view import customer_360
from campaigns.storage.accounts import Disposition
from campaigns.storage.models import ContactPoint, Customer, Promise
from tests.web.conftest import Console, pending_call

pytestmark = pytest.mark.redis


def open_customer(
    console: Console, client: TestClient, query: str, customer_id: str, run_id: int | None = None
) -> None:
    """Find ``customer_id`` with the desktop's search for ``query`` and open them."""
    found = client.get("/agent/search", params={"q": query})
    assert found.status_code == 200, found.text
    assert f'data-customer="{customer_id}"' in found.text, found.text[-2000:]
    data = {"csrf": console.csrf("/agent"), "customer_id": customer_id}
    if run_id is not None:
        data["run_id"] = str(run_id)
    opened = client.post("/agent/open", data=data, follow_redirects=False)
    assert opened.status_code == 303, opened.text


def ledger_rows(console: Console, customer_id: str) -> list[sa.Row[tuple[object, ...]]]:
    with console.engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(EVENTS).where(EVENTS.c.customer_id == customer_id).order_by(EVENTS.c.id)
            )
        )


def test_an_agent_sees_only_the_customer_attached_to_them(console: Console) -> None:
    client = console.login("ana")
    assert "Waiting for a call" in client.get("/agent").text
    assert client.get("/agent/customer/C1").status_code == 403
    open_customer(console, client, "C1", "C1")
    page = client.get("/agent")
    assert 'data-customer="C1"' in page.text
    assert "María José Núñez" in page.text and "A1" in page.text and "A2" in page.text
    # the number is shown masked; the script is the Colombian one, in Spanish
    assert "+573001234567" not in page.text and "+57•" in page.text
    assert "Buenos días" in page.text
    assert client.get("/agent/customer/C1").status_code == 200
    refused = client.get("/agent/customer/C2")
    assert refused.status_code == 403
    assert "only open the customer connected to you" in refused.text
    # another agent does not get C1, on the desktop or by URL
    client.cookies.clear()
    other = console.login("beto")
    assert "Waiting for a call" in other.get("/agent").text
    assert other.get("/agent/customer/C1").status_code == 403


def test_a_promise_over_the_balance_is_refused_naming_the_field(console: Console) -> None:
    client = console.login("ana")
    open_customer(console, client, "C1", "C1")
    token = console.csrf("/agent")
    due = (console.clock.now.date() + dt.timedelta(days=7)).isoformat()
    cases = {
        ("A2", "800.000,01", due): "exceeds the balance of account A2 (800000.00)",
        ("total", "2.300.000,51", due): "exceeds the balance of the total due in COP (2300000.50)",
        ("B1", "10", due): "'B1' is not an open account of this customer",
        ("A1", "-5", due): "'-5' is not an amount: write it as 150.000,50",
        ("A1", "1,500", due): "'1,500': at most two decimals",  # 1,5 or 1500 in Bogotá?
        ("A1", "150,000.50", due): "is not an amount as it is written here (es_CO)",
        ("A1", "10", "2026-01-01"): "due_on: 2026-01-01 must be between",
    }
    for (account, amount, due_on), message in cases.items():
        response = client.post(
            "/agent/customer/C1/disposition",
            data={
                "csrf": token,
                "party": "right",
                "result": "promise",
                "promise_account": account,
                "amount": amount,
                "currency": "COP",
                "due_on": due_on,
            },
        )
        assert response.status_code == 422, (account, amount)
        assert message in response.text.replace("&#39;", "'"), response.text[-2000:]
    assert ledger_rows(console, "C1") == []  # opening the record was no contact


def test_saving_a_promise_writes_the_ledger_and_the_promises(console: Console) -> None:
    """The customer wrote in: the agent finds her by name, accents left out, and opens her."""
    client = console.login("ana")
    open_customer(console, client, "maria jose nunez", "C1")
    call = agent_call(console.redis, "agent1", namespace=console.namespace)
    assert (call.state, call.customer_id, call.attempt_id) == ("preview", "C1", None)
    token = console.csrf("/agent")
    due = console.clock.now.date() + dt.timedelta(days=10)
    response = client.post(
        "/agent/customer/C1/disposition",
        data={
            "csrf": token,
            "party": "right",
            "result": "promise",
            "promise_account": "total",
            "amount": "2.300.000,50",
            "currency": "COP",
            "due_on": due.isoformat(),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    rows = ledger_rows(console, "C1")
    # only what happened: a promise; opening the record was no attempt and no contact
    assert [(r.kind, r.outcome, r.resolves_id) for r in rows] == [("promise", None, None)]
    promise = rows[0]
    assert promise.agent == "agent1" and json.loads(promise.debt_ids) == ["A1", "A2"]
    assert json.loads(promise.extra)["until"] == due.isoformat()
    assert verify(console.engine).ok
    view = customer_360(console.engine, "C1")
    assert view["promises"] == [
        {
            "amount": "2300000.50",
            "currency": "COP",
            "due_on": due.isoformat(),
            "status": "pending",
            "account_id": None,
            "source": "agent1",
        }
    ]
    # wrap-up is over: the customer is detached and the agent is ready again
    call = agent_call(console.redis, "agent1", namespace=console.namespace)
    assert call.customer_id is None and call.state == "ready"
    assert client.get("/agent/customer/C1").status_code == 403
    history = client.get("/agent/history").text
    assert "C1" in history and "promise" in history
    # the compliance officer's timeline shows the promise, the CSV too
    client.cookies.clear()
    officer = console.login("cora")
    csv_text = officer.get("/compliance/customer/C1/timeline.csv").text
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("at,event_id,kind,channel")
    assert any(",promise,voice," in line and "agent1" in line for line in lines[1:])
    assert not any(",attempt," in line for line in lines[1:])


def test_a_promise_on_one_account_is_tied_to_it(console: Console) -> None:
    client = console.login("ana")
    open_customer(console, client, "C1", "C1")
    due = console.clock.now.date() + dt.timedelta(days=3)
    response = client.post(
        "/agent/customer/C1/disposition",
        data={
            "csrf": console.csrf("/agent"),
            "party": "right",
            "result": "promise",
            "promise_account": "A2",
            "amount": "40000",
            "due_on": due.isoformat(),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    with console.engine.connect() as conn:
        (promise,) = conn.execute(sa.select(Promise)).all()
    assert promise.amount == 40000 and promise.account_id is not None
    assert json.loads(ledger_rows(console, "C1")[-1].debt_ids) == ["A2"]


def test_wrong_number_marks_the_contact_point_and_dispute_opens_one(console: Console) -> None:
    client = console.login("ana")
    open_customer(console, client, "+57 300 123 4567", "C1")  # an inbound call from her number
    response = client.post(
        "/agent/customer/C1/disposition",
        data={"csrf": console.csrf("/agent"), "party": "wrong_number", "result": "promise"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    with console.engine.connect() as conn:
        points = conn.execute(
            sa.select(ContactPoint.value, ContactPoint.wrong_number_at)
            .join(Customer, Customer.id == ContactPoint.customer_id)
            .where(Customer.external_id == "C1", ContactPoint.kind == "phone")
        ).all()
        kinds = conn.execute(sa.select(Disposition.party, Disposition.result)).all()
    assert [(v, w) for v, w in points] == [("+573001234567", console.clock.now)]
    assert kinds == [("wrong_number", "none")]  # a wrong number promises nothing
    assert ledger_rows(console, "C1") == []  # no call was made: no attempt, no outcome

    console.clock.now += dt.timedelta(minutes=5)
    open_customer(console, client, "310 555 0101", "C2")  # found by the digits of a phone
    response = client.post(
        "/agent/customer/C2/disposition",
        data={"csrf": console.csrf("/agent"), "party": "right", "result": "dispute"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    dispute = ledger_rows(console, "C2")[-1]
    assert dispute.kind == "dispute" and json.loads(dispute.extra) == {"resolved": False}


def test_a_callback_without_rules_to_check_it_is_refused(console: Console) -> None:
    client = console.login("ana")
    open_customer(console, client, "C1", "C1")  # no run: the rule packs are unknown
    response = client.post(
        "/agent/customer/C1/disposition",
        data={
            "csrf": console.csrf("/agent"),
            "party": "right",
            "result": "callback",
            "callback_at": "2026-11-25T10:00",
        },
    )
    assert response.status_code == 422
    assert "cannot check: no rule packs" in response.text
    assert (
        agent_call(console.redis, "agent1", namespace=console.namespace).customer_id == "C1"
    )  # still in wrap-up


def test_a_callback_is_scheduled_only_when_the_rules_allow_it(console: Console) -> None:
    from campaigns.run.state import advance, create_run
    from campaigns.storage.accounts import Callback
    from tests.web.test_pages import EXAMPLES

    now = console.clock.now  # Tuesday 10:00 in Bogotá
    run_id = create_run(
        console.engine, EXAMPLES / "co-tarjetas.toml", now.date(), needs_approval=False, now=now
    )
    advance(console.engine, run_id, now=now)
    # earlier today's call (history the dial session left in the ledger)
    pending_call(console.engine, "C1", now - dt.timedelta(hours=1), "plan:cb")
    client = console.login("ana")
    open_customer(console, client, "C1", "C1", run_id=run_id)  # working co-tarjetas's run
    token = console.csrf("/agent")
    refusals = {
        "2026-11-24T12:00": "co-una-vez-al-dia",  # today's call already counts
        "2026-11-25T20:00": "outside 07:00-19:00",  # Ley 2300's hours, in the debtor's zone
        "2026-11-24T09:00": "is in the past (it is 2026-11-24 10:00 for the customer)",
        "tomorrow": "is not a date and time",
    }
    for when, reason in refusals.items():
        data = {"csrf": token, "party": "right", "result": "callback", "callback_at": when}
        response = client.post("/agent/customer/C1/disposition", data=data)
        assert response.status_code == 422 and reason in response.text, when
    data = {
        "csrf": token,
        "party": "right",
        "result": "callback",
        "callback_at": "2026-11-25T10:00",
    }
    assert client.post("/agent/customer/C1/disposition", data=data).status_code == 200
    with console.engine.connect() as conn:
        (callback,) = conn.execute(sa.select(Callback)).all()
    assert callback.at == dt.datetime(2026, 11, 25, 15, 0, tzinfo=dt.UTC)
    assert (callback.status, callback.agent, callback.attempt_id, callback.campaign) == (
        "scheduled",
        "agent1",
        None,
        "co-tarjetas",
    )
    assert all(rule["ok"] for rule in json.loads(callback.rules))
    assert "2026-11-25" in client.get("/agent/history").text


def test_ready_waits_for_the_disposition(console: Console) -> None:
    client = console.login("ana")
    open_customer(console, client, "C1", "C1")
    response = client.post("/agent/state", data={"csrf": console.csrf("/agent"), "action": "ready"})
    assert response.status_code == 200
    assert "Save the disposition first: wrap-up ends there" in response.text
    assert agent_call(console.redis, "agent1", namespace=console.namespace).state == "preview"
    bad = client.post("/agent/state", data={"csrf": console.csrf("/agent"), "action": "nap"})
    assert bad.status_code == 400 and "expected ready or pause" in bad.text


def test_a_customer_is_dispositioned_once(console: Console) -> None:
    client = console.login("ana")
    open_customer(console, client, "C1", "C1")
    due = (console.clock.now.date() + dt.timedelta(days=2)).isoformat()
    form = {"party": "right", "result": "promise", "promise_account": "A1", "amount": "10",
            "due_on": due}  # fmt: skip
    first = client.post(
        "/agent/customer/C1/disposition", data={**form, "csrf": console.csrf("/agent")}
    )
    assert first.status_code == 200 and "Saved: promise" in first.text
    # the same form posted again (a double click, a second tab): the customer is detached
    again = client.post(
        "/agent/customer/C1/disposition", data={**form, "csrf": console.csrf("/agent")}
    )
    assert again.status_code == 403
    with console.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Promise)).scalar_one() == 1
    assert [r.kind for r in ledger_rows(console, "C1")].count("promise") == 1


def test_a_promise_is_read_as_a_colombian_agent_writes_money(console: Console) -> None:
    """150.000,50 and 150000,50 are a hundred and fifty thousand pesos, not fifteen million."""
    client = console.login("ana")
    open_customer(console, client, "C1", "C1")
    due = (console.clock.now.date() + dt.timedelta(days=5)).isoformat()
    data = {
        "csrf": console.csrf("/agent"),
        "party": "right",
        "result": "promise",
        "promise_account": "A1",
        "amount": "150.000,50",
        "currency": "COP",
        "due_on": due,
    }
    response = client.post("/agent/customer/C1/disposition", data=data, follow_redirects=False)
    assert response.status_code == 303, response.text
    (promise,) = customer_360(console.engine, "C1")["promises"]
    assert promise["amount"] == "150000.50"


def test_the_forms_errors_are_in_the_agents_language(console: Console) -> None:
    """The core names what is wrong; the desktop says it in Spanish to a Spanish speaker."""
    client = console.login("ana")
    token = console.csrf("/profile")
    client.post(
        "/profile",
        data={"csrf": token, "language": "es", "timezone": "America/Bogota"},
        follow_redirects=False,
    )
    open_customer(console, client, "C1", "C1")
    due = (console.clock.now.date() + dt.timedelta(days=7)).isoformat()
    response = client.post(
        "/agent/customer/C1/disposition",
        data={
            "csrf": console.csrf("/agent"),
            "party": "right",
            "result": "promise",
            "promise_account": "A1",
            "amount": "150,000.50",
            "currency": "COP",
            "due_on": due,
        },
    )
    assert response.status_code == 422
    text = response.text.replace("&#39;", "'")
    assert "Monto: '150,000.50' no es un monto tal como se escribe aquí (es_CO)" in text
    assert "escríbalo como 150.000,50 o 150.000,5" in text
    assert "is not an amount" not in text
