"""Compliance officers' commands: what-if checks, ledger interchange, audits."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import sqlalchemy as sa
from typer.testing import CliRunner

from cadencia.cli import app
from campaigns.ledger.guard import ContactRequest, guard_and_reserve
from campaigns.ledger.outcomes import record_outcome
from campaigns.storage.db import make_engine, migrate
from compliance import Proposal, load_packs
from tests.support.portfolio import load_rows, us_row

runner = CliRunner()
MONDAY_NY = dt.datetime(2026, 11, 16, 15, 0, tzinfo=dt.UTC)  # 10:00 in New York


def cadencia(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def call(
    day: int, outcome: str = "no_answer", debt: str = "UA1", hours: int = 0
) -> dict[str, object]:
    at = MONDAY_NY + dt.timedelta(days=day, hours=hours)
    return {
        "at": at.isoformat(),
        "customer_id": "U1",
        "debt_ids": [debt],
        "channel": "voice",
        "direction": "outbound",
        "kind": "attempt",
        "outcome": outcome,
    }


def write_jsonl(path: Path, events: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    return path


def test_what_if_check_reports_every_rule_and_exit_code(tmp_path: Path) -> None:
    consent = {
        "at": "2025-01-01T00:00:00+00:00",
        "customer_id": "U1",
        "debt_ids": [],
        "channel": "voice",
        "direction": "inbound",
        "kind": "consent",
        "granted": True,
    }
    history = write_jsonl(tmp_path / "h.jsonl", [consent] + [call(d) for d in range(7)])
    proposal = tmp_path / "p.json"
    proposal.write_text(
        json.dumps(
            {
                "at": "2026-11-22T16:00:00+00:00",
                "customer_id": "U1",
                "debt_ids": ["UA1"],
                "channel": "voice",
                "timezones": ["America/New_York"],
            }
        )
    )
    # Sunday 22 Nov: the 7 calls of 16-22 Nov (Mon..Sun) fill 1006.14(b)(2)(i)(A)'s 7 in 7 days.
    code, out, _ = cadencia(
        "compliance",
        "check",
        "--pack",
        "us-regf,house",
        "--history",
        str(history),
        "--proposal",
        str(proposal),
        "--json",
    )
    decision = json.loads(out)
    assert code == 3 and decision["allowed"] is False
    failed = [r["rule"] for r in decision["rules"] if not r["ok"]]
    assert failed == ["regf-call-frequency"]
    assert all({"rule", "citation", "ok", "detail"} == set(r) for r in decision["rules"])


def test_ledger_import_is_all_or_nothing_and_idempotent(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/t.db"
    migrate(db)
    bad = write_jsonl(tmp_path / "bad.jsonl", [call(0), {**call(1), "channel": "fax"}])
    code, _, err = cadencia("--db", db, "ledger", "import", str(bad))
    assert code == 1 and f"{bad}:2: channel: must be one of voice|sms|whatsapp|email" in err
    good = write_jsonl(tmp_path / "good.jsonl", [call(0), call(1, "busy")])
    code, out, _ = cadencia("--db", db, "ledger", "import", str(good), "--json")
    assert code == 0 and json.loads(out)["new"] == 2
    code, out, _ = cadencia("--db", db, "ledger", "import", str(good), "--json")
    assert json.loads(out) == {"ok": True, "events": 2, "new": 0, "already_present": 2}
    exported = tmp_path / "out.jsonl"
    assert cadencia("--db", db, "ledger", "export", "-o", str(exported))[0] == 0
    assert [json.loads(line) for line in exported.read_text().splitlines()] == [
        call(0),
        call(1, "busy"),
    ]


def test_audit_finds_imported_violation_and_clean_guarded_contacts(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/t.db"
    migrate(db)
    engine = make_engine(db)
    load_rows(engine, [us_row(phone_1_consent="granted", consent_at="2025-01-01")], now=MONDAY_NY)
    engine.dispose()
    # Eight calls about one debt in seven days: the eighth breaks 1006.14(b)(2)(i)(A).
    history = write_jsonl(tmp_path / "h.jsonl", [call(d) for d in range(7)] + [call(6, hours=2)])
    assert cadencia("--db", db, "ledger", "import", str(history))[0] == 0
    code, out, _ = cadencia(
        "--db",
        db,
        "audit",
        "violations",
        "--from",
        "2026-11-16",
        "--to",
        "2026-11-24",
        "--pack",
        "us-regf",
        "--json",
    )
    report = json.loads(out)
    assert code == 1 and report["checked"] == 8
    (finding,) = report["findings"]  # only the eighth call
    assert finding["kind"] == "violation" and finding["at"] == "2026-11-22T17:00:00+00:00"
    assert [r["rule"] for r in finding["failed_rules"]] == ["regf-call-frequency"]


def test_guarded_contacts_audit_clean_and_timeline_shows_them(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/t.db"
    migrate(db)
    engine = make_engine(db)
    load_rows(engine, [us_row(phone_1_consent="granted")], now=MONDAY_NY)
    request = ContactRequest(
        "r1",
        Proposal(
            at=MONDAY_NY,
            customer_id="U1",
            debt_ids=("UA1",),
            channel="voice",
            timezones=("America/New_York",),
            contact_point="+12125550123",
        ),
        load_packs("us-regf"),
    )
    (result,) = guard_and_reserve(engine, [request], now=MONDAY_NY)
    assert result.allowed and result.attempt_id is not None
    record_outcome(
        engine,
        result.attempt_id,
        "conversation",
        at=MONDAY_NY,
        now=MONDAY_NY,
        duration_s=95.0,
        agent="agent7",
    )
    engine.dispose()
    code, out, _ = cadencia(
        "--db", db, "audit", "violations", "--from", "2026-11-16", "--to", "2026-11-17", "--json"
    )
    assert code == 0 and json.loads(out) == {"checked": 1, "findings": []}
    code, out, _ = cadencia("--db", db, "audit", "contacts", "--customer", "U1", "--format", "csv")
    lines = out.strip().splitlines()
    assert code == 0 and lines[0].startswith("at,channel,direction,kind,outcome")
    attempt_lines = [line for line in lines if ",attempt," in line]
    assert (
        len(attempt_lines) == 1
        and ",conversation," in attempt_lines[0]
        and "agent7" in attempt_lines[0]
    )


def test_audit_verify_exits_non_zero_on_a_tampered_ledger(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/t.db"
    migrate(db)
    history = write_jsonl(tmp_path / "h.jsonl", [call(0), call(1)])
    cadencia("--db", db, "ledger", "import", str(history))
    code, out, _ = cadencia("--db", db, "audit", "verify", "--json")
    assert code == 0 and json.loads(out)["ok"] is True
    engine = make_engine(db)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE contact_events SET outcome = 'busy' WHERE id = 1"))
    engine.dispose()
    code, _, err = cadencia("--db", db, "audit", "verify")
    assert code == 1 and "ledger BROKEN at event 1: this row was edited" in err


def test_frequency_histogram_shows_how_close_each_debt_came_to_its_cap(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/t.db"
    migrate(db)
    engine = make_engine(db)
    load_rows(engine, [us_row(phone_1_consent="granted", consent_at="2025-01-01")], now=MONDAY_NY)
    engine.dispose()
    # UA1: seven calls in seven days (at the cap), one of them busy (not counted by
    # 1006.14(b)(2)(i)(A)), so its peak is 6; UA2: two calls.
    events = [call(d) for d in range(6)] + [call(6, "busy")]
    events += [call(0, debt="UA2", hours=1), call(1, debt="UA2", hours=1)]
    assert (
        cadencia("--db", db, "ledger", "import", str(write_jsonl(tmp_path / "h.jsonl", events)))[0]
        == 0
    )
    code, out, _ = cadencia(
        "--db",
        db,
        "audit",
        "frequency",
        "--from",
        "2026-11-16",
        "--to",
        "2026-11-24",
        "--pack",
        "us-regf",
        "--json",
    )
    assert code == 0
    (regf,) = [r for r in json.loads(out) if r["rule"] == "regf-call-frequency"]
    assert (regf["cap"], regf["scope"], regf["channel"], regf["scopes"]) == (7, "debt", "voice", 2)
    assert regf["histogram"] == {"2": 1, "6": 1} and regf["over_cap"] == 0
