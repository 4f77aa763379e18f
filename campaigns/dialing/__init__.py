"""Voice execution: the dial session of ``dialer.session`` wired to Redis, the ledger and AMI.

``agent_calls``: the session's calls with agents published as agent events (the screen pop).
``hopper``: the slot's leads in Redis, rebuilt from the plan when lost.
``ledger``: the session's guard (``guard_and_reserve`` at dial time) and outcome sink.
``pbx``: numbers to Originates on our AMI client, per the dialplan contract.
``job``: the RQ job ``dial_session_job`` (one per campaign × slot) and its settings.
``pacer_memory``: the pacer's estimates saved when a session ends, restored by the next.
``dispatch``: ``dispatch_voice_slot`` and ``voice_dispatcher`` for ``campaigns.run.dispatch``.
``manual``: a call the agent asks for, guarded and reserved by the console, then queued.
``manual_call``: the RQ job that places it agent first and records its outcome.
``preview``: preview mode, the agent takes the slot's next customer, then calls or skips.
"""

from campaigns.dialing.agent_calls import AgentCallPublisher
from campaigns.dialing.dispatch import dispatch_voice_slot, voice_dispatcher
from campaigns.dialing.hopper import RedisHopper
from campaigns.dialing.job import (
    DialerSettings,
    DialSlot,
    dial_session_job,
    enqueue_dial_session,
    job_id,
    pacing_config,
    run_dial_session,
    session_pacer,
)
from campaigns.dialing.ledger import LedgerGuard, LedgerSink, load_voice_target
from campaigns.dialing.pacer_memory import restore_pacer, save_pacer
from campaigns.dialing.pbx import AmiPbx, dial_fields

__all__ = [
    "AgentCallPublisher",
    "AmiPbx",
    "DialSlot",
    "DialerSettings",
    "LedgerGuard",
    "LedgerSink",
    "RedisHopper",
    "dial_fields",
    "dial_session_job",
    "dispatch_voice_slot",
    "enqueue_dial_session",
    "job_id",
    "load_voice_target",
    "pacing_config",
    "restore_pacer",
    "run_dial_session",
    "save_pacer",
    "session_pacer",
    "voice_dispatcher",
]
