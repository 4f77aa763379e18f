"""The supervisor's wallboard on a real planned run, a real callback and the agent board."""

from __future__ import annotations

import datetime as dt

import pytest

from campaigns.agents.disposition import check_callback, parse_form, save_disposition
from campaigns.agents.events import AgentCall
from campaigns.portfolio.view import customer_360
from tests.web.conftest import Console
from tests.web.test_pages import planned_run

pytestmark = pytest.mark.redis


def test_the_wallboard_shows_each_campaign_now_and_only_to_managers(console: Console) -> None:
    run_id, _ = planned_run(console)
    now = console.clock.now
    # An agent's call with C1 ends in a callback 10 minutes from now, saved as the desktop does.
    call = AgentCall("agent1", "wrap", None, customer_id="C1", run_id=run_id,
                     campaign="co-tarjetas")  # fmt: skip
    local = (now + dt.timedelta(minutes=10)).astimezone(dt.timezone(dt.timedelta(hours=-5)))
    form = parse_form(
        {"party": "right", "result": "callback", "callback_at": local.strftime("%Y-%m-%dT%H:%M")},
        customer_360(console.engine, "C1"),
        now=now,
    )
    assert form.callback_at is not None
    decision = check_callback(console.engine, call, form.callback_at)
    assert decision.allowed, decision
    save_disposition(console.engine, call, form, now=now, callback_decision=decision)

    client = console.login("mara")
    page = client.get("/wallboard")
    assert page.status_code == 200 and "co-tarjetas" in page.text
    assert "not dialing now" in page.text and "/static/wallboard.js" in page.text
    data = client.get("/wallboard/data.json").json()
    (campaign,) = data["campaigns"]
    assert campaign["run_id"] == run_id and campaign["dialing"] is False
    assert campaign["ringing"] == 0 and campaign["waiting"] == 0
    assert campaign["abandon_target_pct"] == 3.0 and campaign["over_budget"] is False
    assert campaign["callbacks"] == {"overdue": 0, "next_hour": 1}
    assert data["inbound"] == [] and data["agents"] == []
    # Eleven minutes later the callback is due and not yet dialed: overdue.
    console.clock.now = now + dt.timedelta(minutes=11)
    later = client.get("/wallboard/data.json").json()
    assert later["campaigns"][0]["callbacks"] == {"overdue": 1, "next_hour": 0}

    console.client.cookies.clear()
    agent = console.login("beto")
    assert agent.get("/wallboard").status_code == 403
    assert agent.get("/wallboard/data.json").status_code == 403
