"""``cadencia sandbox asterisk start|status|stop`` across processes.

Each test uses its own instance name so it never disturbs the session's
``asterisk_sandbox`` or another engineer's run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import asterisk as sandbox
from tests.support.components import component_missing

pytestmark = pytest.mark.asterisk

CLI = "from cadencia.cli.sandbox import sandbox_app; sandbox_app()"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the sandbox CLI in a fresh Python process."""
    return subprocess.run(
        [sys.executable, "-c", CLI, "asterisk", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture()
def instance() -> Iterator[str]:
    missing = sandbox.prerequisites_missing()
    if missing:
        component_missing("Asterisk 22 sandbox", missing)
    try:
        sandbox.ensure_root()
    except sandbox.SandboxError as exc:
        component_missing("Asterisk 22 sandbox", str(exc))
    name = f"clitest-{os.getpid()}"
    yield name
    sandbox.stop(name, keep_files=False)


def mounts_under(root: str) -> list[str]:
    return [line for line in Path("/proc/mounts").read_text().splitlines() if root in line]


@pytest.mark.slow
def test_start_status_stop_from_separate_processes(instance: str) -> None:
    started = cli("start", "--name", instance, "--json")
    assert started.returncode == 0, started.stderr
    state = json.loads(started.stdout)
    assert state["asterisk_version"].startswith("Asterisk 22.")

    status = cli("status", "--name", instance, "--json")
    assert status.returncode == 0
    seen = json.loads(status.stdout)
    assert seen["running"] and seen["pid"] == state["pid"] and seen["port"] == state["port"]
    # the credentials in the state really log in to AMI
    assert sandbox.ami_login(seen["host"], seen["port"], seen["username"], seen["secret"], 5.0)
    assert not sandbox.ami_login(seen["host"], seen["port"], seen["username"], "wrong", 5.0)
    # starting again returns the running instance instead of a second Asterisk
    again = cli("start", "--name", instance, "--json")
    assert json.loads(again.stdout)["pid"] == state["pid"]

    stopped = cli("stop", "--name", instance)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    after = cli("status", "--name", instance, "--json")
    assert after.returncode == 3 and not json.loads(after.stdout)["running"]
    assert not Path(f"/proc/{state['pid']}").exists() or not sandbox.ami_login(
        seen["host"], seen["port"], seen["username"], seen["secret"], 1.0
    )
    assert mounts_under(state["root"]) == []


@pytest.mark.slow
def test_configuration_belongs_to_the_asterisk_user_of_the_root(instance: str) -> None:
    state = sandbox.start(instance)
    uid = next(
        int(line.split(":")[2])
        for line in (Path(state.root) / "etc/passwd").read_text().splitlines()
        if line.startswith("asterisk:")
    )
    etc = Path(state.instance_dir) / "etc"
    for path in [etc, *etc.rglob("*")]:
        assert path.stat().st_uid == uid, path
    manager_site = (etc / "site" / "manager.conf").read_text()
    assert f"port = {state.port}" in manager_site and "bindaddr = 127.0.0.1" in manager_site
    # the production files are copied untouched; the overlay sits beside them
    repo = Path(sandbox.CONFIG_SOURCE)
    assert (etc / "extensions.conf").read_text() == (repo / "extensions.conf").read_text()
    assert (etc / "overlay" / "extensions.conf").exists()


@pytest.mark.slow
def test_a_killed_asterisk_leaves_no_mount_and_no_stale_state(instance: str) -> None:
    state = sandbox.start(instance)
    os.kill(state.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while sandbox.status(instance) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sandbox.status(instance) is None
    assert not (sandbox.sandbox_dir() / "instances" / f"{instance}.json").exists()
    # /proc was mounted in the instance's private namespace, gone with it
    assert mounts_under(state.root) == []
    # and the instance can simply be started again
    assert sandbox.start(instance).pid != state.pid


def test_root_without_marker_is_not_used(tmp_path: Path) -> None:
    (tmp_path / sandbox.ROOT_NAME / "usr").mkdir(parents=True)
    assert not sandbox.root_ready(tmp_path)
    (tmp_path / sandbox.ROOT_NAME / sandbox.MARKER).write_text('{"recipe": 0}')
    assert not sandbox.root_ready(tmp_path)  # an older recipe is rebuilt
    marker = json.dumps({"recipe": sandbox.RECIPE_VERSION})
    (tmp_path / sandbox.ROOT_NAME / sandbox.MARKER).write_text(marker)
    assert sandbox.root_ready(tmp_path)


def test_instance_names_are_checked() -> None:
    with pytest.raises(sandbox.SandboxError, match="instance name"):
        sandbox.start("../etc")
