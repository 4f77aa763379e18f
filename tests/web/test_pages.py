"""The dashboard and the compliance pages on a real planned run and real ledger rows."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from campaigns.ledger.guard import ContactRequest, GuardResult, guard_and_reserve
from campaigns.ledger.outcomes import record_outcome
from campaigns.run.state import advance, create_run
from campaigns.run.stored import plan_key
from campaigns.storage.models import ContactPoint, PlannedContact
from compliance import Proposal, load_packs
from tests.web.conftest import Console, pending_call

pytestmark = pytest.mark.redis
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def planned_run(console: Console) -> tuple[int, int]:
    """Today's co-tarjetas run, planned and approved; (run id, a planned voice contact of C1)."""
    now = console.clock.now
    run_id = create_run(
        console.engine, EXAMPLES / "co-tarjetas.toml", now.date(), needs_approval=False, now=now
    )
    assert advance(console.engine, run_id, now=now) == "approved"
    with console.engine.connect() as conn:
        planned = (
            conn.execute(
                sa.select(PlannedContact.id).where(
                    PlannedContact.run_id == run_id, PlannedContact.channel == "voice"
                )
            )
            .scalars()
            .first()
        )
    assert planned is not None, "the example campaign plans at least one call"
    return run_id, int(planned)


def test_dashboard_follows_the_day(console: Console) -> None:
    run_id, planned = planned_run(console)
    client = console.login("mara")
    page = client.get("/dashboard")
    assert "co-tarjetas" in page.text and f"/runs/{run_id}/report" in page.text
    before = client.get("/dashboard/data.json").json()
    (run,) = before["runs"]
    assert run["actual"].get("voice", 0) == 0 and run["planned"]["voice"] >= 1
    assert before["promises"] == {} and before["agents"] == [] and before["effectiveness"] == []

    # The guard reserved the planned call (the dial session's first step). Agents
    # on the board come from the dial session's own events: see
    # tests/dialing/test_agent_events.py and the browser shift.
    pending_call(console.engine, "C1", console.clock.now, plan_key(planned))
    after = client.get("/dashboard/data.json").json()
    assert after["runs"][0]["actual"]["voice"] == 1
    assert after["runs"][0]["execution"]["pending"] == 1
    assert sum(after["runs"][0]["execution"].values()) == sum(run["execution"].values())
    png = client.get(f"/dashboard/run/{run_id}/progress.png")
    assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG")
    report = client.get(f"/runs/{run_id}/report")
    assert report.status_code == 200 and "co-tarjetas" in report.text
    assert "customers called the company." in report.text  # the inbound section
    assert client.get("/dashboard/run/999/progress.png").status_code == 404


def guard(console: Console, key: str, at: dt.datetime) -> GuardResult:
    """Ask the contact-time guard for a call to C1, as the dial session does."""
    proposal = Proposal(
        at=at,
        customer_id="C1",
        debt_ids=("A1", "A2"),
        channel="voice",
        timezones=("America/Bogota",),
        contact_point="+573001234567",
        line_type="mobile",
        campaign="co-tarjetas",
    )
    packs = tuple(load_packs(("co-ley2300", "house")))
    (result,) = guard_and_reserve(console.engine, [ContactRequest(key, proposal, packs)], now=at)
    return result


def test_compliance_audit_ledger_and_search(console: Console) -> None:
    at = console.clock.now - dt.timedelta(hours=1)  # 09:00 on a Tuesday in Bogotá
    assert guard(console, "plan:x", at).allowed
    assert not guard(console, "plan:y", at + dt.timedelta(minutes=1)).allowed  # in flight
    client = console.login("cora")
    found = client.get("/compliance", params={"q": "Núñez"})
    # C2 by its link, not by the bare text: a random CSRF token can contain "C2"
    assert "/compliance/customer/C1" in found.text
    assert "/compliance/customer/C2" not in found.text
    timeline = client.get("/compliance/customer/C1")
    assert "pending" in timeline.text and "co-tarjetas" in timeline.text
    # both rule decisions are evidence: the allowed attempt and the refused one
    assert timeline.text.count("<summary>allowed</summary>") == 1
    assert timeline.text.count("<summary>refused</summary>") == 1
    assert "cadencia-in-flight" in timeline.text and "ley" in timeline.text.lower()
    csv_rows = client.get("/compliance/customer/C1/timeline.csv").text.strip().splitlines()
    assert len(csv_rows) == 3 and ",refused,voice," in csv_rows[2]
    assert client.get("/compliance/customer/NOPE").status_code == 404
    audit = client.get("/compliance/audit")
    assert audit.status_code == 200
    assert "1 attempts re-judged; <strong>0</strong> findings (none, as expected)" in audit.text
    assert "Abandon rate by campaign and day" in audit.text
    csv_text = client.get("/compliance/audit/findings.csv").text
    assert csv_text.strip() == "event_id,at,customer_id,channel,packs,kind,failed_rules"
    assert client.get("/compliance/audit", params={"since": "2026-13-01"}).status_code == 400
    ledger = client.get("/compliance/ledger")  # checks run in a worker: test_ledger_checks.py
    assert ledger.status_code == 200 and 'id="ledger-verify"' in ledger.text


def test_audit_shows_abandon_rates_and_opt_outs(console: Console) -> None:
    day = console.clock.now - dt.timedelta(hours=3)
    outcomes = ["conversation", "abandoned", "wrong_party", "abandoned", "no_answer"]
    for n, outcome in enumerate(outcomes):
        at = day + dt.timedelta(minutes=n)
        attempt = pending_call(console.engine, "C2", at, f"plan:ab{n}")
        record_outcome(console.engine, attempt, outcome, at=at, now=at)
    with console.engine.begin() as conn:
        conn.execute(
            sa.update(ContactPoint)
            .where(ContactPoint.kind == "email")
            .values(opted_out_at=console.clock.now - dt.timedelta(days=1))
        )
    client = console.login("cora")
    page = client.get("/compliance/audit").text
    table = page[page.index('id="abandon"') : page.index('id="optouts"')]
    # live calls: conversation, wrong party and the two abandoned (no answer is not live)
    assert re.search(
        r"co-tarjetas</td><td>2026-11-24</td><td[^>]*>4</td><td[^>]*>2</td>"
        r"<td[^>]*>50\.00</td>",
        table,
    ), table
    optouts = page[page.index('id="optouts"') :]
    assert optouts.count("/compliance/customer/C") == 2  # each customer's email
