"""Calls to the SIPp carrier through the production dialplan, and what AMD made of them.

Each call is placed with the dial session's own Originate
(``campaigns.dialing.pbx.AmiPbx.dial``: channel ``PJSIP/{e164}@carrier``,
context ``cadencia-outbound``, the same channel variables), so the answered
channel runs the production AMD step and queue. What happened is read from
AMI as it arrives, stamped with this process's monotonic clock:

* the answer: ``Newstate`` Up of the call's channel (SIPp starts its RTP
  stream when Asterisk's ACK arrives, within a millisecond of that);
* AMD's verdict: the dialplan's ``UserEvent(CadenciaAmd)`` (Status, Cause);
* the hand-over to an agent: ``AgentConnect`` of the call;
* the end: ``Hangup``.

The decision time is verdict minus answer, on real media: AMD counts the
20 ms RTP frames it actually received. The person's wait for an agent (the
2-second safe-harbour rule) runs from the end of their hello, which the
recording's catalogue gives as an offset from the answer.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from campaigns.dialing.pbx import AmiPbx
from dialer.ami import AmiClient, AmiEvent
from sandbox import asterisk as sandbox
from sandbox.carrier import number_for
from sandbox.voices import MACHINE, PERSON, Recording

QUEUE = "cadencia-test"
SAFE_HARBOUR_S = 2.0


@dataclass
class CallResult:
    """One call: the recording's truth and what Asterisk did, in seconds from the answer."""

    recording: Recording
    call_id: str
    status: str = ""  # AMDSTATUS: HUMAN, MACHINE, NOTSURE, HANGUP; "" none seen
    cause: str = ""
    answered_at: float | None = None
    decided_at: float | None = None
    connected_at: float | None = None
    ended_at: float | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def decision_s(self) -> float | None:
        """Answer to AMD's verdict."""
        if self.answered_at is None or self.decided_at is None:
            return None
        return self.decided_at - self.answered_at

    @property
    def predicted(self) -> str:
        """What the dialplan did with the call: MACHINE hangs up, anything else is queued."""
        return MACHINE if self.status == "MACHINE" else PERSON

    @property
    def wait_after_hello_s(self) -> float | None:
        """End of the person's hello to an agent on the line (None: no agent took it)."""
        if self.answered_at is None or self.connected_at is None:
            return None
        return self.connected_at - (self.answered_at + self.recording.speech_end_s)


def _on_event(calls: dict[str, CallResult], event: AmiEvent) -> None:
    now = time.monotonic()
    call = calls.get(event.get("Uniqueid") or "")
    if call is None:
        return
    if event.name == "Newstate" and event.get("ChannelStateDesc") == "Up":
        call.answered_at = call.answered_at or now
    elif event.name == "UserEvent" and event.get("UserEvent") == "CadenciaAmd":
        call.status, call.cause = event.get("Status") or "", event.get("Cause") or ""
        call.decided_at = now
    elif event.name == "AgentConnect":
        call.connected_at = call.connected_at or now
    elif event.name == "Hangup":
        call.ended_at = now
        call.done.set()


async def dial_all(
    state: sandbox.SandboxState,
    plan: Sequence[Recording],
    concurrency: int,
    call_timeout: float = 60.0,
) -> list[CallResult]:
    """Dial the carrier number of every recording in ``plan``, ``concurrency`` at a time.

    Agents talk 1 s (``__AGENT_TALK``) so a person's call frees its agent fast.
    """
    client = AmiClient(state.host, state.port, state.username, state.secret)
    calls: dict[str, CallResult] = {}

    async def handler(event: AmiEvent) -> None:
        _on_event(calls, event)

    client.add_event_handler(handler)
    pbx = AmiPbx(client, QUEUE, channel_template="PJSIP/{e164}@carrier",
                 variables=lambda _a, _n: {"__AGENT_TALK": "1"})  # fmt: skip
    gate = asyncio.Semaphore(concurrency)

    async def one(attempt: int, recording: Recording) -> None:
        async with gate:
            call = CallResult(recording, f"amd-{attempt}")
            calls[call.call_id] = call
            await pbx.dial(call.call_id, number_for(recording), attempt_id=attempt,
                           ring_timeout=30.0)  # fmt: skip
            try:
                await asyncio.wait_for(call.done.wait(), call_timeout)
            except TimeoutError:
                call.status = call.status or "TIMEOUT"

    async with client:
        await asyncio.gather(*(one(i + 1, rec) for i, rec in enumerate(plan)))
    return [calls[f"amd-{i + 1}"] for i in range(len(plan))]


def call_row(result: CallResult) -> dict[str, object]:
    """One call as a flat JSON-able row (the bench's ``--calls-out``)."""
    rec = result.recording

    def r3(x: float | None) -> float | None:
        return None if x is None else round(x, 3)

    return {
        "call_id": result.call_id, "recording": rec.index, "kind": rec.kind, "voice": rec.voice,
        "text": rec.text, "speech_s": rec.speech_s, "speech_end_s": rec.speech_end_s,
        "level_db": rec.level_db, "noise_db": rec.noise_db, "status": result.status,
        "cause": result.cause, "decision_s": r3(result.decision_s),
        "wait_after_hello_s": r3(result.wait_after_hello_s),
    }  # fmt: skip


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def summarize(results: Sequence[CallResult]) -> dict[str, object]:
    """Accuracy overall and per class, confusion counts, decision times, NOTSURE, safe harbour."""
    decided = [r for r in results if r.status in ("HUMAN", "MACHINE", "NOTSURE")]
    confusion: dict[str, dict[str, int]] = {PERSON: {}, MACHINE: {}}
    for r in results:
        row = confusion[r.recording.kind]
        row[r.status or "NONE"] = row.get(r.status or "NONE", 0) + 1
    per_class = {}
    for kind in (PERSON, MACHINE):
        of_kind = [r for r in decided if r.recording.kind == kind]
        right = sum(r.predicted == kind for r in of_kind)
        times = [t for r in of_kind if (t := r.decision_s) is not None]
        per_class[kind] = {
            "calls": sum(r.recording.kind == kind for r in results),
            "accuracy": round(right / len(of_kind), 4) if of_kind else None,
            "decision_s_median": _quantile(times, 0.5),
            "decision_s_p90": _quantile(times, 0.9),
        }
    times = [t for r in decided if (t := r.decision_s) is not None]
    passed = [r for r in decided if r.recording.kind == PERSON and r.predicted == PERSON]
    waits = [w for r in passed if (w := r.wait_after_hello_s) is not None]
    late = sum(1 for r in passed if r.wait_after_hello_s is None or r.wait_after_hello_s > 2.0)
    right = sum(r.predicted == r.recording.kind for r in decided)
    return {
        "calls": len(results),
        "decided": len(decided),
        "accuracy": round(right / len(decided), 4) if decided else None,
        "per_class": per_class,
        "confusion": confusion,
        "decision_s_median": _quantile(times, 0.5),
        "decision_s_p90": _quantile(times, 0.9),
        "decision_s_mean": round(statistics.fmean(times), 3) if times else None,
        "notsure_share": round(sum(r.status == "NOTSURE" for r in decided) / len(decided), 4)
        if decided
        else None,
        "safe_harbour": {
            "persons_passed_on": len(passed),
            "waited_over_2s": late,
            "share_over_2s": round(late / len(passed), 4) if passed else None,
            "no_agent_connected": sum(1 for r in passed if r.connected_at is None),
            "wait_after_hello_s_median": _quantile(waits, 0.5),
            "wait_after_hello_s_p90": _quantile(waits, 0.9),
        },
        "causes": _causes(decided),
    }


def _causes(results: Sequence[CallResult]) -> dict[str, int]:
    """AMDCAUSE counts by (truth, cause word): why AMD decided as it did."""
    out: dict[str, int] = {}
    for r in results:
        key = f"{r.recording.kind}:{r.status}:{(r.cause or '-').split('-')[0]}"
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))
