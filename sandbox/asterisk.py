"""A real Asterisk 22 on this machine, for tests and demos: the "sandbox".

Asterisk comes from Debian's own packages, installed into a throwaway Debian
sid root built once with ``debootstrap`` and cached OUTSIDE the repository
(``/var/cache/cadencia/asterisk-root``, or ``$CADENCIA_SANDBOX_DIR``). Each
running Asterisk is a named *instance* with its own configuration, database,
spool, run and log directories under ``/srv/cadencia/NAME`` inside that root,
so several test sessions can run side by side from one root.

An instance is started with ``chroot ROOT asterisk -C .../asterisk.conf -f -U
asterisk -G asterisk`` inside a private mount namespace (``unshare --mount``)
where ``/proc`` is mounted: the mount lives and dies with the namespace, so a
killed Asterisk can never leave a mount behind on the host. (Found on this
machine: Asterisk 22 boots even without /proc, but ``/dev/fd`` links into it
and the CLI's sysinfo reads it, so it is mounted. ``/dev`` needs no bind:
debootstrap creates real null/zero/random/urandom/tty/ptmx nodes in the root.) The configuration
is the production set from ``docker/asterisk/`` plus the ``test/`` overlay,
with AMI on a free 127.0.0.1 port and a random secret.

State (pid, port, credentials) is kept in ``$SANDBOX_DIR/instances/NAME.json``
so ``status`` and ``stop`` work from any process. Everything here needs root.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

DEFAULT_SANDBOX_DIR = Path("/var/cache/cadencia")
ROOT_NAME = "asterisk-root"
MARKER = ".cadencia-sandbox.json"
# Bump when the recipe changes so an old cached root is rebuilt.
RECIPE_VERSION = 1
DEBIAN_MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("asterisk", "asterisk-modules")
CONFIG_SOURCE = Path(__file__).resolve().parents[1] / "docker" / "asterisk"
AMI_USER = "cadencia"  # the dialer's (docker/asterisk/manager.conf: cadencia-dialer)
CONSOLE_USER = "cadencia-console"  # the console's: QueuePause only
# The harness's own user (CLI commands: devstate, queue add…), with every right;
# the sandbox's alone, never the product's.
ADMIN_USER = "cadencia-admin"
# The softphone provisioner's (docker/asterisk/manager.conf: cadencia-provision):
# reloads res_pjsip after writing the agents' endpoints.
PROVISION_USER = "cadencia-provision"
INSTANCES_IN_ROOT = Path("srv/cadencia")

Log = Callable[[str], None]


class SandboxError(RuntimeError):
    """The sandbox cannot be built, started or stopped; the message says why."""


@dataclass(frozen=True)
class SandboxState:
    """A running sandbox Asterisk: where its AMI listens and how to log in."""

    name: str
    pid: int
    host: str
    port: int
    username: str
    secret: str
    root: str
    instance_dir: str
    asterisk_version: str
    console_secret: str = ""
    admin_secret: str = ""
    provision_secret: str = ""
    # the softphones' secure WebSocket (wss://127.0.0.1:PORT/ws), self-signed
    wss_port: int = 0

    @property
    def wss_url(self) -> str:
        """The URL a browser registers its softphone at."""
        return f"wss://127.0.0.1:{self.wss_port}/ws"

    @property
    def softphones_conf(self) -> Path:
        """Host path of the generated agents' endpoints (pjsip.conf includes it)."""
        return Path(self.instance_dir) / "etc" / "softphones" / "agents.conf"

    @property
    def log_dir(self) -> Path:
        """Host path of the instance's log directory (messages, queue_log)."""
        return Path(self.instance_dir) / "log"

    @property
    def queue_log(self) -> Path:
        """Host path of Asterisk's queue_log for this instance."""
        return self.log_dir / "queue_log"


def sandbox_dir() -> Path:
    """The cache directory: ``$CADENCIA_SANDBOX_DIR`` or /var/cache/cadencia."""
    return Path(os.environ.get("CADENCIA_SANDBOX_DIR", str(DEFAULT_SANDBOX_DIR)))


def root_path(base: Path | None = None) -> Path:
    """Where the built Debian root lives (it may not exist yet)."""
    return (base or sandbox_dir()) / ROOT_NAME


def _quiet(message: str) -> None:
    del message


def prerequisites_missing() -> str | None:
    """Why the sandbox cannot run here, or None when it can (building aside)."""
    if os.geteuid() != 0:
        return "needs root (debootstrap, chroot and mount namespaces)"
    for tool in ("chroot", "unshare", "mount"):
        if shutil.which(tool) is None:
            return f"the {tool} command is missing"
    return None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive flock on ``path``: one builder or starter at a time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(cmd: list[str], log: Log, what: str, env: dict[str, str] | None = None) -> str:
    log(f"$ {' '.join(cmd)}")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise SandboxError(f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")
    return proc.stdout


def _ensure_debootstrap(log: Log) -> None:
    if shutil.which("debootstrap") is not None:
        return
    if shutil.which("apt-get") is None:
        raise SandboxError("debootstrap is missing and apt-get is not available to install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _run(["apt-get", "update"], log, "apt-get update (host)", env)
    _run(["apt-get", "install", "-y", "debootstrap"], log, "installing debootstrap", env)


def _read_marker(root: Path) -> dict[str, object] | None:
    try:
        data = json.loads((root / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def root_ready(base: Path | None = None) -> bool:
    """True when a complete root of the current recipe is cached."""
    marker = _read_marker(root_path(base))
    return marker is not None and marker.get("recipe") == RECIPE_VERSION


def ensure_root(base: Path | None = None, log: Log = _quiet) -> Path:
    """Build the Debian root with Asterisk once; later calls return the cache.

    The root is built in a temporary directory beside the final one and
    renamed into place only when Asterisk runs in it, so a half-built root
    (interrupted download, full disk) is never used. A lock file keeps two
    processes from building at the same time; the second waits and reuses.
    """
    missing = prerequisites_missing()
    if missing:
        raise SandboxError(missing)
    base = base or sandbox_dir()
    root = root_path(base)
    if root_ready(base):
        return root
    with _locked(base / "build.lock"):
        if root_ready(base):
            return root
        # Leftovers of a builder that was killed (we hold the lock, so no
        # other build is running): hundreds of MB each.
        for leftover in base.glob(f"{ROOT_NAME}.building-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        _ensure_debootstrap(log)
        building = Path(tempfile.mkdtemp(prefix=f"{ROOT_NAME}.building-", dir=base))
        # mkdtemp makes it 0700; it becomes the root's "/", which the asterisk
        # user must be able to traverse once Asterisk drops root.
        building.chmod(0o755)
        try:
            _run(
                ["debootstrap", "--variant=minbase", "sid", str(building), DEBIAN_MIRROR],
                log,
                "debootstrap of Debian sid",
            )
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            # sid's Release files expire within days; a cached root must still update.
            apt = ["chroot", str(building), "apt-get", "-o", "Acquire::Check-Valid-Until=false"]
            _run([*apt, "update"], log, "apt-get update in the root", env)
            _run(
                [*apt, "install", "-y", "--no-install-recommends", *PACKAGES],
                log,
                "installing Asterisk in the root",
                env,
            )
            version = _run(["chroot", str(building), "asterisk", "-V"], log, "asterisk -V").strip()
            marker = {"recipe": RECIPE_VERSION, "asterisk_version": version}
            (building / MARKER).write_text(json.dumps(marker))
            if root.exists():
                # an older recipe's root: move it aside, then delete it
                stale = base / f"{ROOT_NAME}.stale-{os.getpid()}"
                root.rename(stale)
                shutil.rmtree(stale, ignore_errors=True)
            building.rename(root)
        finally:
            if building.exists():
                shutil.rmtree(building, ignore_errors=True)
    return root


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _asterisk_ids(root: Path) -> tuple[int, int]:
    """uid and gid of the ``asterisk`` user inside the root (not the host's)."""
    for line in (root / "etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == "asterisk":
            return int(fields[2]), int(fields[3])
    raise SandboxError(f"no asterisk user in {root}/etc/passwd: the root is broken, delete it")


def _write_tls(etc: Path, inside: Path, wss_port: int) -> None:
    """A self-signed certificate for 127.0.0.1, made at each start, and the HTTP
    server's TLS listener on ``wss_port`` (plain HTTP on a free loopback port)."""
    keys = etc / "keys"
    if shutil.which("openssl") is None:
        raise SandboxError("the openssl command is missing: the softphones need a certificate")
    # P-256, valid two days: the sandbox's certificate outlives no test session.
    cmd = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
           "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
           "subjectAltName=IP:127.0.0.1", "-keyout", str(keys / "softphone.key"),
           "-out", str(keys / "softphone.crt")]  # fmt: skip
    _run(cmd, _quiet, "making the sandbox's TLS certificate")
    (etc / "site/http.conf").write_text(
        f"bindport = {_free_port(socket.SOCK_STREAM)}\n"
        f"tlsbindaddr = 127.0.0.1:{wss_port}\n"
        f"tlscertfile = {inside}/etc/keys/softphone.crt\n"
        f"tlsprivatekey = {inside}/etc/keys/softphone.key\n"
    )


def _write_config(
    root: Path,
    name: str,
    port: int,
    secrets_: dict[str, str],
    wss_port: int,
    carrier_port: int | None = None,
) -> Path:
    """Lay out a fresh instance directory; returns its path inside the root."""
    if not CONFIG_SOURCE.is_dir():
        raise SandboxError(f"configuration directory {CONFIG_SOURCE} is missing")
    inside = Path("/") / INSTANCES_IN_ROOT / name
    host_dir = root / INSTANCES_IN_ROOT / name
    shutil.rmtree(host_dir, ignore_errors=True)
    etc = host_dir / "etc"
    for sub in ("etc/site", "etc/overlay", "etc/keys", "etc/softphones", "db", "spool", "run",
                "log", "cache"):  # fmt: skip
        (host_dir / sub).mkdir(parents=True, exist_ok=True)
    for conf in sorted(CONFIG_SOURCE.glob("*.conf")):
        shutil.copy(conf, etc / conf.name)
    for conf in sorted((CONFIG_SOURCE / "test").glob("*.conf")):
        shutil.copy(conf, etc / "overlay" / conf.name)
    (etc / "asterisk.conf").write_text(
        "[directories]\n"
        f"astetcdir => {inside}/etc\n"
        "astmoddir => /usr/lib/x86_64-linux-gnu/asterisk/modules\n"
        "astvarlibdir => /var/lib/asterisk\n"
        f"astdbdir => {inside}/db\n"
        f"astkeydir => {inside}/db\n"
        "astdatadir => /usr/share/asterisk\n"
        "astagidir => /usr/share/asterisk/agi-bin\n"
        f"astspooldir => {inside}/spool\n"
        f"astrundir => {inside}/run\n"
        f"astlogdir => {inside}/log\n"
        f"astcachedir => {inside}/cache\n"
        "astsbindir => /usr/sbin\n"
        "[options]\n"
        f"systemname = cadencia-{name}\n"
        "documentation_language = en_US\n"
    )
    (etc / "site/manager.conf").write_text(f"port = {port}\nbindaddr = 127.0.0.1\n")
    (etc / "site/manager_users.conf").write_text(
        f"[{AMI_USER}](cadencia-dialer)\nsecret = {secrets_[AMI_USER]}\n\n"
        f"[{CONSOLE_USER}](cadencia-console)\nsecret = {secrets_[CONSOLE_USER]}\n\n"
        f"[{PROVISION_USER}](cadencia-provision)\nsecret = {secrets_[PROVISION_USER]}\n\n"
        f"[{ADMIN_USER}]\nsecret = {secrets_[ADMIN_USER]}\n"
        "deny = 0.0.0.0/0.0.0.0\npermit = 127.0.0.1/255.255.255.255\n"
        "read = all\nwrite = all\n"
    )
    _write_tls(etc, inside, wss_port)
    # SIP on a free loopback port: a second sandbox must not fight over 5060.
    sip_port = _free_port(socket.SOCK_DGRAM)
    (etc / "site/pjsip.conf").write_text(
        "[transport-udp]\ntype = transport\nprotocol = udp\n"
        f"bind = 127.0.0.1:{sip_port}\n\n"
        "[carrier](cadencia-trunk)\naors = carrier\n\n"
        # the discard port: the sandbox's PSTN is dialplan, nothing is sent here;
        # in carrier mode SIPp answers there with recorded audio (sandbox.carrier)
        "[carrier](cadencia-trunk-aor)\n"
        f"contact = sip:127.0.0.1:{carrier_port or 9}\nqualify_frequency = 0\n"
    )
    # Asterisk drops to the asterisk user before it opens astdb and its logs:
    # everything it writes must belong to that user inside the root.
    uid, gid = _asterisk_ids(root)
    for path in [host_dir, *host_dir.rglob("*")]:
        os.chown(path, uid, gid)
    return inside


def _state_path(base: Path, name: str) -> Path:
    return base / "instances" / f"{name}.json"


def _pid_is_instance(pid: int, conf: str) -> bool:
    """True when ``pid`` is alive (not a zombie) and is this instance's Asterisk."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if stat.rsplit(")", 1)[-1].split()[0] == "Z":
        return False
    return conf.encode() in cmdline


def _conf_of(state: SandboxState) -> str:
    return f"{state.instance_dir.removeprefix(state.root)}/etc/asterisk.conf"


def status(name: str = "default", base: Path | None = None) -> SandboxState | None:
    """The running instance NAME, or None (a stale state file is removed)."""
    base = base or sandbox_dir()
    path = _state_path(base, name)
    try:
        state = SandboxState(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    if _pid_is_instance(state.pid, _conf_of(state)):
        return state
    path.unlink(missing_ok=True)
    return None


def ami_login(host: str, port: int, username: str, secret: str, timeout: float) -> bool:
    """Log in to AMI with a plain socket; True once Asterisk is fully booted.

    Deliberately independent of ``dialer.ami``: the sandbox is what tests that
    client, so it must not rely on it.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(
                f"Action: Login\r\nActionID: sandbox\r\nUsername: {username}\r\n"
                f"Secret: {secret}\r\n\r\n".encode()
            )
            data = b""
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                chunk = sock.recv(65536)
                if not chunk:
                    return False
                data += chunk
                if b"Response: Error" in data:
                    return False
                # FullyBooted arrives right after a successful login once
                # every module (dialplan, queues) is loaded.
                if b"Response: Success" in data and b"Event: FullyBooted" in data:
                    sock.sendall(b"Action: Logoff\r\nActionID: bye\r\n\r\n")
                    return True
    except OSError:
        return False
    return False


def cli_command(state: SandboxState, command: str, timeout: float = 10.0) -> list[str]:
    """Run an Asterisk CLI command (``devstate change Custom:agent1 NOT_INUSE``)
    over AMI with a plain socket; returns its output lines."""
    # The harness's admin user: the dialer's has no right to run CLI commands.
    user, secret = (
        (ADMIN_USER, state.admin_secret)
        if state.admin_secret
        else (
            state.username,
            state.secret,
        )
    )
    with socket.create_connection((state.host, state.port), timeout=timeout) as sock:
        sock.sendall(
            f"Action: Login\r\nActionID: login\r\nUsername: {user}\r\n"
            f"Secret: {secret}\r\nEvents: off\r\n\r\n"
            f"Action: Command\r\nActionID: cmd\r\nCommand: {command}\r\n\r\n"
            "Action: Logoff\r\nActionID: bye\r\n\r\n".encode()
        )
        data = b""
        while b"Response: Goodbye" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    for block in data.decode("utf-8", "replace").split("\r\n\r\n"):
        if "ActionID: cmd" in block:
            if "Response: Error" in block:
                raise SandboxError(f"Asterisk refused {command!r}: {block}")
            return [line[8:] for line in block.split("\r\n") if line.startswith("Output: ")]
    raise SandboxError(f"no answer from Asterisk to {command!r}")


def start(
    name: str = "default",
    base: Path | None = None,
    log: Log = _quiet,
    timeout: float = 60.0,
    carrier_port: int | None = None,
) -> SandboxState:
    """Start instance NAME (building the root first if needed) and wait for AMI.

    Idempotent: an instance already running is returned as it is.
    ``carrier_port``: carrier mode, the ``carrier`` trunk's calls go to a SIP
    carrier on that 127.0.0.1 port (``sandbox.carrier``: SIPp) instead of
    nowhere; calls on ``Local/...@pstn`` are unchanged.
    """
    if not name.replace("-", "").replace("_", "").isalnum():
        raise SandboxError(f"instance name {name!r}: use letters, digits, '-' and '_' only")
    base = base or sandbox_dir()
    root = ensure_root(base, log)
    with _locked(base / "instances" / f"{name}.lock"):
        running = status(name, base)
        if running is not None:
            return running
        port = _free_port(socket.SOCK_STREAM)
        users = (AMI_USER, CONSOLE_USER, ADMIN_USER, PROVISION_USER)
        keys = {user: secrets.token_hex(16) for user in users}
        wss_port = _free_port(socket.SOCK_STREAM)
        inside = _write_config(root, name, port, keys, wss_port, carrier_port)
        version = str((_read_marker(root) or {}).get("asterisk_version", "unknown"))
        template = SandboxState(
            name=name,
            pid=0,
            host="127.0.0.1",
            port=port,
            username=AMI_USER,
            secret=keys[AMI_USER],
            root=str(root),
            instance_dir=str(root / inside.relative_to("/")),
            asterisk_version=version,
            console_secret=keys[CONSOLE_USER],
            admin_secret=keys[ADMIN_USER],
            provision_secret=keys[PROVISION_USER],
            wss_port=wss_port,
        )
        return _launch(template, base, timeout)


def _launch(template: SandboxState, base: Path, timeout: float) -> SandboxState:
    """Run Asterisk on the instance directory of ``template``; wait for AMI; save the state."""
    root, host_dir = Path(template.root), Path(template.instance_dir)
    conf = _conf_of(template)
    # unshare without --fork execs in place: the pid we get is Asterisk's.
    script = 'mount -t proc proc "$1/proc" && exec chroot "$1" /usr/sbin/asterisk ' + (
        '-C "$2" -f -U asterisk -G asterisk'
    )
    cmd = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script]
    with (host_dir / "log" / "console.log").open("ab") as console:
        proc = subprocess.Popen(
            [*cmd, "sh", str(root), conf],
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _CHILDREN[proc.pid] = proc
    state = replace(template, pid=proc.pid)
    port, secret = state.port, state.secret
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (host_dir / "log" / "console.log").read_text(errors="replace")[-2000:]
            raise SandboxError(f"Asterisk exited with {proc.returncode} at start:\n{tail}")
        if ami_login(state.host, port, AMI_USER, secret, timeout=5.0):
            path = _state_path(base, state.name)
            path.write_text(json.dumps(asdict(state)))
            path.chmod(0o600)
            return state
        time.sleep(0.2)
    _terminate(proc.pid, conf)
    raise SandboxError(f"Asterisk did not answer an AMI Login on port {port} in {timeout}s")


def kill(name: str = "default", base: Path | None = None, *, crash: bool = True) -> SandboxState:
    """Take instance NAME down, keeping its directory, AMI port and secret, for ``revive``.

    ``crash`` sends SIGKILL: Asterisk dies on the spot, as in a power cut or an
    OOM kill (no Hangup events, no clean close of AMI connections, astdb as
    last synced). Otherwise it is asked to stop (SIGTERM), hanging up its
    calls first. Returns the state the instance had, for ``revive``.
    """
    base = base or sandbox_dir()
    with _locked(base / "instances" / f"{name}.lock"):
        state = status(name, base)
        if state is None:
            raise SandboxError(f"sandbox instance {name!r} is not running")
        if crash:
            with contextlib.suppress(ProcessLookupError):
                os.kill(state.pid, signal.SIGKILL)
        _terminate(state.pid, _conf_of(state))
        _state_path(base, name).unlink(missing_ok=True)
        return state


def revive(state: SandboxState, base: Path | None = None, timeout: float = 60.0) -> SandboxState:
    """Start again an instance that ``kill`` took down: same directory, port and secret.

    The restarted Asterisk has none of the old one's channels; what it keeps
    is what it keeps on disk (astdb: device states, queue pauses).
    """
    base = base or sandbox_dir()
    with _locked(base / "instances" / f"{state.name}.lock"):
        running = status(state.name, base)
        if running is not None:
            raise SandboxError(f"sandbox instance {state.name!r} is already running")
        if not (Path(state.instance_dir) / "etc" / "asterisk.conf").is_file():
            raise SandboxError(f"sandbox instance {state.name!r} has no directory to revive")
        return _launch(state, base, timeout)


# Asterisk processes this process started; reaped on stop so none is left a zombie.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def _terminate(pid: int, conf: str, grace: float = 10.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _pid_is_instance(pid, conf):
        child = _CHILDREN.get(pid)
        if child is not None and child.poll() is not None:
            break
        time.sleep(0.1)
    if _pid_is_instance(pid, conf):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        child.wait(timeout=grace)


def stop(name: str = "default", base: Path | None = None, keep_files: bool = True) -> bool:
    """Stop instance NAME by its pid; False when it was not running.

    The /proc mount belongs to the instance's private mount namespace and
    disappears with the process, so nothing is left mounted. The instance's
    directory (logs, queue_log) is kept for inspection unless ``keep_files``
    is false; the next start of the same name replaces it anyway.
    """
    base = base or sandbox_dir()
    with _locked(base / "instances" / f"{name}.lock"):
        state = status(name, base)
        if state is not None:
            _terminate(state.pid, _conf_of(state))
            _state_path(base, name).unlink(missing_ok=True)
        if not keep_files:
            shutil.rmtree(root_path(base) / INSTANCES_IN_ROOT / name, ignore_errors=True)
            (base / "instances" / f"{name}.lock").unlink(missing_ok=True)
        return state is not None


TEST_QUEUE = "cadencia-test"  # the test overlay's campaign queue (docker/asterisk/test/queues.conf)


def ready_agents(state: SandboxState, agents: int, queue: str = TEST_QUEUE) -> None:
    """Agents 1..N in the test overlay's ``queue`` (1 and 2 are in its queues.conf), ready."""
    for n in range(1, agents + 1):
        if n > 2:
            cli_command(
                state,
                f"queue add member Local/agent{n}@agents/n to {queue} penalty 0 "
                f"as agent{n} state_interface Custom:agent{n}",
            )
        cli_command(state, f"devstate change Custom:agent{n} NOT_INUSE")
        cli_command(state, f"queue unpause member Local/agent{n}@agents/n queue {queue}")
