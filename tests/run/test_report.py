"""The run report renders real charts from a planned run, as HTML and JSON."""

from __future__ import annotations

import base64
import datetime as dt
import re
from pathlib import Path

from typer.testing import CliRunner

from cadencia.cli import app
from campaigns.run.report.data import report_data
from campaigns.run.state import advance, create_run
from campaigns.storage.db import make_engine
from tests.run.test_planning import EXAMPLES, NOW, TUESDAY, load_generated


def test_plan_review_report_has_charts_and_reasons(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/r.db"
    from campaigns.storage.db import migrate

    migrate(url)
    load_generated(url, 600, ("CL",))
    engine = make_engine(url)
    run_id = create_run(engine, EXAMPLES / "cl-consumo.toml", TUESDAY, needs_approval=True, now=NOW)
    advance(engine, run_id, now=NOW + dt.timedelta(minutes=1))
    data = report_data(engine, run_id)
    engine.dispose()
    assert data["plan"]["planned_attempts"] == sum(
        sum(v) for v in data["planned_per_slot"].values()
    )
    assert data["execution"] == {"not yet attempted": data["plan"]["planned_attempts"]}
    assert sum(data["arms"].values()) == data["plan"]["customers"]
    known = {
        "low-value",
        "priced-out",
        "no-room",
        "no-attempts-left",
        "compliance-blocked",
        "holdout",
        "unreachable",
    }
    assert set(data["left_out"]) <= known

    result = CliRunner().invoke(
        app, ["--db", url, "report", str(run_id), "--html", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.stderr
    page = (tmp_path / "out" / f"report-{run_id}.html").read_text(encoding="utf-8")
    images = re.findall(r"base64,([A-Za-z0-9+/=]+)'", page)
    assert len(images) >= 2  # plan per hour, shadow prices
    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert "cl-consumo" in page and "Left out" in page


def test_money_per_arm_comes_from_recorded_payments(tmp_path: Path) -> None:
    """Payments recorded after the run's day show up in its report per arm, and over days."""
    import json
    from decimal import Decimal

    import sqlalchemy as sa

    from campaigns.payments.file import PaymentRecord
    from campaigns.payments.record import record_payments
    from campaigns.storage.db import migrate
    from campaigns.storage.models import Account, Customer, RunCustomer

    url = f"sqlite:///{tmp_path}/r.db"
    migrate(url)
    load_generated(url, 600, ("CL",))
    engine = make_engine(url)
    run_id = create_run(engine, EXAMPLES / "cl-consumo.toml", TUESDAY, needs_approval=True, now=NOW)
    advance(engine, run_id, now=NOW + dt.timedelta(minutes=1))
    with engine.connect() as conn:
        arms = dict(
            conn.execute(
                sa.select(RunCustomer.customer_id, RunCustomer.arm).where(
                    RunCustomer.run_id == run_id
                )
            ).all()
        )
        accounts = dict(
            conn.execute(
                sa.select(Customer.external_id, Account.external_id).join(
                    Account, Account.customer_id == Customer.id
                )
            ).all()
        )
    optimised = [c for c, a in arms.items() if a == "optimised"][:30]
    challenger = [c for c, a in arms.items() if a == "challenger"][:5]
    paid_at = dt.datetime.combine(TUESDAY, dt.time(15), tzinfo=dt.UTC)
    payments = [
        PaymentRecord(k, accounts[c], Decimal("10000.00"), "CLP", f"P{k}", paid_at=paid_at)
        for k, c in enumerate(optimised + challenger)
    ]
    record_payments(engine, payments, source="file", now=paid_at + dt.timedelta(days=1))
    money = report_data(engine, run_id)["money"]
    engine.dispose()
    assert money["currency"] == "CLP"
    assert money["arms"]["optimised"]["payers"] == 30
    assert money["arms"]["optimised"]["collected"] == 300000.0
    assert money["arms"]["challenger"]["collected"] == 50000.0
    n = money["arms"]["optimised"]["customers"]
    assert money["arms"]["optimised"]["per_customer"] == round(300000 / n, 2)
    assert money["uplift_per_customer"]["vs_challenger"] is not None

    result = CliRunner().invoke(
        app,
        ["--db", url, "report", "uplift", "--from", str(TUESDAY), "--to", str(TUESDAY), "--json"],
    )
    assert result.exit_code == 0, result.output
    (pooled,) = json.loads(result.output)
    assert pooled["arms"] == money["arms"] and pooled["runs"] == 1
    bad = CliRunner().invoke(app, ["--db", url, "report", "uplift", "--from", "Tuesday"])
    assert bad.exit_code == 2 and "--from 'Tuesday': not a date" in bad.output
