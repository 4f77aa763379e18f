"""The application image's install steps, run as the plain script the Dockerfile runs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_install_script_builds_a_working_installation(tmp_path: Path) -> None:
    result = subprocess.run(
        ["bash", str(ROOT / "docker" / "app" / "install.sh"), str(tmp_path / "opt"), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "cadencia installed and self-checked" in result.stdout
    assert (tmp_path / "opt" / "bin" / "cadencia").exists()
