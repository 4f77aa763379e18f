"""Audit the locked dependencies for published advisories (``make audit``).

Runs pip-audit over ``requirements/dev.txt`` (the runtime set plus the test
tools) without installing anything. A known vulnerability fails the build.
When the advisory service cannot be reached from this machine (no network,
or a package index that does not serve PyPI's per-release JSON, where the
advisories are published), it says so and does not fail: an unreachable
service is not evidence either way. Pass other lock files as arguments.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCKS = [ROOT / "requirements" / "dev.txt"]


def audit(lock: Path) -> int:
    """Audit one lock file; 0 when clean or unauditable here, 1 on a vulnerability."""
    command = [
        sys.executable, "-m", "pip_audit", "-r", str(lock), "--require-hashes",
        "--disable-pip", "--progress-spinner", "off", "--format", "json",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"audit: {lock.name}: the advisory service could not be reached ({last}); "
              "not failing the build")  # fmt: skip
        return 0
    packages = report["dependencies"]
    vulnerable = [p for p in packages if p.get("vulns")]
    skipped = [p for p in packages if "skip_reason" in p]
    for package in vulnerable:
        for vuln in package["vulns"]:
            fixed = ", ".join(vuln.get("fix_versions") or []) or "no fixed release"
            print(f"audit: {package['name']} {package['version']}: {vuln['id']} (fixed in {fixed})")
    if vulnerable:
        return 1
    audited = len(packages) - len(skipped)
    if audited == 0:
        print(f"audit: {lock.name}: the advisory service answered for none of "
              f"{len(packages)} packages (is PyPI's JSON API reachable?); "
              "not failing the build")  # fmt: skip
    else:
        print(f"audit: {lock.name}: {audited} packages audited, no known vulnerabilities"
              + (f"; {len(skipped)} could not be audited" if skipped else ""))  # fmt: skip
    return 0


def main() -> int:
    """Audit each lock file named on the command line (default: the dev lock)."""
    locks = [Path(arg) for arg in sys.argv[1:]] or LOCKS
    return max(audit(lock) for lock in locks)


if __name__ == "__main__":
    raise SystemExit(main())
