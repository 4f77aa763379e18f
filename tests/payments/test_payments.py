"""Payments in, promises kept or broken: through the CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from cadencia.cli import app
from campaigns.ledger.chain import EVENTS, verify
from campaigns.storage.db import make_engine
from campaigns.storage.models import Account
from tests.support.portfolio import load_rows, row

IMPORTED = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
HEADER = "account_id,amount,currency,paid_at,reference\n"


def cadencia(database_url: str, *args: str, clock: str | None = None) -> tuple[int, str]:
    env = {"CADENCIA_SIM_CLOCK": clock} if clock else {}
    result = CliRunner().invoke(app, ["--db", database_url, *args], env=env)
    return result.exit_code, result.output


def clock_at(when: dt.datetime) -> str:
    """A CADENCIA_SIM_CLOCK that reads ``when`` now (and runs at real speed)."""
    from campaigns.clock import Clock

    return Clock.compressed(when, 1.0).to_env()


@pytest.fixture()
def portfolio(database_url: str) -> str:
    engine = make_engine(database_url)
    load_rows(
        engine,
        [
            row(customer_id="C1", account_id="A1", balance="1500000.00", minimum_due="75000"),
            row(customer_id="C1", account_id="A2", product="auto_loan", balance="900000.00"),
            row(customer_id="C2", account_id="B1", phone_1="300 765 4321", email="b@example.com"),
        ],
        IMPORTED,
    )
    engine.dispose()
    return database_url


def promise_events(path: Path, *lines: dict[str, object]) -> Path:
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    return path


def promise(customer: str, debt: str, until: str, amount: str, at: str) -> dict[str, object]:
    return {
        "at": at,
        "customer_id": customer,
        "debt_ids": [debt],
        "channel": "voice",
        "direction": "inbound",
        "kind": "promise",
        "until": until,
        "amount": amount,
        "currency": "COP",
        "campaign": "co-tarjetas",
    }


def promises(database_url: str, *extra: str) -> list[dict[str, object]]:
    code, out = cadencia(database_url, "promises", "list", "--json", *extra)
    assert code == 0, out
    return list(json.loads(out))


def test_a_payment_that_covers_a_promise_keeps_it(portfolio: str, tmp_path: Path) -> None:
    events = promise_events(
        tmp_path / "p.jsonl", promise("C1", "A1", "2026-12-05", "200000.00", "2026-12-02T15:00:00Z")
    )
    code, out = cadencia(portfolio, "ledger", "import", str(events))
    assert code == 0, out
    assert [p["status"] for p in promises(portfolio)] == ["pending"]
    paid = tmp_path / "pay.csv"
    paid.write_text(HEADER + "A1,120000.00,COP,2026-12-03,R1\nA1,80000.00,COP,2026-12-04,R2\n")
    code, out = cadencia(portfolio, "payments", "import", str(paid), "--json")
    assert code == 0, out
    assert json.loads(out)["promises"]["kept"] == 1
    (kept,) = promises(portfolio, "--customer", "C1")
    assert (kept["status"], kept["paid_amount"]) == ("kept", "200000.00")
    engine = make_engine(portfolio)
    with engine.connect() as conn:
        balance, due, dpd = conn.execute(
            sa.select(Account.balance, Account.minimum_due, Account.days_past_due).where(
                Account.external_id == "A1"
            )
        ).one()
        settlement = conn.execute(sa.select(EVENTS).where(EVENTS.c.kind == "settlement")).one()
        payments = conn.execute(sa.select(EVENTS).where(EVENTS.c.kind == "payment")).all()
    # 200,000 paid: the 75,000 overdue is covered, so the account is current again.
    assert (str(balance), str(due), dpd) == ("1300000.00", "0.00", 0)
    assert settlement.outcome == "kept" and len(payments) == 2
    assert [p["reference"] for p in json.loads(settlement.extra)["payments"]] == ["R1", "R2"]
    assert verify(engine).ok
    engine.dispose()


def test_the_same_file_twice_counts_once(portfolio: str, tmp_path: Path) -> None:
    paid = tmp_path / "pay.csv"
    paid.write_text(HEADER + "B1,1000.00,COP,2026-12-03T09:00:00-05:00,X1\n")
    assert cadencia(portfolio, "payments", "import", str(paid))[0] == 0
    code, out = cadencia(portfolio, "payments", "import", str(paid), "--json")
    assert code == 0 and json.loads(out)["duplicates"] == 1 and json.loads(out)["recorded"] == 0
    engine = make_engine(portfolio)
    with engine.connect() as conn:
        assert (
            conn.execute(
                sa.select(sa.func.count()).select_from(EVENTS).where(EVENTS.c.kind == "payment")
            ).scalar_one()
            == 1
        )
    engine.dispose()


def test_one_bad_amount_rejects_the_whole_file_naming_line_and_field(
    portfolio: str, tmp_path: Path
) -> None:
    paid = tmp_path / "pay.csv"
    # A decimal comma is how Colombia writes it, but a machine file must not be guessed at.
    paid.write_text(HEADER + 'A1,1000.00,COP,2026-12-03,Y1\nA2,"150000,50",COP,2026-12-03,Y2\n')
    code, out = cadencia(portfolio, "payments", "import", str(paid))
    assert code == 1
    assert f"{paid}:3: amount: '150000,50' is not an amount" in out
    assert "nothing was recorded" in out
    wrong = tmp_path / "wrong.csv"
    wrong.write_text(HEADER + "A1,10.00,USD,2026-12-03,Z1\nNOPE,1.00,COP,2026-12-03,Z2\n")
    code, out = cadencia(portfolio, "payments", "import", str(wrong))
    assert code == 1
    assert f"{wrong}:2: currency: USD but account A1 is in COP" in out
    assert f"{wrong}:3: account_id: no account 'NOPE'" in out
    engine = make_engine(portfolio)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(EVENTS)).scalar_one() == 0
    engine.dispose()


def test_after_the_grace_period_a_promise_is_partly_kept_or_broken(
    portfolio: str, tmp_path: Path
) -> None:
    events = promise_events(
        tmp_path / "p.jsonl",
        promise("C1", "A1", "2026-12-05", "200000.00", "2026-12-02T15:00:00Z"),
        promise("C2", "B1", "2026-12-05", "50000.00", "2026-12-02T15:10:00Z"),
    )
    assert cadencia(portfolio, "ledger", "import", str(events))[0] == 0
    paid = tmp_path / "pay.csv"
    paid.write_text(HEADER + "A1,50000.00,COP,2026-12-04,P1\n")
    assert cadencia(portfolio, "payments", "import", str(paid))[0] == 0
    assert {p["customer_id"]: p["status"] for p in promises(portfolio)} == {
        "C1": "pending",
        "C2": "pending",
    }
    # Bogotá's 2026-12-08 (due + 3 days' grace) has not ended at 04:00 UTC on the 9th.
    still = clock_at(dt.datetime(2026, 12, 9, 4, 0, tzinfo=dt.UTC))
    assert cadencia(portfolio, "promises", "settle", clock=still)[0] == 0
    assert {p["status"] for p in promises(portfolio)} == {"pending"}
    after = clock_at(dt.datetime(2026, 12, 9, 6, 0, tzinfo=dt.UTC))
    code, out = cadencia(portfolio, "promises", "settle", "--json", clock=after)
    assert code == 0 and json.loads(out)["partly_kept"] == 1 and json.loads(out)["broken"] == 1
    assert {p["customer_id"]: (p["status"], p["paid_amount"]) for p in promises(portfolio)} == {
        "C1": ("partly_kept", "50000.00"),
        "C2": ("broken", "0.00"),
    }
    assert [p["customer_id"] for p in promises(portfolio, "--status", "broken")] == ["C2"]
    engine = make_engine(portfolio)
    assert verify(engine).ok
    engine.dispose()


def test_a_promise_for_an_unknown_debt_is_not_imported(portfolio: str, tmp_path: Path) -> None:
    events = promise_events(
        tmp_path / "p.jsonl", promise("C1", "B1", "2026-12-05", "100.00", "2026-12-02T15:00:00Z")
    )
    code, out = cadencia(portfolio, "ledger", "import", str(events))
    assert code == 1 and "debt 'B1' is not C1's" in out
    assert promises(portfolio) == []
