"""A whole campaign day on one machine, time compressed: for ``make demo`` and end-to-end tests.

Starts what a run needs around a database and a Redis (the SendGrid/Twilio
stand-in, the webhook receiver, RQ worker processes, and the Asterisk sandbox
when it can run), shares one compressed clock with all of them through
``CADENCIA_SIM_CLOCK``, drives the run's state machine until the day closes,
and stops everything in ``finally``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from redis import Redis
from rq import Queue
from sqlalchemy.engine import Engine

from campaigns.campaign import Campaign, load_campaign
from campaigns.clock import Clock
from campaigns.queues import rq_queue
from campaigns.run.dispatch import VoiceDispatcher
from campaigns.run.execute import execution_step
from campaigns.run.state import advance, create_run
from dialer.abandon_budget import AbandonRule
from dialer.pacing import Mode, Pacer, PacingConfig, PacingPriors
from dialer.simulate import Scenario, simulate
from sandbox.asterisk import SandboxState

if TYPE_CHECKING:
    import uvicorn

    from campaigns.settings import MessagingSettings
    from sandbox.providers import StandinHandle

MESSAGE_QUEUE = "messages"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def senders_env(campaigns: list[Campaign]) -> str:
    """``CADENCIA_SENDERS`` from the campaign files' senders."""
    senders: dict[str, dict[str, str]] = {}
    for c in campaigns:
        own = {name: ch.sender for name, ch in c.channels.items() if name != "voice" and ch.sender}
        whatsapp = c.channels.get("whatsapp")
        if whatsapp is not None and whatsapp.approved_template:
            own["whatsapp_template"] = whatsapp.approved_template
        senders[c.name] = own
    return json.dumps(senders)


SANDBOX_QUEUE = "cadencia-test"  # the Asterisk test overlay's queue


def sandbox_dialer_env(
    state: SandboxState,
    clock: Clock,
    campaigns: list[Campaign],
    database_url: str,
    redis_url: str,
    *,
    answer_percent: int = 25,
) -> dict[str, str]:
    """Dialer settings for the sandbox: its AMI, its simulated phone network, compressed times.

    ``answer_percent``: the share of simulated debtors who pick up (the rest:
    15% machines, 10% busy, the others never answer).
    """
    from campaigns.dialing import DialerSettings

    talk_s = max(c.agents.talk_minutes for c in campaigns) * 60
    settings = DialerSettings(
        database_url=database_url,
        redis_url=redis_url,
        ami_host=state.host,
        ami_port=state.port,
        ami_username=state.username,
        ami_secret=state.secret,
        # The sandbox's [pstn] context plays debtors: answer, busy, machine…
        channel_template="Local/{last7}@pstn",
        dial_queue=SANDBOX_QUEUE,
        dial_variables={
            "PSTN_P_ANSWER": str(answer_percent),
            "PSTN_P_MACHINE": "15",
            "PSTN_P_BUSY": "10",
            "PSTN_TALK": "3600",  # the debtor stays on; the agent ends the call
            "PSTN_RING": "1",  # real seconds: under the ring timeout's real-time floor
            "__AGENT_TALK": f"{max(1.0, talk_s / clock.factor):.2f}",
        },
    )
    return settings.to_env()


def ready_agents(state: SandboxState, agents: int) -> None:
    """Agents 1..N logged in to the sandbox's test queue and ready (1 and 2 are built in)."""
    from sandbox.asterisk import SandboxError, cli_command

    for n in range(1, agents + 1):
        if n > 2:
            try:
                cli_command(
                    state,
                    f"queue add member Local/agent{n}@agents/n to {SANDBOX_QUEUE} "
                    f"penalty 0 as agent{n} state_interface Custom:agent{n}",
                )
            except SandboxError as exc:
                if "Already there" not in str(exc):  # a later day of the same sandbox
                    raise
        cli_command(state, f"devstate change Custom:agent{n} NOT_INUSE")
        cli_command(state, f"queue unpause member Local/agent{n}@agents/n queue {SANDBOX_QUEUE}")


@dataclass
class LocalServices:
    """What is running for the day; ``env`` is what worker processes get."""

    env: dict[str, str]
    redis_url: str
    standin: Any
    receiver: Any
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    stoppers: list[Callable[[], None]] = field(default_factory=list)

    def message_queue(self) -> Queue:
        """The RQ queue the run dispatches message batches to."""
        return rq_queue(MESSAGE_QUEUE, connection=Redis.from_url(self.redis_url))

    def voice(self, clock: Clock) -> VoiceDispatcher | None:
        """The voice dispatcher when a PBX was given (dial sessions on its queue), else None."""
        if "CADENCIA_AMI_PORT" not in self.env:
            return None
        from campaigns.dialing import voice_dispatcher
        from campaigns.dialing.job import DEFAULT_QUEUE

        return voice_dispatcher(
            rq_queue(DEFAULT_QUEUE, connection=Redis.from_url(self.redis_url)), clock=clock
        )


@contextlib.contextmanager
def local_services(
    database_url: str,
    redis_url: str,
    campaigns: list[Campaign],
    clock: Clock,
    *,
    workers: int = 2,
    log_dir: Path,
    extra_env: Mapping[str, str] | None = None,
    mix: Any = None,
    asterisk: SandboxState | None = None,
    agents: int = 0,
    answer_percent: int = 25,
) -> Iterator[LocalServices]:
    """Providers, webhook receiver and workers for one day; all stopped on exit.

    ``mix`` (a ``sandbox.providers.WebhookMix``) sets what the stand-in reports back.
    With ``asterisk`` (a running sandbox), voice is dialed there: ``agents``
    simulated agents are made ready in its test queue and the workers get the
    dialer's settings, with ring and talk times compressed like the clock, and
    ``answer_percent`` of the simulated debtors answering.
    """
    from campaigns.settings import MessagingSettings
    from campaigns.storage.db import make_engine

    log_dir.mkdir(parents=True, exist_ok=True)
    # The receiver's port is chosen first: the stand-in needs its webhook URLs.
    port = _free_port()
    hooks = f"http://127.0.0.1:{port}"
    standin = _start_standin(mix, hooks)
    env = _services_env(database_url, redis_url, campaigns, clock, standin, hooks, extra_env)
    if asterisk is not None:
        env.update(
            sandbox_dialer_env(
                asterisk, clock, campaigns, database_url, redis_url, answer_percent=answer_percent
            )
        )
        ready_agents(asterisk, agents)
    settings = MessagingSettings.from_env(env)
    engine = make_engine(database_url)
    receiver = _WebhookReceiver.start(settings, engine, clock, port)
    services = LocalServices(
        env=env, redis_url=redis_url, standin=standin, receiver=receiver.server
    )
    try:
        receiver.wait_started()
        _start_workers(services, workers, log_dir)
        yield services
    finally:
        _run_stoppers(services.stoppers)
        _stop_workers(services.workers)
        receiver.stop()
        standin.stop()
        engine.dispose()


def _start_standin(mix: Any, hooks: str) -> StandinHandle:
    """The SendGrid/Twilio stand-in, reporting delivery events to the receiver at ``hooks``."""
    from sandbox.providers import start_standin

    return start_standin(
        mix=mix,
        sendgrid_webhook_url=f"{hooks}/webhooks/sendgrid",
        twilio_status_url=f"{hooks}/webhooks/twilio/status",
        twilio_inbound_url=f"{hooks}/webhooks/twilio/inbound",
    )


def _services_env(
    database_url: str,
    redis_url: str,
    campaigns: list[Campaign],
    clock: Clock,
    standin: StandinHandle,
    hooks: str,
    extra_env: Mapping[str, str] | None,
) -> dict[str, str]:
    """The environment the receiver's settings and the workers are built from.

    Later entries win: the day's own variables override ``extra_env``, which
    overrides the stand-in's credentials, which override the caller's environment.
    """
    return {
        **os.environ,
        **standin.env(),
        **(extra_env or {}),
        "CADENCIA_DATABASE_URL": database_url,
        "CADENCIA_REDIS_URL": redis_url,
        "CADENCIA_SENDERS": senders_env(campaigns),
        "CADENCIA_WEBHOOK_BASE_URL": hooks,
        "CADENCIA_PROVIDER_STANDIN_URL": standin.base_url,
        "CADENCIA_OPT_OUT_URL": f"{hooks}/opt-out/{{customer}}/{{channel}}",
        "PAYMENT_LINK_URL_PATTERN": "https://pay.example.com/p/{token}",
        "PAYMENT_LINK_SECRET": secrets.token_hex(16),
        "CADENCIA_SIM_CLOCK": clock.to_env(),
    }


@dataclass
class _WebhookReceiver:
    """The provider webhook receiver: uvicorn serving in a daemon thread of this process."""

    server: uvicorn.Server
    thread: threading.Thread

    @classmethod
    def start(
        cls, settings: MessagingSettings, engine: Engine, clock: Clock, port: int
    ) -> _WebhookReceiver:
        """Start serving on ``port``; ``wait_started`` blocks until it accepts requests."""
        import uvicorn

        from campaigns.observability import mask_server_logs
        from campaigns.webhooks import create_webhook_app

        server = uvicorn.Server(
            uvicorn.Config(
                create_webhook_app(settings, engine, event_clock=clock),
                host="127.0.0.1",
                port=port,
                log_level="warning",
            )
        )
        mask_server_logs()  # as ``cadencia webhooks`` does: uvicorn's handlers too
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        return cls(server, thread)

    def wait_started(self, timeout_s: float = 20) -> None:
        """Return once the server listens; raise if it died or took over ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the webhook receiver did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        """Ask uvicorn to exit and give it ten seconds to finish in-flight requests."""
        self.server.should_exit = True
        self.thread.join(timeout=10)


def _start_workers(services: LocalServices, workers: int, log_dir: Path) -> None:
    """``workers`` single-process ``cadencia worker``s, each logging to its own file.

    Each is added to ``services.workers`` as soon as it starts, so that one
    failing to start still leaves the others to be stopped.
    """
    for n in range(workers):
        log = (log_dir / f"worker-{n}.log").open("ab")
        services.workers.append(
            subprocess.Popen(
                [sys.executable, "-m", "cadencia", "worker", "--workers", "1"],
                env=services.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )


def _run_stoppers(stoppers: list[Callable[[], None]]) -> None:
    """The callers' own stoppers, last registered first; one failing does not stop the rest."""
    for stop in reversed(stoppers):
        with contextlib.suppress(Exception):
            stop()


def _stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM every worker still running, then wait for each (killed after 15 s)."""
    # Signal all before waiting on any, so they wind down in parallel.
    for child in workers:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in workers:
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()


def run_day(
    engine: Engine,
    campaign_path: Path,
    day: dt.date,
    services: LocalServices,
    clock: Clock,
    *,
    timeout_s: float = 900,
    on_progress: Callable[[str, dt.datetime], None] | None = None,
    poll_s: float = 1.0,
) -> int:
    """Plan, dispatch and execute ``day`` until its run closes; returns the run id."""
    step = execution_step(
        services.message_queue(),
        voice=services.voice(clock),
        grace=dt.timedelta(minutes=20),
        clock=clock,
    )
    run_id = create_run(engine, campaign_path, day, needs_approval=False, now=clock.now())
    deadline = time.monotonic() + timeout_s
    state = advance(engine, run_id, now=clock.now(), dispatch=step)
    while state != "closed":
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} still {state} after {timeout_s:.0f}s")
        dead = [w for w in services.workers if w.poll() is not None]
        if dead:
            raise RuntimeError(f"a worker exited with {dead[0].returncode}; see its log")
        if on_progress is not None:
            on_progress(state, clock.now())
        time.sleep(poll_s)
        state = advance(engine, run_id, now=clock.now(), dispatch=step)
    return run_id


def voice_day(campaign_path: Path, planned_voice: int) -> dict[str, Any]:
    """The campaign's voice day in the simulator: its agents, slots and abandon rule."""
    campaign = load_campaign(campaign_path)
    agents = round(sum(campaign.agents.per_slot) / campaign.slots)
    scenario = Scenario(
        agents=agents,
        hours=float(campaign.slots),
        live_rate=campaign.priors.right_party_rate.get("voice", 0.25),
        talk_mean=campaign.agents.talk_minutes * 60,
        wrap_seconds=campaign.agents.wrap_minutes * 60,
    )
    policy = Pacer(
        PacingConfig(
            mode=Mode(campaign.dialer.mode),
            rule=AbandonRule(max_rate=campaign.dialer.abandon_target),
            priors=PacingPriors(live_rate=0.2),
        )
    )
    result = simulate(scenario, policy, seed=1)
    dialed = result.calls_per_hour * campaign.slots
    return {
        "agents": agents,
        "planned_voice_attempts": planned_voice,
        "simulated_dials_capacity": round(dialed),
        "talk_minutes_per_agent_hour": round(result.talk_minutes_per_agent_hour, 2),
        "abandon_pct": round(100 * result.abandon_rate, 2),
    }
