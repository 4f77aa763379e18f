"""Offers at the desktop and the supervisor's queue, through the console's HTTP.

C1 owes COP 2.300.000,50 on two debts, 45 days past due at worst: under
co-tarjetas (examples/co-tarjetas.toml) no settlement is offered before 90
days, and the plans are 3 payments (20 % down, 50.000 each at least) and 6
payments (10 % down, 80.000 each at least), 30 days apart.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from decimal import Decimal
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from cadencia.console.catalogs import extract
from cadencia.console.i18n import UNTRANSLATED
from campaigns.campaign import Offers, Plan
from campaigns.ledger.chain import EVENTS
from campaigns.negotiation.forms import OfferRefused
from campaigns.negotiation.requests import decide
from campaigns.negotiation.rules import Ask, judge, limits
from campaigns.portal.offers import Debt, propose
from campaigns.storage.models import OfferRequest, Promise
from tests.web.conftest import Console
from tests.web.test_agent_work import todays_run
from tests.web.test_desktop import open_customer

pytestmark = pytest.mark.redis
TODAY = dt.date(2026, 11, 24)


def promises(console: Console) -> list[sa.Row[tuple[object, ...]]]:
    with console.engine.connect() as conn:
        return list(conn.execute(sa.select(Promise).order_by(Promise.id)))


def promise_events(console: Console) -> list[dict[str, Any]]:
    with console.engine.connect() as conn:
        rows = conn.execute(
            sa.select(EVENTS).where(EVENTS.c.kind == "promise").order_by(EVENTS.c.id)
        ).mappings()
        return [dict(r) | {"extra": json.loads(r["extra"] or "{}")} for r in rows]


def requests_of(console: Console) -> list[sa.Row[tuple[object, ...]]]:
    with console.engine.connect() as conn:
        return list(conn.execute(sa.select(OfferRequest).order_by(OfferRequest.id)))


def agent_with_c1(console: Console, language: str = "es") -> TestClient:
    """ana, writing money as ``language`` does, with C1 open under today's co-tarjetas run."""
    run_id = todays_run(console)
    client = console.login("ana")
    saved = client.post(
        "/profile",
        data={"csrf": console.csrf("/profile"), "language": language, "timezone": "America/Bogota"},
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    open_customer(console, client, "C1", "C1", run_id=run_id)
    return client


def offer(console: Console, client: TestClient, **fields: str) -> httpx.Response:
    page = client.get("/agent").text
    nonce = re.search(r'name="nonce" value="([^"]+)"', page)
    assert nonce is not None, page[-3000:]
    data = {"csrf": console.csrf("/agent"), "customer_id": "C1", "nonce": nonce.group(1)}
    return client.post("/agent/offers", data=data | fields, follow_redirects=False)


def as_manager(console: Console) -> TestClient:
    console.client.cookies.clear()
    return console.login("mara")


def test_a_plan_inside_the_limits_becomes_tracked_promises(console: Console) -> None:
    client = agent_with_c1(console)
    page = client.get("/agent").text
    # the offers across both debts, with the limits (in Spanish: ana chose es)
    assert 'id="offer-limits"' in page and 'data-instalments="3"' in page
    assert "2.300.000,50" in page and "460.000,10" in page  # 20 % down, rounded up
    # an amount written the other way is refused, the typed text kept
    wrong = offer(console, client, kind="plan", instalments="3", down_payment="460,000.10",
                  every_days="30")  # fmt: skip
    assert wrong.status_code == 422
    assert 'id="offer-errors"' in wrong.text and 'value="460,000.10"' in wrong.text
    assert promises(console) == [] and requests_of(console) == []
    taken = offer(console, client, kind="plan", instalments="3", down_payment="460.000,10",
                  every_days="30")  # fmt: skip
    assert taken.status_code == 303
    rows = promises(console)
    assert [(r.amount, r.due_on, r.source, r.campaign) for r in rows] == [
        (Decimal("460000.10"), TODAY + dt.timedelta(days=3), "agent1", "co-tarjetas"),
        (Decimal("920000.20"), TODAY + dt.timedelta(days=33), "agent1", "co-tarjetas"),
        (Decimal("920000.20"), TODAY + dt.timedelta(days=63), "agent1", "co-tarjetas"),
    ]
    events = promise_events(console)
    assert {(e["channel"], e["direction"], e["agent"]) for e in events} == {
        ("voice", "outbound", "agent1")
    }
    assert [e["extra"]["instalment"] for e in events] == [1, 2, 3]
    assert all(e["extra"]["plan"] == "plan-3" and e["extra"]["agent"] == "agent1" for e in events)
    assert [r.ledger_event_id for r in rows] == [e["id"] for e in events]
    assert requests_of(console) == []  # inside the limits: no supervisor


def test_a_settlement_beyond_the_limit_waits_and_approved_becomes_the_promise(
    console: Console,
) -> None:
    client = agent_with_c1(console)
    pay_by = (TODAY + dt.timedelta(days=10)).isoformat()
    asked = offer(console, client, kind="settlement", amount="2.000.000", pay_by=pay_by)
    assert asked.status_code == 303
    assert "espera a un supervisor" in client.get(asked.headers["location"]).text  # es
    assert promises(console) == [] and promise_events(console) == []
    (req,) = requests_of(console)
    assert (req.status, req.kind, req.agent, req.customer_id, req.campaign) == (
        "pending", "settlement", "agent1", "C1", "co-tarjetas")  # fmt: skip
    # no settlement under 90 days past due: the whole discount is beyond the limit
    assert [e["limit"] for e in json.loads(req.exceeded)] == ["settlement_discount"]
    # the same ask again (a double click) is the same request
    offer(console, client, kind="settlement", amount="2.000.000", pay_by=pay_by)
    assert len(requests_of(console)) == 1
    mine = client.get("/agent").text
    assert f'data-request="{req.id}" data-status="pending"' in mine
    manager = as_manager(console)
    queue = manager.get("/offers")
    assert queue.status_code == 200
    assert (
        f'id="request-{req.id}"' in queue.text and 'data-limit="settlement_discount"' in queue.text
    )
    assert "A1" in queue.text and "A2" in queue.text  # the customer's debts
    approved = manager.post(
        f"/offers/{req.id}/approve", data={"csrf": console.csrf("/offers")}, follow_redirects=False
    )
    assert approved.status_code == 303
    (promise,) = promises(console)
    assert (promise.amount, promise.due_on, promise.source) == (
        Decimal("2000000"), TODAY + dt.timedelta(days=10), "agent1")  # fmt: skip
    (event,) = promise_events(console)
    assert event["extra"]["approved_by"] == "mara" and event["extra"]["request"] == req.id
    assert event["extra"]["plan"] == "settlement" and event["agent"] == "agent1"
    assert event["channel"] == "voice"
    (req,) = requests_of(console)
    assert (req.status, req.decided_by, req.decided_role) == ("approved", "mara", "manager")
    assert json.loads(req.promise_ids) == [promise.id]
    assert f'id="request-{req.id}"' not in manager.get("/offers").text  # no longer pending


def test_a_rejected_request_shows_the_reason_on_the_agents_desktop(console: Console) -> None:
    client = agent_with_c1(console)
    asked = offer(console, client, kind="plan", instalments="12", down_payment="100.000",
                  every_days="45")  # fmt: skip
    assert asked.status_code == 303
    (req,) = requests_of(console)
    assert [e["limit"] for e in json.loads(req.exceeded)] == [
        "instalments", "down_payment", "spacing"]  # fmt: skip
    manager = as_manager(console)
    csrf = console.csrf("/offers")
    # a rejection needs a reason: refused, still pending
    refused = manager.post(f"/offers/{req.id}/reject", data={"csrf": csrf, "reason": "  "})
    assert refused.status_code == 422 and "write the reason" in refused.text
    assert requests_of(console)[0].status == "pending"
    reason = "Twelve payments is too long for a 45-day debt"
    rejected = manager.post(
        f"/offers/{req.id}/reject", data={"csrf": csrf, "reason": reason}, follow_redirects=False
    )
    assert rejected.status_code == 303
    assert promises(console) == [] and promise_events(console) == []
    console.client.cookies.clear()
    desktop = console.login("ana").get("/agent").text
    assert f'data-request="{req.id}" data-status="rejected"' in desktop and reason in desktop
    assert "mara" in desktop


def test_only_managers_see_the_queue_and_decide(console: Console) -> None:
    client = agent_with_c1(console)
    offer(console, client, kind="plan", instalments="12", down_payment="100.000", every_days="30")
    (req,) = requests_of(console)
    assert client.get("/offers").status_code == 403
    assert "/offers" not in client.get("/agent").text.split("<main>")[0]  # not in the agent's nav
    csrf = console.csrf("/agent")
    assert client.post(f"/offers/{req.id}/approve", data={"csrf": csrf}).status_code == 403
    console.client.cookies.clear()
    assert console.login("cora").get("/offers").status_code == 403
    manager = as_manager(console)
    assert 'href="/offers"' in manager.get("/dashboard").text  # the manager's navigation
    # CSRF as every form
    assert manager.post(f"/offers/{req.id}/approve", data={}).status_code == 403
    assert requests_of(console)[0].status == "pending" and promises(console) == []


def test_two_supervisors_deciding_at_once_decide_once(console: Console) -> None:
    client = agent_with_c1(console)
    offer(console, client, kind="plan", instalments="12", down_payment="100.000", every_days="30")
    (req,) = requests_of(console)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def approve(who: str) -> None:
        barrier.wait()
        try:
            decide(console.engine, req.id, approve=True, by=who, role="manager", reason="",
                   now=console.clock())  # fmt: skip
            outcomes.append("approved")
        except OfferRefused:
            outcomes.append("refused")

    threads = [threading.Thread(target=approve, args=(who,)) for who in ("mara", "root")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["approved", "refused"]
    assert len(promises(console)) == 12  # one plan, not two
    # and through the console: a decision on a decided request is refused, nothing written
    manager = as_manager(console)
    again = manager.post(f"/offers/{req.id}/reject",
                         data={"csrf": console.csrf("/offers"), "reason": "late"})  # fmt: skip
    assert again.status_code == 409 and "already approved" in again.text
    assert requests_of(console)[0].status == "approved" and len(promises(console)) == 12


def test_the_engines_own_offers_are_inside_and_each_limit_is_named() -> None:
    terms = Offers(
        settlement_discount=(0.10, 0.30),
        plans=(Plan(instalments=3, min_down_payment=0.2, min_instalment=50000),
               Plan(instalments=6, min_down_payment=0.1, min_instalment=80000)),
    )  # fmt: skip
    debts = [Debt("A1", Decimal("1000000"), "COP", 120), Debt("A2", Decimal("500000"), "COP", 10)]
    lim = limits(propose(debts, terms, "COP", TODAY), terms, TODAY)
    assert lim.max_discount == Decimal("0.13")  # 10 % at 90 days, +30 days of a 180-day ramp
    assert lim.settlement is not None
    settled = judge(Ask("settlement", amount=lim.settlement.amount, pay_by=lim.promise_by), lim)
    assert settled.inside
    for p in lim.plans:
        assert p.offer is not None
        asked = Ask("plan", instalments=p.instalments, down_payment=p.min_down_payment,
                    every_days=p.every_days)  # fmt: skip
        assert judge(asked, lim).inside
        assert judge(asked, lim).schedule == p.offer.instalments  # the engine's own schedule
    # 4 payments are governed by the 6-payment plan's terms: 10 % down is enough
    four = judge(Ask("plan", instalments=4, down_payment=Decimal("150000"), every_days=30), lim)
    assert four.inside
    late = judge(Ask("settlement", amount=Decimal("1200000"),
                     pay_by=lim.promise_by + dt.timedelta(days=1)), lim)  # fmt: skip
    assert [(e.limit, e.asked, e.allowed) for e in late.exceeded] == [
        ("settlement_discount", "0.20", "0.13"),
        ("promise_window", "2026-12-25", "2026-12-24"),
    ]


@pytest.mark.parametrize("language", ["es", "pt"])
def test_the_offer_pages_are_translated(console: Console, language: str) -> None:
    client = agent_with_c1(console, language)
    offer(console, client, kind="plan", instalments="12", down_payment="100.000", every_days="45")
    offer(console, client, kind="settlement", amount="2.000.000", pay_by="2026-12-01")
    first, _ = requests_of(console)
    UNTRANSLATED.clear()
    assert client.get("/agent").status_code == 200
    client.cookies.clear()
    manager = console.login("mara")
    saved = manager.post("/profile", data={"csrf": console.csrf("/profile"), "language": language,
                                           "timezone": "America/Bogota"})  # fmt: skip
    assert saved.status_code == 200
    csrf = console.csrf("/offers")
    assert manager.post(f"/offers/{first.id}/reject", data={"csrf": csrf}).status_code == 422
    manager.post(f"/offers/{first.id}/reject", data={"csrf": csrf, "reason": "no"})
    assert f'lang="{language}"' in manager.get("/offers").text
    client.cookies.clear()
    assert 'data-status="rejected"' in console.login("ana").get("/agent").text
    ours = {
        str(m.id)
        for m in extract()
        if m.id and any("offer" in where or "negotiation" in where for where, _ in m.locations)
    }
    assert UNTRANSLATED.get(language, set()) & ours == set()
