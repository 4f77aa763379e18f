"""Types of the contact ledger interchange format and of a proposed contact.

These frozen dataclasses mirror the JSON-lines ledger format field for field
(``docs/ledger-format.md``): one :class:`Event` per line, one :class:`Proposal`
per what-if. ``event_from_dict`` / ``proposal_from_dict`` validate and raise a
:class:`ComplianceInputError` that names the field and the problem, so a bad
line in an import is reported precisely instead of being half-understood.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

# The channels a contact can be made on: what rules cover and allowances plan.
CONTACT_CHANNELS: tuple[str, ...] = ("voice", "sms", "whatsapp", "email")
# Every channel a ledger event may carry: the contact channels, and
# ``self_service``, what a debtor does on the portal behind a message's link
# (its promises hold contact like any other; an opt-out asked there is
# recorded on the channel it concerns). No contact is ever proposed on it.
CHANNELS: tuple[str, ...] = (*CONTACT_CHANNELS, "self_service")
DIRECTIONS: tuple[str, ...] = ("outbound", "inbound")
KINDS: tuple[str, ...] = ("attempt", "consent", "opt_out", "cease", "promise", "dispute")
VOICE_OUTCOMES: tuple[str, ...] = (
    "no_answer",
    "busy",
    "not_in_service",
    "failed",
    "machine",
    "voicemail",
    "abandoned",
    "wrong_party",
    "conversation",
)
MESSAGE_OUTCOMES: tuple[str, ...] = ("sent", "delivered", "failed", "bounced", "replied")
#: Every outcome, in a fixed order (the allowances code them by position).
OUTCOMES: tuple[str, ...] = tuple(dict.fromkeys(VOICE_OUTCOMES + MESSAGE_OUTCOMES))
LINE_TYPES: tuple[str, ...] = ("mobile", "landline", "unknown")
# Autodialing is the default for the channels a dialer or a bulk sender drives.
AUTODIALED_BY_DEFAULT: frozenset[str] = frozenset({"voice", "sms"})


class ComplianceInputError(ValueError):
    """Bad input to the compliance package; the message names the field and the problem."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Event:
    """One row of the contact ledger.

    ``debt_ids`` empty means the event concerns every debt of the customer
    (counted against each of them: the strict reading). ``outcome`` is set for
    attempts only. ``granted`` is for ``consent`` (False = consent revoked),
    ``until`` for ``promise`` (the promised payment date, local to the debtor),
    ``resolved`` for ``dispute`` (False opens or keeps open, True closes).
    ``at`` is normalised to UTC by ``event_from_dict`` (the instant is kept).
    """

    at: datetime
    customer_id: str
    debt_ids: tuple[str, ...]
    channel: str
    direction: str
    kind: str
    outcome: str | None = None
    contact_point: str | None = None
    campaign: str | None = None
    agent: str | None = None
    duration_s: float | None = None
    line_type: str | None = None
    granted: bool | None = None
    until: date | None = None
    resolved: bool | None = None


@dataclass(frozen=True, slots=True)
class Proposal:
    """A contact being considered: could we make it at ``at``?

    ``timezones`` are the debtor's candidate IANA zones (the contact must be
    allowed in every one). ``debt_ids`` empty means "about all the customer's
    debts". ``agent_guaranteed`` says a live agent is reserved for the call,
    which lifts the UK abandoned-call lockout.
    """

    at: datetime
    customer_id: str
    debt_ids: tuple[str, ...]
    channel: str
    timezones: tuple[str, ...]
    contact_point: str | None = None
    line_type: str = "unknown"
    campaign: str | None = None
    autodialed: bool = True
    agent_guaranteed: bool = False


_EVENT_FIELDS = frozenset(Event.__dataclass_fields__)
_PROPOSAL_FIELDS = frozenset(Proposal.__dataclass_fields__)


def _where(field: str, where: str) -> str:
    return f"{where}.{field}" if where else field


def _datetime(d: Mapping[str, Any], field: str, where: str) -> datetime:
    value = d.get(field)
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ComplianceInputError(
                _where(field, where), f"not an ISO 8601 timestamp: {value!r}"
            ) from None
    else:
        raise ComplianceInputError(
            _where(field, where), f"required ISO 8601 timestamp, got {value!r}"
        )
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ComplianceInputError(_where(field, where), f"timestamp without UTC offset: {value!r}")
    return parsed.astimezone(UTC)


def _identifier(value: Any, field: str, where: str) -> str:
    # Integers are accepted because ledgers exported by other systems often
    # number their customers; everything is compared as text afterwards.
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ComplianceInputError(_where(field, where), f"expected a string id, got {value!r}")
    text = str(value)
    if not text.strip():
        raise ComplianceInputError(_where(field, where), "empty id")
    return text


def _id_list(d: Mapping[str, Any], field: str, where: str) -> tuple[str, ...]:
    value = d.get(field)
    if not isinstance(value, list | tuple):
        raise ComplianceInputError(_where(field, where), f"required list of ids, got {value!r}")
    ids = tuple(_identifier(v, f"{field}[{i}]", where) for i, v in enumerate(value))
    if len(set(ids)) != len(ids):
        raise ComplianceInputError(_where(field, where), f"duplicate ids in {list(ids)}")
    return ids


def _choice(d: Mapping[str, Any], field: str, allowed: tuple[str, ...], where: str) -> str:
    value = d.get(field)
    if value not in allowed:
        raise ComplianceInputError(
            _where(field, where), f"must be one of {'|'.join(allowed)}, got {value!r}"
        )
    return str(value)


def _optional_text(d: Mapping[str, Any], field: str, where: str) -> str | None:
    value = d.get(field)
    if value is None:
        return None
    return _identifier(value, field, where)


def _optional_bool(d: Mapping[str, Any], field: str, where: str) -> bool | None:
    value = d.get(field)
    if value is None or isinstance(value, bool):
        return value
    raise ComplianceInputError(_where(field, where), f"expected true or false, got {value!r}")


def _reject_unknown(d: Mapping[str, Any], known: frozenset[str], where: str) -> None:
    unknown = sorted(set(d) - known)
    if unknown:
        raise ComplianceInputError(
            _where(unknown[0], where), f"unknown field (known: {', '.join(sorted(known))})"
        )


def event_from_dict(d: Mapping[str, Any], where: str = "") -> Event:
    """Validate one interchange object and build an :class:`Event`.

    ``where`` prefixes field names in errors (e.g. ``"history.jsonl:12"``).
    Raises :class:`ComplianceInputError` naming the first bad field.
    """
    if not isinstance(d, Mapping):
        raise ComplianceInputError(where or "event", f"expected a JSON object, got {d!r}")
    _reject_unknown(d, _EVENT_FIELDS, where)
    # Checked in a fixed order: with several bad fields, the error always
    # names the same one.
    at = _datetime(d, "at", where)
    customer_id = _identifier(d.get("customer_id"), "customer_id", where)
    debt_ids = _id_list(d, "debt_ids", where)
    channel = _choice(d, "channel", CHANNELS, where)
    direction = _choice(d, "direction", DIRECTIONS, where)
    kind = _choice(d, "kind", KINDS, where)
    outcome = _outcome(d, kind, channel, where)
    duration = _duration(d, where)
    line_type = d.get("line_type")
    if line_type is not None:
        line_type = _choice(d, "line_type", LINE_TYPES, where)
    granted, resolved = _consent_and_dispute_flags(d, kind, where)
    until = _promised_until(d, kind, where)
    if kind in ("promise", "dispute") and not debt_ids:
        # Holds are about a debt; an anonymous one would silently freeze every debt.
        raise ComplianceInputError(_where("debt_ids", where), f"a {kind} must name its debts")
    return Event(
        at=at,
        customer_id=customer_id,
        debt_ids=debt_ids,
        channel=channel,
        direction=direction,
        kind=kind,
        outcome=outcome,
        contact_point=_optional_text(d, "contact_point", where),
        campaign=_optional_text(d, "campaign", where),
        agent=_optional_text(d, "agent", where),
        duration_s=None if duration is None else float(duration),
        line_type=line_type,
        granted=(True if granted is None else granted) if kind == "consent" else None,
        until=until,
        resolved=(False if resolved is None else resolved) if kind == "dispute" else None,
    )


def _outcome(d: Mapping[str, Any], kind: str, channel: str, where: str) -> str | None:
    """An attempt's outcome, one of its channel's; any other kind must have none."""
    if kind == "attempt":
        allowed = VOICE_OUTCOMES if channel == "voice" else MESSAGE_OUTCOMES
        return _choice(d, "outcome", allowed, where)
    if d.get("outcome") is not None:
        raise ComplianceInputError(_where("outcome", where), f"only attempts have one, not {kind}")
    return None


def _duration(d: Mapping[str, Any], where: str) -> int | float | None:
    """``duration_s`` as given (seconds >= 0), or None."""
    duration = d.get("duration_s")
    if duration is not None and (
        isinstance(duration, bool) or not isinstance(duration, int | float) or duration < 0
    ):
        raise ComplianceInputError(
            _where("duration_s", where), f"expected seconds >= 0, got {duration!r}"
        )
    return duration


def _consent_and_dispute_flags(
    d: Mapping[str, Any], kind: str, where: str
) -> tuple[bool | None, bool | None]:
    """``granted`` (consent events only) and ``resolved`` (dispute events only), as given."""
    granted = _optional_bool(d, "granted", where)
    resolved = _optional_bool(d, "resolved", where)
    if granted is not None and kind != "consent":
        raise ComplianceInputError(_where("granted", where), f"only for consent, not {kind}")
    if resolved is not None and kind != "dispute":
        raise ComplianceInputError(_where("resolved", where), f"only for dispute, not {kind}")
    return granted, resolved


def _promised_until(d: Mapping[str, Any], kind: str, where: str) -> date | None:
    """A promise's payment date (required); any other kind must have none."""
    if kind != "promise":
        if d.get("until") is not None:
            raise ComplianceInputError(_where("until", where), f"only for promise, not {kind}")
        return None
    raw = d.get("until")
    if isinstance(raw, date) and not isinstance(raw, datetime):
        return raw
    if isinstance(raw, str):
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise ComplianceInputError(
                _where("until", where), f"not an ISO date: {raw!r}"
            ) from None
    raise ComplianceInputError(
        _where("until", where), f"a promise needs its payment date, got {raw!r}"
    )


def event_to_dict(e: Event) -> dict[str, Any]:
    """The interchange object for ``e`` (JSON-ready; absent optional fields omitted)."""
    out: dict[str, Any] = {
        "at": e.at.isoformat(),
        "customer_id": e.customer_id,
        "debt_ids": list(e.debt_ids),
        "channel": e.channel,
        "direction": e.direction,
        "kind": e.kind,
    }
    for name in (
        "outcome",
        "contact_point",
        "campaign",
        "agent",
        "duration_s",
        "line_type",
        "granted",
        "resolved",
    ):
        value = getattr(e, name)
        if value is not None:
            out[name] = value
    if e.until is not None:
        out["until"] = e.until.isoformat()
    return out


def proposal_from_dict(d: Mapping[str, Any], where: str = "") -> Proposal:
    """Validate a proposal object and build a :class:`Proposal`.

    Time-zone names are checked for shape only: an unknown zone is not an input
    error but a reason to refuse, which :func:`compliance.evaluation` reports.
    """
    if not isinstance(d, Mapping):
        raise ComplianceInputError(where or "proposal", f"expected a JSON object, got {d!r}")
    _reject_unknown(d, _PROPOSAL_FIELDS, where)
    channel = _choice(d, "channel", CHANNELS, where)
    zones = d.get("timezones")
    if not isinstance(zones, list | tuple) or not zones:
        raise ComplianceInputError(
            _where("timezones", where), f"required non-empty list of IANA names, got {zones!r}"
        )
    for i, zone in enumerate(zones):
        if not isinstance(zone, str) or not zone.strip():
            raise ComplianceInputError(
                _where(f"timezones[{i}]", where), f"expected an IANA name, got {zone!r}"
            )
    line_type = d.get("line_type")
    autodialed = _optional_bool(d, "autodialed", where)
    guaranteed = _optional_bool(d, "agent_guaranteed", where)
    return Proposal(
        at=_datetime(d, "at", where),
        customer_id=_identifier(d.get("customer_id"), "customer_id", where),
        debt_ids=_id_list(d, "debt_ids", where),
        channel=channel,
        timezones=tuple(zones),
        contact_point=_optional_text(d, "contact_point", where),
        line_type="unknown" if line_type is None else _choice(d, "line_type", LINE_TYPES, where),
        campaign=_optional_text(d, "campaign", where),
        autodialed=channel in AUTODIALED_BY_DEFAULT if autodialed is None else autodialed,
        agent_guaranteed=bool(guaranteed),
    )
