"""Typed views of the AMI events the dialer acts on.

:func:`typed_event` turns a generic :class:`~dialer.ami.protocol.AmiEvent`
into one of the frozen dataclasses below, or returns None for events the
dialer does not interpret. Field names follow Asterisk 22's documentation; a
numeric field that does not parse raises :class:`AmiProtocolError` naming the
event and the field, because a silently wrong number would corrupt pacing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from dialer.ami.protocol import AmiEvent, AmiProtocolError


class DeviceState(IntEnum):
    """Asterisk's ``ast_device_state``, as the ``Status`` of queue members."""

    UNKNOWN = 0
    NOT_INUSE = 1
    INUSE = 2
    BUSY = 3
    INVALID = 4
    UNAVAILABLE = 5
    RINGING = 6
    RINGINUSE = 7
    ONHOLD = 8


class OriginateReason(IntEnum):
    """``Reason`` of OriginateResponse: the last control frame seen.

    For a call that never answered this is how Asterisk says why: 5 busy,
    3 no answer before the Originate's timeout, 8 congestion (number not in
    service, network busy), 0 failed outright, 1 hung up before answering.
    """

    FAILED = 0
    HANGUP = 1
    RING = 2
    RINGING = 3
    ANSWERED = 4
    BUSY = 5
    OFF_HOOK = 6
    OFF_HOOK_2 = 7
    CONGESTION = 8


def _str(event: AmiEvent, key: str) -> str:
    return event.get(key) or ""


def _int(event: AmiEvent, key: str, default: int = 0) -> int:
    raw = event.get(key)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw.strip())
    except ValueError:
        raise AmiProtocolError(
            f"AMI event {event.name}: field {key} is not an integer: {raw!r}"
        ) from None


def _bool(event: AmiEvent, key: str) -> bool:
    return (event.get(key) or "").strip().lower() in ("1", "yes", "true", "on")


@dataclass(frozen=True)
class OriginateResponse:
    """The outcome of an ``Async: true`` Originate, keyed by its ActionID."""

    action_id: str
    success: bool
    reason: int
    channel: str
    uniqueid: str

    @property
    def reason_name(self) -> str:
        """``BUSY``, ``RINGING`` (no answer)... or the number when unknown."""
        try:
            return OriginateReason(self.reason).name
        except ValueError:
            return str(self.reason)


@dataclass(frozen=True)
class Hangup:
    """A channel ended; ``cause`` is the Q.850 cause (16 normal, 17 busy...)."""

    channel: str
    uniqueid: str
    linkedid: str
    cause: int
    cause_txt: str


@dataclass(frozen=True)
class AgentCalled:
    """The queue is ringing an agent for the caller ``uniqueid``."""

    queue: str
    member_name: str
    interface: str
    uniqueid: str
    dest_channel: str


@dataclass(frozen=True)
class AgentConnect:
    """The caller ``uniqueid`` is bridged to an agent after ``hold_time`` s."""

    queue: str
    member_name: str
    interface: str
    uniqueid: str
    dest_uniqueid: str
    hold_time: int
    ring_time: int
    channel: str = ""  # the caller's channel
    dest_channel: str = ""  # the agent's channel (a transfer's transferer)


@dataclass(frozen=True)
class AgentComplete:
    """A conversation ended: ``talk_time`` s; ``reason`` says who hung up."""

    queue: str
    member_name: str
    interface: str
    uniqueid: str
    hold_time: int
    talk_time: int
    reason: str


@dataclass(frozen=True)
class QueueCallerAbandon:
    """The caller hung up while waiting in the queue."""

    queue: str
    uniqueid: str
    position: int
    original_position: int
    hold_time: int


@dataclass(frozen=True)
class QueueMember:
    """A queue member's state: from QueueMemberStatus / QueueMemberPause
    events, and the ``QueueMember`` items of a QueueStatus list (where
    Asterisk names the fields ``Name`` and ``Location``)."""

    queue: str
    member_name: str
    interface: str
    state_interface: str
    status: int
    paused: bool
    paused_reason: str
    in_call: bool
    calls_taken: int
    last_call: int
    login_time: int
    wrapup_time: int
    penalty: int = 0  # only QueueStatus answers and QueueMemberStatus carry it

    @property
    def device_state(self) -> DeviceState | None:
        """``status`` as a :class:`DeviceState`, None for an unknown number."""
        try:
            return DeviceState(self.status)
        except ValueError:
            return None


@dataclass(frozen=True)
class QueueMemberStatus(QueueMember):
    """A member's device state or in-call flag changed."""


@dataclass(frozen=True)
class QueueMemberPause(QueueMember):
    """A member was paused or unpaused (``paused``, ``paused_reason``)."""


@dataclass(frozen=True)
class QueueStatusMember(QueueMember):
    """One member in the answer to a QueueStatus action."""


@dataclass(frozen=True)
class QueueParams:
    """A queue's counters in the answer to a QueueStatus action."""

    queue: str
    calls: int
    completed: int
    abandoned: int
    hold_time: int
    talk_time: int


@dataclass(frozen=True)
class QueueEntry:
    """A caller waiting in a queue, in the answer to a QueueStatus action."""

    queue: str
    position: int
    uniqueid: str
    wait: int


@dataclass(frozen=True)
class UserEvent:
    """A ``UserEvent()`` from the dialplan: ``CadenciaAmd``, ``CadenciaAbandon``.

    ``fields`` holds the event's own fields (those the dialplan passed).
    """

    user_event: str
    channel: str
    uniqueid: str
    fields: tuple[tuple[str, str], ...]

    def get(self, key: str, default: str | None = None) -> str | None:
        """A field the dialplan passed (case-insensitive)."""
        for name, value in self.fields:
            if name.lower() == key.lower():
                return value
        return default


TypedEvent = (
    OriginateResponse
    | Hangup
    | AgentCalled
    | AgentConnect
    | AgentComplete
    | QueueCallerAbandon
    | QueueMember
    | QueueParams
    | QueueEntry
    | UserEvent
)


def _member(event: AmiEvent, cls: type[QueueMember]) -> QueueMember:
    return cls(
        queue=_str(event, "Queue"),
        member_name=event.get("MemberName") or _str(event, "Name"),
        interface=event.get("Interface") or _str(event, "Location"),
        state_interface=_str(event, "StateInterface"),
        status=_int(event, "Status"),
        paused=_bool(event, "Paused"),
        paused_reason=_str(event, "PausedReason"),
        in_call=_bool(event, "InCall"),
        calls_taken=_int(event, "CallsTaken"),
        last_call=_int(event, "LastCall"),
        login_time=_int(event, "LoginTime"),
        wrapup_time=_int(event, "Wrapuptime"),
        penalty=_int(event, "Penalty"),
    )


# Fields every channel event carries; UserEvent keeps only the dialplan's own.
_CHANNEL_FIELDS = frozenset(
    key.lower()
    for key in (
        "Event Privilege SystemName Channel ChannelState ChannelStateDesc CallerIDNum "
        "CallerIDName ConnectedLineNum ConnectedLineName Language AccountCode Context "
        "Exten Priority Uniqueid Linkedid UserEvent ActionID Timestamp"
    ).split()
)


def _user_event(event: AmiEvent) -> UserEvent:
    own = tuple((k, v) for k, v in event.fields if k.lower() not in _CHANNEL_FIELDS)
    return UserEvent(
        user_event=_str(event, "UserEvent"),
        channel=_str(event, "Channel"),
        uniqueid=_str(event, "Uniqueid"),
        fields=own,
    )


_BUILDERS: dict[str, Callable[[AmiEvent], TypedEvent]] = {
    "originateresponse": lambda e: OriginateResponse(
        action_id=_str(e, "ActionID"),
        success=_str(e, "Response").lower() == "success",
        reason=_int(e, "Reason"),
        channel=_str(e, "Channel"),
        uniqueid=_str(e, "Uniqueid"),
    ),
    "hangup": lambda e: Hangup(
        channel=_str(e, "Channel"),
        uniqueid=_str(e, "Uniqueid"),
        linkedid=_str(e, "Linkedid"),
        cause=_int(e, "Cause"),
        cause_txt=_str(e, "Cause-txt"),
    ),
    "agentcalled": lambda e: AgentCalled(
        queue=_str(e, "Queue"),
        member_name=_str(e, "MemberName"),
        interface=_str(e, "Interface"),
        uniqueid=_str(e, "Uniqueid"),
        dest_channel=_str(e, "DestChannel"),
    ),
    "agentconnect": lambda e: AgentConnect(
        queue=_str(e, "Queue"),
        member_name=_str(e, "MemberName"),
        interface=_str(e, "Interface"),
        uniqueid=_str(e, "Uniqueid"),
        dest_uniqueid=_str(e, "DestUniqueid"),
        hold_time=_int(e, "HoldTime"),
        ring_time=_int(e, "RingTime"),
        channel=_str(e, "Channel"),
        dest_channel=_str(e, "DestChannel"),
    ),
    "agentcomplete": lambda e: AgentComplete(
        queue=_str(e, "Queue"),
        member_name=_str(e, "MemberName"),
        interface=_str(e, "Interface"),
        uniqueid=_str(e, "Uniqueid"),
        hold_time=_int(e, "HoldTime"),
        talk_time=_int(e, "TalkTime"),
        reason=_str(e, "Reason"),
    ),
    "queuecallerabandon": lambda e: QueueCallerAbandon(
        queue=_str(e, "Queue"),
        uniqueid=_str(e, "Uniqueid"),
        position=_int(e, "Position"),
        original_position=_int(e, "OriginalPosition"),
        hold_time=_int(e, "HoldTime"),
    ),
    "queuememberstatus": lambda e: _member(e, QueueMemberStatus),
    "queuememberpause": lambda e: _member(e, QueueMemberPause),
    "queuemember": lambda e: _member(e, QueueStatusMember),
    "queueparams": lambda e: QueueParams(
        queue=_str(e, "Queue"),
        calls=_int(e, "Calls"),
        completed=_int(e, "Completed"),
        abandoned=_int(e, "Abandoned"),
        hold_time=_int(e, "Holdtime"),
        talk_time=_int(e, "TalkTime"),
    ),
    "queueentry": lambda e: QueueEntry(
        queue=_str(e, "Queue"),
        position=_int(e, "Position"),
        uniqueid=_str(e, "Uniqueid"),
        wait=_int(e, "Wait"),
    ),
    "userevent": _user_event,
}


def typed_event(event: AmiEvent) -> TypedEvent | None:
    """The typed view of ``event``, or None when the dialer does not use it."""
    builder = _BUILDERS.get(event.name.lower())
    return builder(event) if builder is not None else None
