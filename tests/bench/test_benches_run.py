"""Every bench runs, at a tiny size, the way its docstring says to run it.

A bench that no longer runs (a moved module, a renamed argument) fails here
instead of on the next person who needs its figures. Each is started as
``python -m bench.NAME`` from the repository root, as the README says, and
must print one JSON object on its last line. No figure is asserted: these
are smoke tests, not measurements.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHES = {p.stem for p in (ROOT / "bench").glob("*.py")} - {"__init__"}


def run_bench(name: str, *args: str, timeout: float = 600) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert lines, f"bench.{name} printed nothing; stderr: {done.stderr[-2000:]}"
    result: dict[str, Any] = json.loads(lines[-1])
    return result


SMALL: dict[str, tuple[str, ...]] = {
    "allowances": ("--customers", "2000", "--decisions", "200", "--days", "5"),
    "optimizer_speed": ("--customers", "3000", "--no-baselines"),
    "dialer_pacing": ("--agents", "3", "--hours", "0.5", "--mode", "all"),
}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_pure_benches_run(name: str) -> None:
    assert run_bench(name, *SMALL[name])


@pytest.mark.postgres
def test_dialer_pacing_per_slot_bench_runs() -> None:
    result = run_bench("dialer_pacing", "--agents", "3", "--hours", "2", "--per-slot")
    assert result["per_slot"]["per_slot_remembered"]["handovers"] >= 1


@pytest.mark.postgres
def test_import_bench_runs(tmp_path: Path) -> None:
    result = run_bench(
        "import_portfolio", "--customers", "300", "--workers", "1", "--cache-dir", str(tmp_path)
    )
    assert result["accounts"] > 0


@pytest.mark.redis
@pytest.mark.postgres
def test_channels_bench_runs(tmp_path: Path, redis_url: str) -> None:
    result = run_bench(
        "channels_throughput",
        *("--messages", "200", "--workers", "1", "--redis", redis_url),
        *("--cache-dir", str(tmp_path)),
    )
    assert result["messages"] == 200


@pytest.mark.redis
@pytest.mark.slow
def test_day_bench_runs(tmp_path: Path, redis_url: str) -> None:
    result = run_bench(
        "day",
        *("--customers", "200", "--workers", "1", "--redis", redis_url),
        *("--cache-dir", str(tmp_path), "--max-factor", "3600"),
    )
    assert result["customers"] == 200


@pytest.mark.redis
@pytest.mark.postgres
def test_month_bench_runs(tmp_path: Path, redis_url: str, postgres_url: str) -> None:
    result = run_bench(
        "month",
        *("--customers", "300", "--days", "3", "--redis", redis_url, "--db", postgres_url),
        *("--cache-dir", str(tmp_path)),
        timeout=120,
    )
    assert len(result["per_day"]) == 3
    assert result["ledger"]["chain_ok"] is True
    assert {d["run_state"] for d in result["per_day"]} == {"closed"}


@pytest.mark.redis
@pytest.mark.asterisk
@pytest.mark.slow
def test_web_pop_bench_runs(asterisk_sandbox: object) -> None:
    from tests.web.browser import ensure_chromium

    ensure_chromium()
    # The fixture builds the sandbox's Debian root once; the bench starts its own instance.
    result = run_bench("web_pop", "2")
    assert result["pops"] == 2 and result["from"] == "AgentConnect"


@pytest.mark.asterisk
@pytest.mark.slow
def test_dialer_sandbox_bench_runs(asterisk_sandbox: object) -> None:
    # The fixture builds the sandbox's Debian root once; the bench starts its own instance.
    result = run_bench("dialer_sandbox", "--agents", "2", "--minutes", "0.2", "--sim-seeds", "2")
    assert result["session"]["dials"] > 0


@pytest.mark.postgres
def test_plan_bench_runs(tmp_path: Path, postgres_url: str) -> None:
    args = ("--customers", "400", "--ledger-days", "3", "--db", postgres_url)
    result = run_bench("plan", *args, "--cache-dir", str(tmp_path), timeout=300)
    assert result["state"] == "awaiting_approval" and result["planned_attempts"] > 0
    assert result["customers"] == 400 and result["ledger_events"] > 0
    assert {"planning_seconds", "cpu_seconds", "peak_rss_mb", "gap_pct"} <= set(result)
    again = run_bench("plan", *args, "--cache-dir", str(tmp_path), timeout=300)
    assert again["ledger_events"] == result["ledger_events"]  # the set-up is cached


@pytest.mark.asterisk
@pytest.mark.slow
def test_amd_bench_runs(asterisk_sandbox: object) -> None:
    # The fixture builds the sandbox's Debian root once; the bench starts its own
    # instance in carrier mode (SIPp answering with recorded voices).
    result = run_bench("amd", "--calls", "4", "--concurrency", "2", "--per-class", "2")
    assert result["calls"] == 4 and 0.0 <= result["accuracy"] <= 1.0


def test_ledger_checkpoint_bench_runs(tmp_path: Path) -> None:
    result = run_bench("ledger_checkpoint", "--rows", "500", "--cache-dir", str(tmp_path))
    assert result["rows"] == 500 and result["verified"] is True


def test_every_bench_has_a_smoke_test() -> None:
    covered = set(SMALL) | {"import_portfolio", "channels_throughput", "day", "web_pop", "month"}
    covered |= {"ledger_checkpoint", "plan", "amd"}
    assert covered | {"dialer_sandbox"} == BENCHES


def test_no_bench_script_shadows_a_package() -> None:
    """A script's own folder comes first on ``sys.path``: ``bench/dialer.py`` once hid
    the ``dialer`` package from every bench. No bench may be named like an importable
    top-level module."""
    import importlib.machinery

    elsewhere = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
    shadowing = {
        name
        for name in BENCHES
        if importlib.machinery.PathFinder.find_spec(name, elsewhere) is not None
        or name in sys.builtin_module_names
    }
    assert shadowing == set()
