"""Answering-machine detection on real audio; prints ONE JSON object.

    .venv/bin/python -m bench.amd --calls 200 [--concurrency 4] [--seed 1] \\
        [--per-class 24] [--set total_analysis_time=3500 ...]

A private sandbox Asterisk in carrier mode (``sandbox.carrier``): the
production trunk ``carrier`` points at SIPp, which answers each call with a
recording of ``sandbox.voices`` (people saying hello in Spanish and English,
voicemail greetings of 5-15 s; several voices, speeds, levels and noise),
chosen by the dialed number, so the bench knows the truth of every call.

Calls are placed with AMI Originate built by the dial session's own
``AmiPbx.dial`` (channel ``PJSIP/{e164}@carrier`` into ``cadencia-outbound``
with the same variables), not by a whole dial session: AMD lives entirely in
the dialplan, and a dial session would add pacing, a database, Redis and the
ledger, and decide itself how many calls are in flight, none of which changes
what AMD hears. ``--concurrency`` caps the calls in flight; that many agents
(Local channels of the test overlay) are ready so persons are passed on at
once, as on a floor with free agents.

``--set key=value`` (repeatable) overrides an ``amd.conf`` value for this run
(the instance's copy is rewritten and app_amd reloaded), for tuning; the JSON
says which values were used. Figures: accuracy (NOTSURE is queued like a
person, so it counts as "person"), per class, confusion by AMDSTATUS, decision
time (answer to the dialplan's CadenciaAmd event) median and p90, NOTSURE
share, and the safe-harbour figure: persons passed on more than 2 s after the
end of their hello (or not at all). The machine's load (``os.getloadavg``)
is given beside them: timings are real-time and the host is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import time
from pathlib import Path
from typing import Any

from sandbox import amd_calls, carrier, voices
from sandbox import asterisk as sandbox

AMD_CONF = sandbox.CONFIG_SOURCE / "amd.conf"


def amd_values(text: str) -> dict[str, int]:
    """The ``[general]`` values of an amd.conf text (comments dropped)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        found = re.match(r"\s*(\w+)\s*=\s*(\d+)", line.split(";", 1)[0])
        if found:
            out[found.group(1)] = int(found.group(2))
    return out


def apply_overrides(state: sandbox.SandboxState, overrides: dict[str, int]) -> dict[str, int]:
    """Rewrite the instance's amd.conf with ``overrides`` and reload app_amd; the values used."""
    conf = Path(state.instance_dir) / "etc" / "amd.conf"  # the instance's copy of AMD_CONF
    values = {**amd_values(conf.read_text()), **overrides}
    if overrides:
        conf.write_text("[general]\n" + "".join(f"{k} = {v}\n" for k, v in values.items()))
        sandbox.cli_command(state, "module reload app_amd.so")
    return values


def make_plan(recordings: list[voices.Recording], calls: int, seed: int) -> list[voices.Recording]:
    """``calls`` recordings, people and machines alternating, each class's
    recordings dealt in turn (shuffled with ``seed``) so all are dialed alike:
    AMD is deterministic on a given recording, so a random draw would weigh
    some recordings more than others."""
    rng = random.Random(seed)
    people = [r for r in recordings if r.kind == voices.PERSON]
    machines = [r for r in recordings if r.kind == voices.MACHINE]
    rng.shuffle(people)
    rng.shuffle(machines)
    return [
        people[(i // 2) % len(people)] if i % 2 == 0 else machines[(i // 2) % len(machines)]
        for i in range(calls)
    ]


def parse_sets(items: list[str]) -> dict[str, int]:
    """``key=value`` pairs (integers, milliseconds or counts) from ``--set``."""
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        if not value.isdigit():
            raise SystemExit(f"bench: --set {item!r}: expected key=integer")
        out[key.strip()] = int(value)
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Make the recordings, start SIPp and the sandbox, dial, summarise."""
    carrier.ensure_tools()
    recordings = voices.ensure(args.per_class, seed=args.voices_seed)
    plan = make_plan(recordings, args.calls, args.seed)
    name = f"bench-amd-{os.getpid()}"
    load_before = os.getloadavg()
    began = time.monotonic()
    with carrier.running(recordings, ring_ms=args.ring_ms) as sipp:
        try:
            state = sandbox.start(name, timeout=90.0, carrier_port=sipp.port)
            values = apply_overrides(state, parse_sets(args.set))
            sandbox.ready_agents(state, args.concurrency)
            results = asyncio.run(amd_calls.dial_all(state, plan, args.concurrency))
        finally:
            sandbox.stop(name, keep_files=False)
    summary = amd_calls.summarize(results)
    if args.calls_out:
        args.calls_out.write_text(
            "".join(json.dumps(amd_calls.call_row(r)) + "\n" for r in results)
        )
    return {
        **summary,
        # What is measured: the production dialplan's AMD step on real audio, the
        # calls placed by the dialer's own Originate, not by a whole dial session.
        "path": "AmiPbx.dial Originate -> cadencia-outbound AMD -> SIPp carrier (recorded audio)",
        "amd_conf": values,
        "overrides": parse_sets(args.set),
        "recordings": {"per_class": args.per_class, "voices_seed": args.voices_seed},
        "concurrency": args.concurrency,
        "seed": args.seed,
        "elapsed_s": round(time.monotonic() - began, 1),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1, help="which recordings are dialed")
    parser.add_argument("--per-class", type=int, default=24, help="recordings per class")
    parser.add_argument("--voices-seed", type=int, default=1, help="how the recordings are made")
    parser.add_argument("--ring-ms", type=int, default=1000)
    parser.add_argument("--calls-out", type=Path, help="write one JSON line per call here")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override an amd.conf value for this run")  # fmt: skip
    args = parser.parse_args()
    missing = sandbox.prerequisites_missing()
    if missing:
        raise SystemExit(f"bench: the Asterisk sandbox cannot run here: {missing}")
    print(json.dumps(run(args)))


if __name__ == "__main__":
    main()
