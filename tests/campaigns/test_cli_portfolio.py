"""The CLI as campaign managers use it: generate, init, import (good and bad files), show."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cadencia.cli import app

runner = CliRunner()


def cadencia(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_generate_init_import_show(tmp_path: Path) -> None:
    csv_path, db = tmp_path / "p.csv", f"sqlite:///{tmp_path}/t.db"
    code, out, _ = cadencia(
        "portfolio", "generate", "--customers", "1000", "--seed", "7", "-o", str(csv_path), "--json"
    )
    assert code == 0 and json.loads(out)["customers"] == 1000
    assert cadencia("--db", db, "init")[0] == 0
    code, out, _ = cadencia("--db", db, "portfolio", "import", str(csv_path), "--json")
    summary = json.loads(out)
    assert code == 0 and summary["customers"] == 1000 and summary["customers_created"] == 1000
    assert summary["accounts"] >= 1200 and summary["contact_points"] > 1000
    code, out, _ = cadencia("--db", db, "portfolio", "show", "C00000001", "--json")
    view = json.loads(out)
    assert code == 0 and view["customer_id"] == "C00000001" and view["accounts"]


def test_bad_file_exits_non_zero_lists_errors_and_changes_nothing(tmp_path: Path) -> None:
    csv_path, db = tmp_path / "p.csv", f"sqlite:///{tmp_path}/t.db"
    cadencia("portfolio", "generate", "--customers", "300", "--seed", "7", "-o", str(csv_path))
    cadencia("--db", db, "init")
    lines = csv_path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    # Pick two single-account customers so one broken cell is one error.
    singles = [
        i
        for i in range(1, len(lines) - 1)
        if lines[i].split(",")[0] not in (lines[i - 1].split(",")[0], lines[i + 1].split(",")[0])
    ]
    phone_line, balance_line = singles[3], singles[8]
    cells = lines[phone_line].split(",")
    cells[header.index("phone_1")] = "+99 12"
    lines[phone_line] = ",".join(cells)
    cells = lines[balance_line].split(",")
    cells[header.index("balance")] = ""
    lines[balance_line] = ",".join(cells)
    csv_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, out, err = cadencia("--db", db, "portfolio", "import", str(csv_path), "--json")
    assert code == 1
    report = json.loads(out)
    located = {(e["line"], e["field"]) for e in report["errors"]}
    assert located == {(phone_line + 1, "phone_1"), (balance_line + 1, "balance")}
    assert "nothing was imported" in err
    code, out, _ = cadencia("--db", db, "portfolio", "show", "C00000001", "--json")
    assert code == 1  # the database holds no customer at all


def test_import_into_uninitialised_database_says_what_to_do(tmp_path: Path) -> None:
    csv_path = tmp_path / "p.csv"
    cadencia("portfolio", "generate", "--customers", "5", "-o", str(csv_path))
    code, _, err = cadencia(
        "--db", f"sqlite:///{tmp_path}/empty.db", "portfolio", "import", str(csv_path)
    )
    assert code == 1 and "run `cadencia init` first" in err


def test_bad_database_url_is_a_usage_error() -> None:
    code, _, err = cadencia("--db", "mysql://x", "init")
    assert code == 2 and "expected sqlite:///FILE or postgresql://" in err
