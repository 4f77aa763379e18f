"""The compliance officer's timeline, search and abandon rates, as a demanding officer reads them.

- the timeline is one line per ledger event (the attempt written pending, then
  sent, delivered, the reply with what the customer wrote, the STOP), in the
  officer's time zone, escaped and with contact data masked;
- a customer the plan left out shows the stored reason and the rules that blocked them;
- the search folds accents and case, finds ids in part, takes ``%`` and ``_``
  literally and pages its results, with their count;
- abandon rates count a call on its campaign's local day.

Every row comes from the product's own paths: the contact-time guard writes the
attempt, the webhook receiver (Twilio's signed requests, posted to
``create_webhook_app``) its outcomes, the reply and the STOP; the portfolio
loader the customers; ``create_run``/``advance`` the runs; ``record_outcome`` a
call's outcome, as the dial session does.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from fastapi.testclient import TestClient
from twilio.request_validator import RequestValidator

from campaigns.clock import Clock as EventClock
from campaigns.ledger.guard import ContactRequest, guard_and_reserve
from campaigns.ledger.outcomes import record_outcome
from campaigns.run.state import advance, create_run
from campaigns.settings import MessagingSettings
from campaigns.storage.db import alembic_config
from campaigns.storage.models import Customer
from campaigns.webhooks import create_webhook_app
from channels import ChannelSettings, TwilioSettings
from compliance import Proposal, load_packs
from tests.support.portfolio import load_rows, row, us_row
from tests.web.conftest import Console

pytestmark = pytest.mark.redis
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TOKEN = "twilio-auth-token-for-tests"
HOOKS = "https://hooks.example.com"
OUR_NUMBER = "+15005550006"
C1_PHONE = "+573001234567"  # tests.support.portfolio.row's phone_1, in E.164
SUNDAY = dt.date(2026, 11, 22)  # Ley 2300: no collection contact on Sundays
REPLY = "<b>Pago</b> el viernes; escríbanme a maria@example.com o al 310 555 0199"


def twilio_post(console: Console, path: str, params: dict[str, str], at: dt.datetime) -> None:
    """Post a request signed as Twilio signs it to the webhook receiver, its clock at ``at``."""
    settings = MessagingSettings(
        database_url=str(console.engine.url),
        redis_url="redis://127.0.0.1:1/0",  # the Twilio routes use no Redis
        channels=ChannelSettings(
            sendgrid=None, twilio=TwilioSettings("ACtest", TOKEN), payment_link=None
        ),
        webhook_base_url=HOOKS,
    )
    stamps = EventClock(sim_start=at, real_start=time.time())
    app = create_webhook_app(settings, console.engine, event_clock=stamps)
    signature = RequestValidator(TOKEN).compute_signature(HOOKS + path, params)
    with TestClient(app) as hooks:
        response = hooks.post(path, data=params, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 200, response.text


def text_c1(console: Console, at: dt.datetime) -> int:
    """The guard reserves an SMS to C1 (as the message job does); the attempt's id."""
    proposal = Proposal(
        at=at,
        customer_id="C1",
        debt_ids=("A1", "A2"),
        channel="sms",
        timezones=("America/Bogota",),
        contact_point=C1_PHONE,
        line_type="mobile",
        campaign="co-tarjetas",
    )
    packs = tuple(load_packs(("co-ley2300", "house")))
    (result,) = guard_and_reserve(
        console.engine, [ContactRequest("plan:sms1", proposal, packs)], now=at
    )
    assert result.allowed and result.attempt_id is not None, result.decision
    return result.attempt_id


def timeline_rows(html: str) -> list[tuple[str, str]]:
    """(event id, the row's HTML) of each timeline line, in page order."""
    table = html[html.index('id="timeline"') : html.index("</table>")]
    return re.findall(r'<tr class="[^"]*" data-event="([^"]*)">(.*?)</tr>', table, re.S)


def test_one_line_per_ledger_event_with_the_reply_text(console: Console) -> None:
    start = console.clock.now - dt.timedelta(hours=1)  # 09:00 on a Tuesday in Bogotá
    attempt = text_c1(console, start)
    status = f"/webhooks/twilio/status?attempt={attempt}"
    for seconds, state in ((2, "sent"), (5, "delivered")):
        params = {"MessageSid": "SM1", "MessageStatus": state, "To": C1_PHONE,
                  "From": OUR_NUMBER, "AccountSid": "ACtest"}  # fmt: skip
        twilio_post(console, status, params, start + dt.timedelta(seconds=seconds))
    inbound = "/webhooks/twilio/inbound"
    for minutes, sid, body in ((10, "SMr1", REPLY), (20, "SMr2", "STOP")):
        params = {"MessageSid": sid, "From": C1_PHONE, "To": OUR_NUMBER, "Body": body,
                  "AccountSid": "ACtest"}  # fmt: skip
        twilio_post(console, inbound, params, start + dt.timedelta(minutes=minutes))

    client = console.login("cora")
    csrf = console.csrf("/profile")
    saved = client.post(
        "/profile",
        data={"csrf": csrf, "language": "en", "timezone": "America/Bogota"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    page = client.get("/compliance/customer/C1").text
    lines = timeline_rows(page)
    assert len(lines) == 5, lines  # pending, sent, delivered, replied, opt-out
    ids = [int(i) for i, _ in lines]
    assert ids == sorted(ids) and ids[0] == attempt
    cells = [re.sub(r"<[^>]+>", " ", html) for _, html in lines]
    statuses = [" ".join(re.findall(r'class="status">(.*?)</td>', html, re.S)[0].split())
                for _, html in lines]  # fmt: skip
    assert [s.split("<")[0].strip() for s in statuses] == [
        "pending",
        "sent",
        "delivered",
        "replied",
        "",
    ]
    assert "opt-out" in cells[4] and "reason: keyword" in cells[4] and "STOP" in cells[4]
    assert all(f"outcome of {attempt}" in c for c in cells[1:4])
    # times in the officer's zone, each event at its own time
    assert "2026-11-24 09:00:00 America/Bogota" in cells[0]
    assert "2026-11-24 09:00:05 America/Bogota" in cells[2]
    assert "2026-11-24 09:10:00 America/Bogota" in cells[3]
    # the attempt carries the guard's decision, with the rules' citations
    assert "<summary>allowed</summary>" in lines[0][1] and "Ley 2300" in lines[0][1]
    # the reply's text: escaped, its email and phone masked as the page masks contact data
    reply = lines[3][1]
    assert "&lt;b&gt;Pago&lt;/b&gt; el viernes" in reply and "<b>Pago" not in page
    assert "maria@example.com" not in page and "m•••@example.com" in reply
    assert "310 555 0199" not in page and "•••199" in reply
    assert C1_PHONE not in page and "+57•••••••567" in lines[0][1]
    # the evidence file has the same lines, the reply's words included
    csv_lines = client.get("/compliance/customer/C1/timeline.csv").text.strip().splitlines()
    assert len(csv_lines) == 6 and "escríbanme" in csv_lines[4] and ",replied," in csv_lines[4]


def make_run(console: Console, campaign: str, day: dt.date) -> int:
    """A run of ``campaign`` for ``day``, planned as ``cadencia run`` plans it (no queues)."""
    now = console.clock.now - dt.timedelta(hours=2)
    run_id = create_run(
        console.engine, EXAMPLES / f"{campaign}.toml", day, needs_approval=False, now=now
    )
    advance(console.engine, run_id, now=now)
    return run_id


def test_a_left_out_customer_shows_the_reason_and_the_rules(console: Console) -> None:
    run_id = make_run(console, "co-tarjetas", SUNDAY)
    client = console.login("cora")
    page = client.get("/compliance/customer/C1").text
    empty = page[page.index('id="no-contact"') : page.index("</table>")]
    assert "No contact recorded." not in page
    assert "the co-tarjetas plan of Sun 22 Nov 2026 left this customer out" in empty
    assert "compliance-blocked" in empty
    plans = page[page.index('id="plans"') :]
    assert f'data-run="{run_id}"' in plans and "Left out:" in plans
    assert "co-horario" in plans and "Ley 2300 de 2023, art. 3" in plans
    holdout = client.get("/compliance/customer/C2").text
    assert "holdout: kept uncontacted to measure uplift" in holdout


def many_customers() -> list[dict[str, str]]:
    """120 customers named Núñez, and a few whose names hold ``%``, ``_`` or Portuguese accents."""
    rows = [
        row(customer_id=f"N{i:03d}", customer_name=f"Cliente {i:03d} NÚÑEZ",
            account_id=f"NA{i:03d}", phone_1=f"300 555 {i:04d}", email=f"n{i}@example.com")
        for i in range(1, 121)
    ]  # fmt: skip
    extra = (("P1", "Ana 100% Pago"), ("P2", "Luis Pago_Total"), ("P3", "João Gonçalves"))
    for n, (cid, name) in enumerate(extra):
        rows.append(
            row(customer_id=cid, customer_name=name, account_id=f"PA{n}",
                phone_1=f"301 555 {n:04d}", email=f"p{n}@example.com")
        )  # fmt: skip
    return rows


def hits(html: str) -> list[str]:
    """The customer ids a search page lists."""
    return re.findall(r'<li><a href="/compliance/customer/([^"]+)">', html)


def test_search_folds_accents_pages_and_takes_wildcards_literally(console: Console) -> None:
    load_rows(console.engine, many_customers(), console.clock.now)
    client = console.login("cora")
    first = client.get("/compliance", params={"q": "nunez"}).text
    assert "Showing 1–50 of 121" in first  # the 120 and María José Núñez
    assert len(hits(first)) == 50 and 'rel="next"' in first and 'rel="prev"' not in first
    assert 'href="/compliance?q=nunez&amp;page=2"' in first
    last = client.get("/compliance", params={"q": "NÚÑEZ", "page": "3"}).text
    assert "Showing 101–121 of 121" in last and len(hits(last)) == 21
    assert 'rel="prev"' in last and 'rel="next"' not in last
    every = set()
    for page in (1, 2, 3):
        every |= set(hits(client.get("/compliance", params={"q": "nunez", "page": page}).text))
    assert len(every) == 121 and "C1" in every
    assert hits(client.get("/compliance", params={"q": "joao goncalves"}).text) == ["P3"]
    assert hits(client.get("/compliance", params={"q": "%"}).text) == ["P1"]
    assert hits(client.get("/compliance", params={"q": "_"}).text) == ["P2"]
    assert hits(client.get("/compliance", params={"q": "100%"}).text) == ["P1"]
    partial = hits(client.get("/compliance", params={"q": "n00"}).text)
    assert partial == [f"N00{i}" for i in range(1, 10)]
    exact = hits(client.get("/compliance", params={"q": "C2"}).text)
    assert exact == ["C2"]
    nothing = client.get("/compliance", params={"q": "<script>"}).text
    assert "No customer matches." in nothing and "<script>" not in nothing
    assert 'value="&lt;script&gt;"' in nothing


def test_the_migration_folds_the_names_already_loaded(console: Console) -> None:
    url = console.engine.url.render_as_string(hide_password=False)
    command.downgrade(alembic_config(url), "0016")
    command.upgrade(alembic_config(url), "head")
    with console.engine.connect() as conn:
        folded = dict(conn.execute(sa.select(Customer.external_id, Customer.name_folded)).all())
    assert folded == {"C1": "maria jose nunez", "C2": "jorge perez"}
    client = console.login("cora")
    assert hits(client.get("/compliance", params={"q": "Jose NUNEZ"}).text) == ["C1"]


def call(console: Console, customer: str, phone: str, at: dt.datetime, outcome: str | None) -> None:
    """A call the guard allows and the dial session settles with ``outcome`` (None: ringing)."""
    proposal = Proposal(
        at=at,
        customer_id=customer,
        debt_ids=(f"{customer}A",),
        channel="voice",
        timezones=("America/New_York",),
        contact_point=phone,
        line_type="landline",
        campaign="us-cards",
    )
    packs = tuple(load_packs(("us-regf", "house")))
    key = f"plan:{customer}-{at.isoformat()}"
    (result,) = guard_and_reserve(console.engine, [ContactRequest(key, proposal, packs)], now=at)
    assert result.allowed and result.attempt_id is not None, result.decision
    if outcome is None:
        return
    done = at + dt.timedelta(seconds=30)
    record_outcome(console.engine, result.attempt_id, outcome, at=done, now=done)


def test_abandons_count_on_the_campaigns_local_day(console: Console) -> None:
    load_rows(
        console.engine,
        [
            us_row(customer_id="U1", account_id="U1A"),
            us_row(customer_id="U2", account_id="U2A", phone_1="(212) 555-0124",
                   email="u2@example.com"),
        ],
        console.clock.now,
    )  # fmt: skip
    create_run(
        console.engine,
        EXAMPLES / "us-cards.toml",
        dt.date(2026, 11, 24),
        needs_approval=True,
        now=console.clock.now,
    )  # fmt: skip  (the run stores the campaign's zone: America/New_York)
    evening = dt.datetime(2026, 11, 25, 1, 30, tzinfo=dt.UTC)  # 20:30 on the 24th in New York
    call(console, "U1", "+12125550123", evening, "abandoned")
    call(console, "U2", "+12125550124", evening + dt.timedelta(minutes=10), "conversation")
    # still ringing: neither live nor abandoned yet (not counted at its worst case)
    call(console, "U1", "+12125550123", evening + dt.timedelta(minutes=20), None)
    client = console.login("cora")
    page = client.get("/compliance/audit", params={"since": "2026-11-24", "until": "2026-11-24"})
    table = page.text[page.text.index('id="abandon"') : page.text.index('id="optouts"')]
    assert re.search(
        r"us-cards</td><td>2026-11-24</td><td[^>]*>2</td><td[^>]*>1</td>"
        r"<td[^>]*>50\.00</td><td>America/New_York</td>",
        table,
    ), table
    next_day = client.get(
        "/compliance/audit", params={"since": "2026-11-25", "until": "2026-11-25"}
    ).text
    assert "us-cards</td><td>2026-11-25" not in next_day
