"""Voice execution: the dial session of ``dialer.session`` wired to Redis, the ledger and AMI.

``hopper``: the slot's leads in Redis, rebuilt from the plan when lost.
``ledger``: the session's guard (``guard_and_reserve`` at dial time) and outcome sink.
``pbx``: numbers to Originates on our AMI client, per the dialplan contract.
``job``: the RQ job ``dial_session_job`` (one per campaign × slot) and its settings.
``dispatch``: ``dispatch_voice_slot`` and ``voice_dispatcher`` for ``campaigns.run.dispatch``.
"""

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
)
from campaigns.dialing.ledger import LedgerGuard, LedgerSink, load_voice_target
from campaigns.dialing.pbx import AmiPbx, dial_fields

__all__ = [
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
    "run_dial_session",
    "voice_dispatcher",
]
