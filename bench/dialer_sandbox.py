"""The dial session on the real sandbox Asterisk, time-scaled; prints ONE JSON object.

    .venv/bin/python -m bench.dialer_sandbox --agents 10 --minutes 10 [--scale 10] \\
        [--mode predictive]

Runs ``campaigns.dialing.run_dial_session`` (the same Pacer, agent board,
Redis hopper, ledger guard and outcome sink a worker runs) for ``--minutes``
of real time against a private sandbox Asterisk, with the issue-6 scenario's
times divided by ``--scale``: talk log-normal mean 180 s / scale (CV 0.6),
wrap-up 30 s / scale, ring 5-25 s / scale, no-answer timeout 30 s / scale;
25 % live answers, 15 % machines, 10 % busy, drawn by the dialplan. AMD and
the safe-harbour wait (1 s after AMD) are Asterisk's own and cannot be scaled.
Wrap-up is played by an "agent desktop" that pauses each agent (reason
``wrapup``) for the wrap time after every call, as agents keying a disposition.

Figures come from Asterisk's own ``queue_log``: live answers (ENTERQUEUE),
abandons (ABANDON / EXITWITHTIMEOUT / EXITEMPTY), talk time (COMPLETE*
calltime). ``talk_minutes_per_agent_hour`` is a share of the agents' time, the
same scaled or not; ``calls_per_hour`` is scaled back to the unscaled clock.
``simulator`` runs ``dialer.simulate`` on the same scaled scenario with the
same pacing configuration (calibration): mean and spread over ``--sim-seeds``,
two ways that bracket the sandbox's AMD timing (see ``simulator()``).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import os
import random
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from redis import Redis

from campaigns.campaign import Campaign
from campaigns.dialing import (
    DialerSettings,
    DialSlot,
    RedisHopper,
    pacing_config,
    run_dial_session,
)
from campaigns.ledger.chain import EVENTS
from campaigns.storage.db import make_engine, migrate
from campaigns.storage.models import Customer, PlannedContact, Run
from dialer.agents import WRAPUP_PAUSE_REASON
from dialer.ami import AmiClient, AmiEvent
from dialer.pacing import Pacer
from dialer.simulate import Scenario, simulate
from sandbox import asterisk as sandbox
from tests.support.portfolio import load_rows, us_row

CAMPAIGN = """
name = "bench-sandbox"
currency = "USD"
timezone = "UTC"
first_hour = 0

[rule_packs]
US = ["us-regf", "house"]

[channels.voice]
cost = 0.35
sender = "+12125550100"

[agents]
per_slot = [{agents}]
talk_minutes = 3.0
wrap_minutes = 0.5

[dialer]
mode = "{mode}"
abandon_target = {target}
ring_timeout_s = 30
amd = true
queue = "cadencia-test"
"""
QUEUE = "cadencia-test"
ABANDON_EVENTS = {"ABANDON", "EXITWITHTIMEOUT", "EXITEMPTY"}


def private_redis() -> tuple[subprocess.Popen[bytes], str]:
    """A throwaway redis-server on a free port (no persistence)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("bench: redis-server is not on PATH")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = Redis.from_url(url)
    for _ in range(200):
        try:
            client.ping()
            break
        except Exception:
            time.sleep(0.05)
    client.close()
    return proc, url


def zone_at_local_hour(hour: int) -> str:
    """An ``Etc/GMT±N`` zone where it is now about ``hour`` o'clock."""
    now = dt.datetime.now(dt.UTC)
    offset = (hour - now.hour + 12) % 24 - 12
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/UTC"


def make_plan(url: str, n: int, campaign_toml: str, slot: DialSlot) -> int:
    """``n`` New York debtors with random-outcome numbers, one run, all planned in slot 0."""
    engine = make_engine(url)
    rng = random.Random(7)
    rows = []
    for i in range(n):
        # 212-556-xxxx: not one of the dialplan's fixed-outcome test numbers
        rows.append(
            us_row(
                customer_id=f"B{i}",
                customer_name=f"Bench Debtor{i}",
                account_id=f"BA{i}",
                phone_1=f"+1 212 556 {rng.randrange(10_000):04d}",
                phone_1_consent="granted",
            )
        )
    now = dt.datetime.now(dt.UTC)
    load_rows(engine, rows, now - dt.timedelta(days=1))
    with engine.begin() as conn:
        conn.execute(sa.update(Customer).values(timezones=zone_at_local_hour(10)))
        run_id = int(
            conn.execute(
                sa.insert(Run).values(
                    campaign="bench-sandbox",
                    day=slot.slot_start.date(),
                    campaign_toml=campaign_toml,
                    state="executing",
                    needs_approval=False,
                    created_at=now,
                    updated_at=now,
                    summary="{}",
                    error=None,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        )
        conn.execute(
            sa.insert(PlannedContact),
            [
                {
                    "run_id": run_id,
                    "customer_id": f"B{i}",
                    "channel": "voice",
                    "slot": 0,
                    "slot_start": slot.slot_start,
                    "rank": min(i, 30_000),
                    "value": 1.0,
                    "arm": "optimised",
                    "status": "dispatched",
                }
                for i in range(n)
            ],
        )
        ids = conn.execute(
            sa.select(PlannedContact.id, PlannedContact.customer_id).order_by(PlannedContact.id)
        ).all()
    engine.dispose()
    redis_conn = Redis.from_url(os.environ["BENCH_REDIS_URL"])
    RedisHopper(redis_conn, run_id, 0).fill([(int(r.id), r.customer_id) for r in ids])
    redis_conn.close()
    return run_id


async def agent_desktop(state: sandbox.SandboxState, wrap_s: float, stop: asyncio.Event) -> None:
    """Each agent keys a disposition after every call: paused ``wrapup`` for ``wrap_s``."""
    client = AmiClient(state.host, state.port, state.username, state.secret)
    pending: set[asyncio.Task[None]] = set()

    async def wrap(interface: str) -> None:
        fields = [("Queue", QUEUE), ("Interface", interface)]
        await client.send_action(
            "QueuePause", [*fields, ("Paused", "true"), ("Reason", WRAPUP_PAUSE_REASON)]
        )
        await asyncio.sleep(wrap_s)
        await client.send_action("QueuePause", [*fields, ("Paused", "false")])

    async def on_event(event: AmiEvent) -> None:
        if event.name == "AgentComplete" and event.get("Queue") == QUEUE:
            task = asyncio.create_task(wrap(event.get("Interface") or ""))
            pending.add(task)
            task.add_done_callback(pending.discard)

    client.add_event_handler(on_event)
    async with client:
        await stop.wait()
        await asyncio.gather(*pending, return_exceptions=True)


def queue_log_figures(
    path: Path, prefix: str, agents: int, start: float, wall_s: float
) -> dict[str, Any]:
    """Live answers, abandons and talk time of this bench's calls, from ``queue_log``.

    Talk is counted inside the dialing window only (from ``start``, a Unix
    time, for ``wall_s``), as the simulator counts it inside the shift: calls
    still talking when the session stops dialing add only their part before.
    """
    live = abandoned = connected = 0
    talk = 0.0
    for line in path.read_text(errors="replace").splitlines():
        parts = line.split("|")
        if len(parts) < 5 or not parts[1].startswith(prefix):
            continue
        event = parts[4]
        if event == "ENTERQUEUE":
            live += 1
        elif event in ABANDON_EVENTS:
            abandoned += 1
        elif event == "CONNECT":
            connected += 1
        elif event in ("COMPLETECALLER", "COMPLETEAGENT"):
            end = float(parts[0])
            begin = end - float(parts[6])
            talk += max(0.0, min(end, start + wall_s) - max(begin, start))
    return {
        "live_answers": live,
        "abandoned": abandoned,
        "connected": connected,
        "talk_seconds": talk,
        "abandon_pct": round(100.0 * abandoned / live, 3) if live else 0.0,
        "talk_minutes_per_agent_hour": round(talk / 60.0 / (agents * wall_s / 3600.0), 2),
    }


def simulator(
    campaign: Campaign,
    agents: int,
    minutes: float,
    scale: float,
    seeds: int,
    *,
    amd_in_ring: bool,
) -> dict[str, Any]:
    """The same scaled scenario and pacing configuration in ``dialer.simulate``.

    In the sandbox AMD says HUMAN 1.8 s after the answer (0.5 s "hello", then
    amd.conf's silence) and MACHINE 2.0 s after it (measured on the sandbox).
    The simulator has one "ring until resolved" time and no "answered, under
    AMD" state, so it is run two ways that bracket the sandbox: AMD instant for
    people (``amd_in_ring`` False: machines 2.0 s after the answer), or both
    AMD delays folded into the ring, the no-answer timeout stretched likewise
    (then a call still unresolved at 3 s may yet be a no-answer, which in the
    sandbox it cannot: the pacer knows less than it does on Asterisk).
    """
    shift = 1.8 if amd_in_ring else 0.0
    sc = Scenario(
        agents=agents,
        hours=minutes / 60.0,
        ring_seconds=(5.0 / scale + shift, 25.0 / scale + shift),
        busy_seconds=(0.2, 0.6),
        no_answer_timeout=30.0 / scale + shift,
        amd_seconds=2.0 - shift,
        talk_mean=180.0 / scale,
        wrap_seconds=30.0 / scale,
        grace_seconds=1.0,
        tick_seconds=0.25,
    )
    talk, aband, cph = [], [], []
    for seed in range(seeds):
        res = simulate(sc, Pacer(pacing_config(campaign, scale)), seed=seed)
        talk.append(res.talk_minutes_per_agent_hour)
        aband.append(100.0 * res.abandon_rate)
        cph.append(res.calls_per_hour / scale)

    def stat(xs: list[float]) -> dict[str, float]:
        return {
            "mean": round(statistics.fmean(xs), 3),
            "sd": round(statistics.stdev(xs), 3) if len(xs) > 1 else 0.0,
        }

    return {
        "seeds": seeds,
        "talk_minutes_per_agent_hour": stat(talk),
        "abandon_pct": stat(aband),
        "calls_per_hour": stat(cph),
    }


async def bench(args: argparse.Namespace, state: sandbox.SandboxState, workdir: Path) -> Any:
    scale, agents = args.scale, args.agents
    toml = CAMPAIGN.format(agents=agents, mode=args.mode, target=args.abandon_target)
    campaign = Campaign.model_validate(tomllib.loads(toml))
    wall_s = args.minutes * 60.0
    start = dt.datetime.now(dt.UTC).replace(microsecond=0)
    slot = DialSlot(0, 0, start, start + dt.timedelta(seconds=wall_s * scale), scale)
    url = f"sqlite:///{workdir}/bench.db"
    migrate(url)
    # enough debtors for ~3 dials per agent-minute of scaled time, with margin
    debtors = max(200, int(agents * args.minutes * 12 * scale / 10 * 1.5))
    run_id = make_plan(url, debtors, toml, slot)
    slot = DialSlot(run_id, 0, slot.slot_start, slot.slot_end, scale)
    prefix = f"bench{os.getpid()}"
    settings = DialerSettings(
        database_url=url,
        redis_url=os.environ["BENCH_REDIS_URL"],
        ami_host=state.host,
        ami_port=state.port,
        ami_username=state.username,
        ami_secret=state.secret,
        channel_template="Local/{last7}@pstn",
        dial_queue=QUEUE,
        dial_variables={
            "PSTN_P_ANSWER": "25",
            "PSTN_P_MACHINE": "15",
            "PSTN_P_BUSY": "10",
            "PSTN_TALK": "3600",  # the debtor stays on; the agent ends the call
        },
        call_prefix=prefix,
    )
    rng = random.Random(args.seed)
    s2 = math.log1p(0.6**2)
    mu, sigma = math.log(180.0 / scale) - s2 / 2, math.sqrt(s2)

    def per_call(attempt_id: int, number: str) -> dict[str, str]:
        return {
            "PSTN_RING": f"{rng.uniform(5.0, 25.0) / scale:.2f}",
            "__AGENT_TALK": f"{rng.lognormvariate(mu, sigma):.2f}",
        }

    sandbox.ready_agents(state, agents, QUEUE)
    stop = asyncio.Event()
    desktop = asyncio.create_task(agent_desktop(state, 30.0 / scale, stop))
    await asyncio.sleep(0.5)
    began, began_unix = time.monotonic(), time.time()
    report = await run_dial_session(
        settings,
        slot,
        variables=per_call,
        session_options={"tick_s": 0.25, "drain_s": 30.0},
    )
    elapsed = time.monotonic() - began
    stop.set()
    await desktop
    figures = queue_log_figures(state.queue_log, prefix, agents, began_unix, wall_s)
    if args.keep_queue_log:
        shutil.copyfile(state.queue_log, args.keep_queue_log)
    engine = make_engine(url)
    with engine.connect() as conn:
        attempts = conn.execute(
            sa.select(sa.func.count()).where(
                EVENTS.c.channel == "voice", EVENTS.c.resolves_id.is_(None)
            )
        ).scalar_one()
    engine.dispose()
    limit = 60.0 * 180.0 / (180.0 + 30.0)
    out: dict[str, Any] = {
        "agents": agents,
        "minutes": args.minutes,
        "scale": scale,
        "mode": args.mode,
        "abandon_target_pct": 100.0 * args.abandon_target,
        "talk_minutes_per_agent_hour": figures["talk_minutes_per_agent_hour"],
        "pct_of_limit": round(100.0 * figures["talk_minutes_per_agent_hour"] / limit, 2),
        "abandon_pct": figures["abandon_pct"],
        "calls_per_hour": round(report.dials / (wall_s / 3600.0) / scale, 1),
        "queue_log": {k: figures[k] for k in ("live_answers", "abandoned", "connected")},
        "session": {
            "dials": report.dials,
            "ledger_attempts": attempts,
            "outcomes": dict(report.outcomes),
            "left_pending": len(report.left_pending),
            "max_in_flight": report.max_in_flight,
            "elapsed_s": round(elapsed, 1),
        },
        "no_idle_limit": round(limit, 2),
    }
    if args.sim_seeds > 0:
        out["simulator"] = {
            "amd_instant_for_people": simulator(
                campaign, agents, args.minutes, scale, args.sim_seeds, amd_in_ring=False
            ),
            "amd_in_ring": simulator(
                campaign, agents, args.minutes, scale, args.sim_seeds, amd_in_ring=True
            ),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--minutes", type=float, default=10.0, help="real minutes to dial")
    parser.add_argument("--scale", type=float, default=10.0, help="scenario times divided by")
    parser.add_argument("--mode", default="predictive", choices=["predictive", "progressive"])
    parser.add_argument("--abandon-target", type=float, default=0.03)
    parser.add_argument("--sim-seeds", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep-queue-log", type=Path, help="copy Asterisk's queue_log here")
    args = parser.parse_args()
    missing = sandbox.prerequisites_missing()
    if missing:
        raise SystemExit(f"bench: the Asterisk sandbox cannot run here: {missing}")
    redis_proc, redis_url = private_redis()
    os.environ["BENCH_REDIS_URL"] = redis_url
    name = f"bench-{os.getpid()}"
    try:
        state = sandbox.start(name, timeout=90.0)
        with tempfile.TemporaryDirectory() as tmp:
            result = asyncio.run(bench(args, state, Path(tmp)))
        print(json.dumps(result))
    finally:
        sandbox.stop(name, keep_files=False)
        redis_proc.send_signal(signal.SIGKILL)
        redis_proc.wait(10)


if __name__ == "__main__":
    main()
