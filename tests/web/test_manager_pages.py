"""The manager's workspace: runs by campaign and day, the run page and its actions, lookups.

Runs are made by the product's own code (``create_run``/``advance``, as
``cadencia run`` does) on the console fixture's portfolio; the actions go
through the pages, with the CSRF token a browser would send, and are checked
in the core's state and in the ``run_actions`` record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from cadencia.console.i18n import money
from campaigns.run.state import advance, create_run, status
from campaigns.storage.models import PlannedContact, RunAction
from tests.web.conftest import Console

pytestmark = pytest.mark.redis
CAMPAIGN = Path(__file__).resolve().parents[2] / "examples" / "co-tarjetas.toml"
TODAY = dt.date(2026, 11, 24)  # tests.web.conftest.NOW's day, a Tuesday
YESTERDAY = TODAY - dt.timedelta(days=1)
SUNDAY = dt.date(2026, 11, 22)  # Ley 2300: no collection contact on Sundays


@pytest.fixture()
def queues(console: Console) -> Iterator[None]:
    """Delete the RQ jobs and hoppers a launch from the console leaves in the test's Redis DB."""
    before = set(console.redis.keys("*"))
    yield
    new = [k for k in console.redis.keys("*") if k not in before and not k.startswith(b"cadencia-")]
    if new:
        console.redis.delete(*new)


def make_run(console: Console, day: dt.date, *, needs_approval: bool, **kw: object) -> int:
    """A run of the example campaign for ``day``, advanced as ``cadencia run`` would (no queues)."""
    now = console.clock.now - dt.timedelta(hours=2)
    run_id = create_run(console.engine, CAMPAIGN, day, needs_approval=needs_approval, now=now)
    advance(console.engine, run_id, now=now, **kw)  # type: ignore[arg-type]
    return run_id


def post(console: Console, path: str, csrf: str | None) -> object:
    data = {} if csrf is None else {"csrf": csrf}
    return console.client.post(path, data=data, follow_redirects=False)


def actions(console: Console, run_id: int) -> list[RunAction]:
    with console.engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(RunAction.__table__).where(RunAction.run_id == run_id).order_by("id")
            )
        )


def test_runs_by_campaign_and_day(console: Console) -> None:
    yesterday = make_run(console, YESTERDAY, needs_approval=False)
    today = make_run(console, TODAY, needs_approval=True)
    client = console.login("mara")
    page = client.get("/runs")
    assert page.status_code == 200
    assert 'href="/runs"' in page.text and 'href="/customers/lookup"' in page.text  # navigation
    assert f'href="/runs/{yesterday}"' in page.text and f'href="/runs/{today}"' in page.text
    assert "awaiting approval" in page.text and 'type="date"' in page.text
    assert "Mon 23 Nov 2026" in page.text and "Tue 24 Nov 2026" in page.text

    one_day = client.get(f"/runs?day={YESTERDAY}&campaign=co-tarjetas")
    assert f'href="/runs/{yesterday}"' in one_day.text
    assert f'href="/runs/{today}"' not in one_day.text
    assert f'value="{YESTERDAY}"' in one_day.text  # the picker keeps the chosen day

    other = client.get("/runs?campaign=us-cards")
    assert "No run of us-cards" in other.text
    bad = client.get("/runs?day=yesterday")
    assert bad.status_code == 422 and "is not a date" in bad.text


def test_run_page_is_the_plan_review(console: Console) -> None:
    run_id = make_run(console, TODAY, needs_approval=True)
    client = console.login("mara")
    page = client.get(f"/runs/{run_id}")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    text = page.text
    assert f"Run {run_id}: co-tarjetas, Tue 24 Nov 2026" in text
    assert "Plan review" in text and "Money collected per arm" in text
    assert "95% interval" in text or "too few customers" in text  # the verdict sentence
    assert "Plan and execution" in text and "How good the plan is" in text and "Agents" in text
    for term in ("Upper bound", "Gap", "Shadow price"):
        assert f"<strong>{term}</strong>" in text  # the one-line glossary
    plan = status(console.engine, run_id).summary
    assert money(plan["objective"], "COP", "en") in text  # currency and separators
    assert "data:image/png;base64," in text  # the report's charts
    assert "Approve and launch" in text and "Cancel run" in text and "Launch<" not in text
    assert 'href="/customers/lookup?customer_id=C2"' in text  # the holdout, left out
    assert client.get(f"/runs/{run_id}/report", follow_redirects=False).headers["location"] == (
        f"/runs/{run_id}"
    )


def test_each_role_sees_what_it_may(console: Console) -> None:
    run_id = make_run(console, TODAY, needs_approval=True)
    pages = ("/runs", f"/runs/{run_id}", "/customers/lookup?customer_id=C1")
    anonymous = console.client.get("/runs", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login?next=/runs"
    assert console.client.post(f"/runs/{run_id}/approve").status_code == 401

    console.login("ana")  # an agent
    for path in pages:
        refused = console.client.get(path)
        assert refused.status_code == 403 and "Not allowed" in refused.text, path

    console.login("cora")  # compliance reads runs, acts on none, looks up in its own pages
    assert console.client.get("/runs").status_code == 200
    read_only = console.client.get(f"/runs/{run_id}")
    assert read_only.status_code == 200 and "Approve and launch" not in read_only.text
    assert console.client.get(pages[2]).status_code == 403
    csrf = console.csrf("/runs")
    assert post(console, f"/runs/{run_id}/approve", csrf).status_code == 403  # type: ignore[attr-defined]
    assert status(console.engine, run_id).state == "awaiting_approval"

    console.login("root")  # admin: everything
    for path in pages:
        assert console.client.get(path).status_code == 200, path
    assert "Approve and launch" in console.client.get(pages[1]).text


@pytest.mark.parametrize(
    "path",
    [
        "/runs/abc",
        "/runs/abc/report",
        "/runs/0",
        "/runs/-1",
        "/runs/99999999999999999999",
        "/runs/999",
        "/runs/999/report",
    ],
)
def test_bad_run_ids_get_a_page_with_navigation(console: Console, path: str) -> None:
    make_run(console, TODAY, needs_approval=True)
    console.login("mara")
    page = console.client.get(path)  # /runs/999/report redirects to /runs/999
    assert page.status_code == 404, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert "<nav>" in page.text and 'href="/runs"' in page.text and "Log out" in page.text
    assert "Traceback" not in page.text and '"detail"' not in page.text


def test_a_bad_chart_id_is_a_404_page_not_json(console: Console) -> None:
    console.login("mara")
    chart = console.client.get("/dashboard/run/abc/progress.png")
    assert chart.status_code == 404 and chart.headers["content-type"].startswith("text/html")


def test_bad_actions_get_a_page_too(console: Console) -> None:
    run_id = make_run(console, TODAY, needs_approval=True)
    console.login("mara")
    csrf = console.csrf("/runs")
    for path in ("/runs/abc/approve", f"/runs/{run_id}/explode", "/runs/999/approve"):
        page = post(console, path, csrf)
        assert page.status_code == 404, path  # type: ignore[attr-defined]
        assert "<nav>" in page.text  # type: ignore[attr-defined]
    assert status(console.engine, run_id).state == "awaiting_approval"


def test_approve_runs_the_core_and_records_who(console: Console, queues: None) -> None:
    run_id = make_run(console, TODAY, needs_approval=True)
    console.login("mara")
    assert post(console, f"/runs/{run_id}/approve", None).status_code == 403  # type: ignore[attr-defined]
    assert status(console.engine, run_id).state == "awaiting_approval" and not actions(
        console, run_id
    )

    csrf = console.csrf(f"/runs/{run_id}")
    done = post(console, f"/runs/{run_id}/approve", csrf)
    assert done.status_code == 303  # type: ignore[attr-defined]
    # approve + advance with the queues, as `cadencia run approve` does.
    assert status(console.engine, run_id).state == "executing"
    with console.engine.connect() as conn:
        sent = conn.execute(
            sa.select(PlannedContact.status).where(PlannedContact.run_id == run_id)
        ).scalars()
        assert set(sent) == {"dispatched"}
    assert any(k.startswith(b"rq:") for k in console.redis.keys("*"))  # jobs on the queues
    (record,) = actions(console, run_id)
    assert (record.username, record.role, record.action) == ("mara", "manager", "approve")
    assert (record.state_before, record.state_after, record.error) == (
        "awaiting_approval",
        "executing",
        None,
    )
    page = console.client.get(done.headers["location"])  # type: ignore[attr-defined]
    assert "Approve by mara: the run is now executing" in page.text
    assert "Approve and launch" not in page.text and "Resume" in page.text

    again = post(console, f"/runs/{run_id}/approve", csrf)
    assert again.status_code == 409 and "approve is not possible now" in again.text  # type: ignore[attr-defined]
    refused = actions(console, run_id)[-1]
    assert refused.error and refused.state_after == "executing" and refused.username == "mara"


def test_cancel_launch_and_resume(console: Console, queues: None) -> None:
    waiting = make_run(console, TODAY, needs_approval=True)
    stopped = make_run(
        console, TODAY + dt.timedelta(days=1), needs_approval=False, stop_at="planned"
    )
    approved = make_run(console, TODAY + dt.timedelta(days=2), needs_approval=False)
    assert [status(console.engine, r).state for r in (waiting, stopped, approved)] == [
        "awaiting_approval",
        "planned",
        "approved",
    ]
    console.login("mara")
    csrf = console.csrf("/runs")
    assert "Launch<" in console.client.get(f"/runs/{approved}").text
    assert "Resume" in console.client.get(f"/runs/{stopped}").text

    assert post(console, f"/runs/{waiting}/cancel", csrf).status_code == 303  # type: ignore[attr-defined]
    assert status(console.engine, waiting).state == "cancelled"
    assert advance(console.engine, waiting, now=console.clock.now) == "cancelled"  # final
    with console.engine.connect() as conn:
        left = conn.execute(
            sa.select(PlannedContact.status).where(PlannedContact.run_id == waiting)
        ).scalars()
        assert set(left) <= {"dropped"}
    cancelled_page = console.client.get(f"/runs/{waiting}").text
    assert "Cancel by mara" not in cancelled_page  # no ?done: no notice
    assert "Cancel run" not in cancelled_page and "nothing of this plan was sent" in cancelled_page

    assert post(console, f"/runs/{stopped}/resume", csrf).status_code == 303  # type: ignore[attr-defined]
    assert post(console, f"/runs/{approved}/launch", csrf).status_code == 303  # type: ignore[attr-defined]
    assert status(console.engine, stopped).state == "executing"
    assert status(console.engine, approved).state == "executing"
    late = post(console, f"/runs/{approved}/cancel", csrf)
    assert late.status_code == 409 and "cancel is not possible now" in late.text  # type: ignore[attr-defined]
    assert [(a.action, a.username, a.error is None) for a in actions(console, approved)] == [
        ("launch", "mara", True),
        ("cancel", "mara", False),
    ]


def test_customer_lookup_says_planned_or_why_not(console: Console) -> None:
    sunday = make_run(console, SUNDAY, needs_approval=False)
    monday = make_run(console, YESTERDAY, needs_approval=False)
    client = console.login("mara")
    page = client.get("/customers/lookup?customer_id=C1")
    assert page.status_code == 200
    text = page.text
    assert f'href="/runs/{monday}"' in text and f'href="/runs/{sunday}"' in text
    assert text.index(f'href="/runs/{monday}"') < text.index(f'href="/runs/{sunday}"')
    assert "voice" in text and "(America/Bogota)" in text  # planned: channel and hour
    # Sunday: left out for compliance, with the rule and its statute.
    assert "compliance-blocked" in text
    assert (
        "co-horario" in text and "Ley 2300 de 2023, art. 3" in text and "no contact on sun" in text
    )

    holdout = client.get("/customers/lookup?customer_id=C2").text
    assert "holdout: kept uncontacted to measure uplift" in holdout
    unknown = client.get("/customers/lookup?customer_id=C999")
    assert unknown.status_code == 404 and "No customer “C999”" in unknown.text
    assert client.get("/customers/lookup").status_code == 200  # the empty form
