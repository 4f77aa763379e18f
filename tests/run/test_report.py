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
