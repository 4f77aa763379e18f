"""Rule packs: statutes as data.

A pack is a TOML file in ``compliance/packs/`` (``name``, ``title``,
``jurisdiction`` and a list of ``[[rules]]``). Every rule has an ``id``, the
statute ``citation``, a plain-language ``description`` and a ``kind`` with its
parameters. The kinds are implemented once (:mod:`compliance.evaluation`,
:mod:`compliance.allowance`) and parameterised here:

``contact_hours``
    ``channels``, ``hours`` (table weekday -> list of ``"HH:MM-HH:MM"``,
    half-open; a weekday absent from the table is closed), optional
    ``holidays`` (ISO country of the ``holidays`` package) and ``subdivision``.
``frequency_cap``
    ``channels``, ``max``, ``window`` (``rolling_days`` with ``days``,
    ``calendar_day``, ``calendar_week`` Monday-based, ``campaign``), ``scope``
    (``debt``, ``customer``, ``contact_point``), ``directions`` (default
    outbound), ``outcomes`` or ``exclude_outcomes`` (default: all count).
``channel_limit``
    ``channels`` and ``max_channels``: how many distinct channels outbound
    attempts may use within ``window`` (as for caps, without ``campaign``).
``cooldown``
    ``channels`` blocked, ``trigger_channels``, ``trigger_outcomes``,
    ``trigger_directions`` and ``days`` (the trigger's local date is day 1).
``min_spacing``
    ``channels`` and ``days``: the next contact on those channels waits both
    ``days`` x 24 hours and until the local date ``days`` later.
``consent``
    ``channels``, ``line_types`` needing consent, ``autodialed_only``.
``opt_out`` / ``cease``
    ``channels`` honoured: an opt-out blocks its channel (or contact point),
    a cease request blocks every channel in ``channels``.
``lockout``
    ``channels``, ``trigger_outcomes`` and either ``hours`` or
    ``until = "end_of_day"``; ``unless_agent_guaranteed``.
``hold``
    ``on`` = ``promise`` (until the promised date has passed) or ``dispute``
    (while open), over ``channels``.

Packs compose by conjunction: a contact is allowed only if every rule of every
selected pack allows it, so the strictest rule wins.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from compliance.model import (
    CHANNELS,
    CONTACT_CHANNELS,
    DIRECTIONS,
    LINE_TYPES,
    OUTCOMES,
    ComplianceInputError,
)

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
RULE_KINDS: tuple[str, ...] = (
    "contact_hours",
    "frequency_cap",
    "channel_limit",
    "cooldown",
    "min_spacing",
    "consent",
    "opt_out",
    "cease",
    "lockout",
    "hold",
)
WINDOWS: tuple[str, ...] = ("rolling_days", "calendar_day", "calendar_week", "campaign")
SCOPES: tuple[str, ...] = ("debt", "customer", "contact_point")


class PackError(ComplianceInputError):
    """A rule pack that cannot be read; the field names the pack, rule and parameter."""


@dataclass(frozen=True)
class Rule:
    """One rule of a pack. Parameters not used by ``kind`` keep their defaults.

    Times are minutes since local midnight; ``hours[i]`` holds the half-open
    allowed intervals of weekday ``i`` (Monday = 0), empty when closed.
    """

    id: str
    kind: str
    citation: str
    description: str
    pack: str
    channels: frozenset[str]
    hours: tuple[tuple[tuple[int, int], ...], ...] = ()
    holidays: str | None = None
    subdivision: str | None = None
    max: int = 0
    window: str = "rolling_days"
    days: int = 0
    scope: str = "customer"
    directions: frozenset[str] = frozenset({"outbound"})
    outcomes: frozenset[str] = frozenset(OUTCOMES)
    trigger_channels: frozenset[str] = frozenset()
    trigger_outcomes: frozenset[str] = frozenset()
    trigger_directions: frozenset[str] = frozenset(DIRECTIONS)
    line_types: frozenset[str] = frozenset()
    autodialed_only: bool = False
    lock_hours: int = 0
    end_of_day: bool = False
    unless_agent_guaranteed: bool = False
    on: str = ""


@dataclass(frozen=True)
class Pack:
    """A named set of rules from one statute or policy."""

    name: str
    title: str
    jurisdiction: str
    rules: tuple[Rule, ...]


def _minutes(text: str, field: str) -> int:
    try:
        hh, mm = text.split(":")
        value = int(hh) * 60 + int(mm)
    except ValueError:
        raise PackError(field, f"expected HH:MM, got {text!r}") from None
    if not 0 <= value <= 24 * 60 or not 0 <= int(mm) < 60:
        raise PackError(field, f"time out of range: {text!r}")
    return value


def _hours(table: Any, field: str) -> tuple[tuple[tuple[int, int], ...], ...]:
    if not isinstance(table, Mapping):
        raise PackError(field, "expected a table weekday -> list of 'HH:MM-HH:MM'")
    unknown = set(table) - set(WEEKDAYS)
    if unknown:
        raise PackError(field, f"unknown weekday {sorted(unknown)[0]!r}")
    out: list[tuple[tuple[int, int], ...]] = []
    for day in WEEKDAYS:
        spans = table.get(day, [])
        if not isinstance(spans, list):
            raise PackError(f"{field}.{day}", "expected a list of 'HH:MM-HH:MM'")
        parsed = []
        for span in spans:
            if not isinstance(span, str) or span.count("-") != 1:
                raise PackError(f"{field}.{day}", f"expected 'HH:MM-HH:MM', got {span!r}")
            start, end = (_minutes(p, f"{field}.{day}") for p in span.split("-"))
            if start >= end:
                raise PackError(f"{field}.{day}", f"empty interval {span!r}")
            parsed.append((start, end))
        out.append(tuple(sorted(parsed)))
    return tuple(out)


def _names(raw: dict[str, Any], key: str, allowed: tuple[str, ...], field: str) -> frozenset[str]:
    value = raw.pop(key)
    if not isinstance(value, list) or not value:
        raise PackError(f"{field}.{key}", f"expected a non-empty list, got {value!r}")
    bad = [v for v in value if v not in allowed]
    if bad:
        raise PackError(f"{field}.{key}", f"{bad[0]!r} is not one of {'|'.join(allowed)}")
    return frozenset(value)


def _positive_int(raw: dict[str, Any], key: str, field: str) -> int:
    value = raw.pop(key, None)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PackError(f"{field}.{key}", f"expected an integer >= 1, got {value!r}")
    return value


# One parameter reader per rule kind, in the order of RULE_KINDS. Each pops the
# kind's parameters from ``raw`` (what is left over is an error) and returns them
# as Rule fields; ``field`` names the rule in errors.


def _contact_hours_params(raw: dict[str, Any], field: str) -> dict[str, Any]:
    p: dict[str, Any] = {"hours": _hours(raw.pop("hours", None), f"{field}.hours")}
    for key in ("holidays", "subdivision"):
        if key in raw:
            value = raw.pop(key)
            if not isinstance(value, str):
                raise PackError(f"{field}.{key}", f"expected a string, got {value!r}")
            p[key] = value
    return p


def _frequency_cap_params(raw: dict[str, Any], field: str) -> dict[str, Any]:
    p: dict[str, Any] = {"max": _positive_int(raw, "max", field)}
    window = raw.pop("window", None)
    if window not in WINDOWS:
        raise PackError(f"{field}.window", f"must be one of {'|'.join(WINDOWS)}")
    p["window"] = window
    if window == "rolling_days":
        p["days"] = _positive_int(raw, "days", field)
    scope = raw.pop("scope", None)
    if scope not in SCOPES:
        raise PackError(f"{field}.scope", f"must be one of {'|'.join(SCOPES)}")
    p["scope"] = scope
    if "directions" in raw:
        p["directions"] = _names(raw, "directions", DIRECTIONS, field)
    if "outcomes" in raw and "exclude_outcomes" in raw:
        raise PackError(field, "give outcomes or exclude_outcomes, not both")
    if "outcomes" in raw:
        p["outcomes"] = _names(raw, "outcomes", OUTCOMES, field)
    if "exclude_outcomes" in raw:
        p["outcomes"] = frozenset(OUTCOMES) - _names(raw, "exclude_outcomes", OUTCOMES, field)
    return p


def _channel_limit_params(raw: dict[str, Any], field: str) -> dict[str, Any]:
    p: dict[str, Any] = {"max": _positive_int(raw, "max_channels", field)}
    window = raw.pop("window", None)
    if window not in ("rolling_days", "calendar_day", "calendar_week"):
        raise PackError(f"{field}.window", "must be rolling_days|calendar_day|calendar_week")
    p["window"] = window
    if window == "rolling_days":
        p["days"] = _positive_int(raw, "days", field)
    return p


def _cooldown_params(raw: dict[str, Any], field: str) -> dict[str, Any]:
    p: dict[str, Any] = {"days": _positive_int(raw, "days", field)}
    p["trigger_channels"] = _names(raw, "trigger_channels", CHANNELS, field)
    p["trigger_outcomes"] = _names(raw, "trigger_outcomes", OUTCOMES, field)
    if "trigger_directions" in raw:
        p["trigger_directions"] = _names(raw, "trigger_directions", DIRECTIONS, field)
    scope = raw.pop("scope", "debt")
    if scope not in ("debt", "customer"):
        raise PackError(f"{field}.scope", "must be debt|customer")
    p["scope"] = scope
    return p


def _min_spacing_params(raw: dict[str, Any], field: str) -> dict[str, Any]:
    return {"days": _positive_int(raw, "days", field)}


def _consent_params(raw: dict[str, Any], field: str) -> dict[str, Any]:
    return {
        "line_types": _names(raw, "line_types", LINE_TYPES, field),
        "autodialed_only": bool(raw.pop("autodialed_only", False)),
    }


def _no_params(raw: dict[str, Any], field: str) -> dict[str, Any]:
    return {}


def _lockout_params(raw: dict[str, Any], field: str) -> dict[str, Any]:
    p: dict[str, Any] = {"trigger_outcomes": _names(raw, "trigger_outcomes", OUTCOMES, field)}
    until = raw.pop("until", None)
    if until == "end_of_day":
        p["end_of_day"] = True
    elif until is None:
        p["lock_hours"] = _positive_int(raw, "hours", field)
    else:
        raise PackError(f"{field}.until", f"only 'end_of_day' is known, got {until!r}")
    p["unless_agent_guaranteed"] = bool(raw.pop("unless_agent_guaranteed", False))
    return p


def _hold_params(raw: dict[str, Any], field: str) -> dict[str, Any]:
    on = raw.pop("on", None)
    if on not in ("promise", "dispute"):
        raise PackError(f"{field}.on", f"must be promise|dispute, got {on!r}")
    return {"on": on}


_PARAMS: dict[str, Callable[[dict[str, Any], str], dict[str, Any]]] = {
    "contact_hours": _contact_hours_params,
    "frequency_cap": _frequency_cap_params,
    "channel_limit": _channel_limit_params,
    "cooldown": _cooldown_params,
    "min_spacing": _min_spacing_params,
    "consent": _consent_params,
    "opt_out": _no_params,  # only channels
    "cease": _no_params,  # only channels
    "lockout": _lockout_params,
    "hold": _hold_params,
}


def _rule(raw_in: Mapping[str, Any], pack: str, index: int) -> Rule:
    raw = dict(raw_in)
    field = f"{pack}.rules[{index}]"
    for key in ("id", "kind", "citation", "description"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise PackError(f"{field}.{key}", "required non-empty string")
    rid = raw.pop("id")
    field = f"{pack}.{rid}"
    kind = raw.pop("kind")
    if kind not in RULE_KINDS:
        raise PackError(f"{field}.kind", f"must be one of {'|'.join(RULE_KINDS)}, got {kind!r}")
    p: dict[str, Any] = {
        "id": rid,
        "kind": kind,
        "citation": raw.pop("citation"),
        "description": " ".join(raw.pop("description").split()),
        "pack": pack,
        "channels": (
            _names(raw, "channels", CHANNELS, field) if "channels" in raw else CONTACT_CHANNELS
        ),
    }
    p["channels"] = frozenset(p["channels"])
    p.update(_PARAMS[kind](raw, field))
    if raw:
        raise PackError(f"{field}.{sorted(raw)[0]}", f"parameter not used by kind {kind}")
    return Rule(**p)


def parse_pack(text: str, source: str) -> Pack:
    """Parse a pack from TOML text; ``source`` names it in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PackError(source, f"invalid TOML: {exc}") from None
    for key in ("name", "title", "jurisdiction"):
        if not isinstance(data.get(key), str):
            raise PackError(f"{source}.{key}", "required string")
    name = data["name"]
    rules = data.get("rules")
    if not isinstance(rules, list) or not rules:
        raise PackError(f"{source}.rules", "a pack needs at least one [[rules]] entry")
    parsed = tuple(_rule(r, name, i) for i, r in enumerate(rules))
    ids = [r.id for r in parsed]
    if len(set(ids)) != len(ids):
        raise PackError(f"{source}.rules", "duplicate rule ids")
    return Pack(name=name, title=data["title"], jurisdiction=data["jurisdiction"], rules=parsed)


def available_packs() -> list[str]:
    """Names of the packs shipped with the package, sorted."""
    folder = resources.files("compliance") / "packs"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


@cache
def load_pack(name: str) -> Pack:
    """The shipped pack ``name`` (e.g. ``"us-regf"``); PackError if there is none."""
    if name not in available_packs():
        raise PackError("pack", f"unknown pack {name!r} (known: {', '.join(available_packs())})")
    text = (resources.files("compliance") / "packs" / f"{name}.toml").read_text("utf-8")
    pack = parse_pack(text, f"{name}.toml")
    if pack.name != name:
        raise PackError(f"{name}.toml.name", f"file declares name {pack.name!r}")
    return pack


def load_packs(names: str | Iterable[str]) -> tuple[Pack, ...]:
    """Several shipped packs, from a list or a comma-separated string (``"us-regf,house"``)."""
    items = names.split(",") if isinstance(names, str) else list(names)
    cleaned = [n.strip() for n in items if n.strip()]
    if not cleaned:
        raise PackError("pack", "no pack named")
    return tuple(load_pack(n) for n in dict.fromkeys(cleaned))
