"""AMD on real audio: calls leave the sandbox over the carrier trunk to SIPp.

The sandbox runs in carrier mode (``sandbox.carrier``): the production trunk
``carrier`` points at SIPp, which answers each call with a recording made
here with espeak-ng and sox (``sandbox.voices``): people saying hello,
voicemail greetings. Calls are originated as the dial session originates
them (``AmiPbx.dial`` into ``cadencia-outbound``), so the production AMD step
hears RTP. SIPp, espeak-ng and sox are installed with apt when missing;
without them (or root) the test is skipped naming the component (failed
under CADENCIA_REQUIRE_ALL=1).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from sandbox import amd_calls, carrier, voices
from sandbox import asterisk as sandbox
from tests.support.asterisk import COMPONENT, run
from tests.support.components import component_missing

pytestmark = [pytest.mark.asterisk, pytest.mark.slow]
PER_CLASS = 4


@pytest.fixture(scope="module")
def carrier_world() -> Iterator[tuple[sandbox.SandboxState, list[voices.Recording]]]:
    """The recordings, SIPp answering with them, and a carrier-mode sandbox."""
    missing = sandbox.prerequisites_missing()
    if missing:
        component_missing(COMPONENT, missing)
    try:
        carrier.ensure_tools()
        recordings = voices.ensure(PER_CLASS, seed=1)
    except (carrier.CarrierError, voices.VoicesError) as exc:
        component_missing("SIPp carrier (sip-tester, espeak-ng, sox)", str(exc))
    name = f"pytest-amd-{os.getpid()}"
    with carrier.running(recordings) as sipp:
        try:
            state = sandbox.start(name, timeout=90.0, carrier_port=sipp.port)
        except sandbox.SandboxError as exc:
            component_missing(COMPONENT, str(exc))
        try:
            sandbox.ready_agents(state, 2)
            yield state, recordings
        finally:
            sandbox.stop(name, keep_files=False)


def test_amd_tells_people_from_voicemail_on_real_audio(
    carrier_world: tuple[sandbox.SandboxState, list[voices.Recording]],
) -> None:
    state, recordings = carrier_world
    results = run(amd_calls.dial_all(state, recordings, concurrency=2), limit=300.0)
    people = [r for r in results if r.recording.kind == voices.PERSON]
    machines = [r for r in results if r.recording.kind == voices.MACHINE]
    assert len(people) == len(machines) == PER_CLASS
    verdicts = {r.call_id: (r.recording.kind, r.status, r.cause) for r in results}
    # every call was answered by SIPp and AMD gave the dialplan a verdict
    assert all(r.answered_at is not None and r.status for r in results), verdicts
    # most people are HUMAN, most greetings MACHINE (a threshold: this is audio)
    assert sum(r.status == "HUMAN" for r in people) >= PER_CLASS - 1, verdicts
    assert sum(r.status == "MACHINE" for r in machines) >= PER_CLASS - 1, verdicts
    # a person AMD passed on reached an agent; a machine was hung up on, never queued
    assert all(r.connected_at is not None for r in people if r.status == "HUMAN"), verdicts
    assert all(r.connected_at is None for r in machines if r.status == "MACHINE"), verdicts
