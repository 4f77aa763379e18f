"""Regenerate docs/screenshots/ from the browser test (a real shift in headless Chromium).

    .venv/bin/python tests/web/screenshots.py [OUT_DIR]

Runs ``tests/web/test_browser.py`` with ``CADENCIA_SCREENSHOTS`` set, so the
pictures are of the real pages in the state the test drives them to: the agent
desktop with a popped customer, the dashboard after the promise, the
compliance timeline. Needs what that test needs (root for the Asterisk
sandbox and, if absent, for installing Debian's chromium).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NAMES = ("agent-desktop.png", "dashboard.png", "compliance-timeline.png")


def main() -> int:
    """Run the browser test once and check that every screenshot was written."""
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots"
    out = out.resolve()
    for name in NAMES:
        (out / name).unlink(missing_ok=True)
    env = {**os.environ, "CADENCIA_SCREENSHOTS": str(out), "CADENCIA_REQUIRE_ALL": "1"}
    test = "tests/web/test_browser.py"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", test], cwd=ROOT, env=env)
    missing = [name for name in NAMES if not (out / name).exists()]
    if done.returncode != 0 or missing:
        print(f"screenshots: test exit {done.returncode}, missing {missing}", file=sys.stderr)
        return 1
    print(f"screenshots written to {out}: {', '.join(NAMES)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
