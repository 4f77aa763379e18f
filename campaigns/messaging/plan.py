"""A batch of planned messages as plain job data, and its validation.

An RQ job carries only ids and keys (the customer's creditor id and the
message's idempotency key); the worker loads everything else from the
database, so what a job says can never drift from the portfolio.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

Channel = Literal["email", "sms", "whatsapp"]
MESSAGE_CHANNELS: tuple[Channel, ...] = ("email", "sms", "whatsapp")


class BatchError(ValueError):
    """A job's payload is malformed; the message names the field."""


@dataclass(frozen=True)
class PlannedMessage:
    """One planned message: ``key`` is unique per planned contact (the guard's idempotency key)."""

    key: str
    customer_id: str


@dataclass(frozen=True)
class MessageBatch:
    """Messages of one campaign and channel planned for one slot.

    ``not_after``: the latest instant any of them may still go out (default:
    the slot's end); a message refused for the hour is rescheduled only
    before it. ``packs``: rule packs by name, or None to choose per
    customer's country (see ``campaigns.messaging.context``).
    """

    batch_id: str
    campaign: str
    channel: Channel
    slot_start: dt.datetime
    slot_end: dt.datetime
    messages: tuple[PlannedMessage, ...]
    packs: tuple[str, ...] | None = None
    not_after: dt.datetime | None = None

    @property
    def deadline(self) -> dt.datetime:
        """``not_after``, or the end of the slot."""
        return self.not_after or self.slot_end

    def to_payload(self) -> dict[str, Any]:
        """JSON-ready job arguments."""
        return {
            "batch_id": self.batch_id,
            "campaign": self.campaign,
            "channel": self.channel,
            "slot_start": self.slot_start.isoformat(),
            "slot_end": self.slot_end.isoformat(),
            "not_after": self.not_after.isoformat() if self.not_after else None,
            "packs": list(self.packs) if self.packs is not None else None,
            "messages": [[m.key, m.customer_id] for m in self.messages],
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any], where: str = "batch") -> MessageBatch:
        """Validate job arguments; ``BatchError`` names the bad field."""
        if not isinstance(payload, Mapping):
            raise BatchError(f"{where}: expected an object, got {type(payload).__name__}")
        # Checked in a fixed order: with several bad fields, the error always
        # names the same one.
        channel = _channel(payload, where)
        messages = _messages(payload, where)
        packs = _packs(payload, where)
        start, end = _instant(payload, "slot_start", where), _instant(payload, "slot_end", where)
        assert start is not None and end is not None
        if end <= start:
            raise BatchError(f"{where}.slot_end: {end.isoformat()} is not after slot_start")
        return cls(
            batch_id=_text(payload, "batch_id", where),
            campaign=_text(payload, "campaign", where),
            channel=channel,
            slot_start=start,
            slot_end=end,
            messages=messages,
            packs=packs,
            not_after=_instant(payload, "not_after", where, required=False),
        )


def _text(payload: Mapping[str, Any], name: str, where: str) -> str:
    """A required non-empty string."""
    value = payload.get(name)
    if not isinstance(value, str) or not value.strip():
        raise BatchError(f"{where}.{name}: required non-empty string, got {value!r}")
    return value


def _instant(
    payload: Mapping[str, Any], name: str, where: str, required: bool = True
) -> dt.datetime | None:
    """An ISO 8601 instant with a UTC offset, as UTC (None if absent and not required)."""
    value = payload.get(name)
    if value is None and not required:
        return None
    try:
        parsed = dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise BatchError(f"{where}.{name}: not an ISO 8601 instant: {value!r}") from None
    if parsed.tzinfo is None:
        raise BatchError(f"{where}.{name}: instant without UTC offset: {value!r}")
    return parsed.astimezone(dt.UTC)


def _channel(payload: Mapping[str, Any], where: str) -> Channel:
    """One of ``MESSAGE_CHANNELS``."""
    channel = payload.get("channel")
    if channel not in MESSAGE_CHANNELS:
        raise BatchError(
            f"{where}.channel: must be one of {'|'.join(MESSAGE_CHANNELS)}, got {channel!r}"
        )
    return cast(Channel, channel)


def _messages(payload: Mapping[str, Any], where: str) -> tuple[PlannedMessage, ...]:
    """The ``[key, customer_id]`` pairs, each key once."""
    raw_messages = payload.get("messages")
    if not isinstance(raw_messages, Sequence) or isinstance(raw_messages, str):
        raise BatchError(f"{where}.messages: required list of [key, customer_id]")
    messages: list[PlannedMessage] = []
    seen: set[str] = set()
    for i, item in enumerate(raw_messages):
        if (
            not isinstance(item, Sequence)
            or isinstance(item, str)
            or len(item) != 2
            or not all(isinstance(v, str) and v for v in item)
        ):
            raise BatchError(f"{where}.messages[{i}]: expected [key, customer_id], got {item!r}")
        if item[0] in seen:
            raise BatchError(f"{where}.messages[{i}]: key {item[0]!r} appears twice")
        seen.add(item[0])
        messages.append(PlannedMessage(key=item[0], customer_id=item[1]))
    return tuple(messages)


def _packs(payload: Mapping[str, Any], where: str) -> tuple[str, ...] | None:
    """Rule pack names, or None (choose per customer's country)."""
    packs = payload.get("packs")
    if packs is not None and (
        not isinstance(packs, Sequence)
        or isinstance(packs, str)
        or not all(isinstance(p, str) for p in packs)
    ):
        raise BatchError(f"{where}.packs: expected a list of pack names or null, got {packs!r}")
    return tuple(packs) if packs is not None else None
