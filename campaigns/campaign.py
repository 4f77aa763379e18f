"""The campaign file: what a campaign manager configures, validated once at load.

TOML, validated with pydantic. Every problem is reported as
``file:line: key.path: message`` so a manager can fix the file without reading
Python. See ``examples/`` for a Colombian, a Chilean and a US campaign.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from campaigns.errors import InputRejected

CHANNEL_NAMES = ("voice", "sms", "whatsapp", "email")
Share = Annotated[float, Field(ge=0.0, le=1.0)]
Money = Annotated[float, Field(ge=0.0)]


def _known_packs(packs: tuple[str, ...]) -> tuple[str, ...]:
    from compliance import available_packs

    known = set(available_packs())
    missing = [p for p in packs if p not in known]
    if missing:
        raise ValueError(f"unknown packs {missing}; known: {sorted(known)}")
    if not packs:
        raise ValueError("no packs: every contact needs rules")
    return packs


PackNames = Annotated[tuple[str, ...], AfterValidator(_known_packs)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Segment(_Strict):
    """Which customers of the portfolio the campaign covers (all filters must match)."""

    countries: tuple[str, ...] = ()
    products: tuple[str, ...] = ()
    days_past_due: tuple[int, int] = (0, 100_000)
    balance: tuple[float, float] = (0.0, 1e15)
    behavior_score: tuple[int, int] = (0, 1000)

    @field_validator("days_past_due", "balance", "behavior_score")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        if value[0] > value[1]:
            raise ValueError(f"range [{value[0]}, {value[1]}] is empty: low must be ≤ high")
        return value


class Channel(_Strict):
    """One channel: on or off, what an attempt costs, who it comes from."""

    enabled: bool = True
    cost: Money = 0.0
    sender: str | None = None  # caller id, SMS/WhatsApp number or email address
    daily_budget: Money | None = None  # attempts per day (message channels); None = no cap
    template_set: str = "default"
    # WhatsApp outside the 24-hour session window accepts only a template the
    # provider approved (Twilio Content SID, "HX…"); without one it cannot send.
    approved_template: Annotated[str, Field(pattern=r"^HX[0-9a-fA-F]{32}$")] | None = None


class Agents(_Strict):
    """Agent capacity: agents per hour slot of the campaign day."""

    per_slot: tuple[Annotated[float, Field(ge=0)], ...]
    occupancy: Annotated[float, Field(gt=0.0, le=1.0)] = 0.85
    ring_minutes: Money = 0.4
    talk_minutes: Money = 4.0
    wrap_minutes: Money = 0.5


class Dialer(_Strict):
    """How voice attempts are dialed."""

    mode: Literal["predictive", "progressive", "preview"] = "predictive"
    abandon_target: Annotated[float, Field(ge=0.0, le=0.05)] = 0.03
    abandon_window: Literal["day", "30d"] = "day"
    ring_timeout_s: Annotated[int, Field(ge=10, le=60)] = 25
    amd: bool = True
    queue: str = "cadencia"
    # The Asterisk server that dials this campaign: its dial sessions go on the
    # RQ queue ``dialer-<server>``, worked by that server's worker group. Empty:
    # the one default server (queue ``dialer``).
    server: Annotated[str, Field(pattern=r"^([a-z0-9][a-z0-9_-]{0,39})?$")] = ""
    # A call for a customer with an owner (or a callback, for the agent who set
    # it) waits up to this long, undialed, for that agent to be ready; then it
    # is dialed for anyone (docs/routing.md). 0: never wait. The wait is before
    # the Originate: a person who answered may only wait the safe-harbour 2 s.
    owner_wait_s: Annotated[float, Field(ge=0.0, le=600.0)] = 10.0


class Priors(_Strict):
    """Value-model priors used until the ledger has history."""

    right_party_rate: dict[str, Share] = Field(
        default_factory=lambda: {"voice": 0.25, "sms": 0.08, "whatsapp": 0.12, "email": 0.04}
    )
    # Multiplier on the right-party rate by local hour (0–23): debtors answer
    # more before work and in the early evening than mid-afternoon.
    hour_factor: tuple[Annotated[float, Field(ge=0.0, le=3.0)], ...] = (
        0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.6, 0.9, 1.1, 1.05, 0.95, 0.9,
        1.0, 1.0, 0.85, 0.85, 0.9, 1.1, 1.2, 1.2, 1.05, 0.8, 0.5, 0.5,
    )  # fmt: skip
    promise_rate: Share = 0.3
    payment_rate: Share = 0.6
    second_attempt_factor: Share = 0.5

    @field_validator("hour_factor")
    @classmethod
    def _24_hours(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if len(value) != 24:
            raise ValueError(f"needs 24 values (hours 0–23), got {len(value)}")
        return value

    @field_validator("right_party_rate")
    @classmethod
    def _known_channels(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(CHANNEL_NAMES))
        if unknown:
            raise ValueError(f"unknown channels {unknown}; use {list(CHANNEL_NAMES)}")
        return value


class Experiment(_Strict):
    """Champion/challenger: shares kept on the rule strategy or on no contact at all."""

    challenger_share: Share = 0.0
    holdout_share: Share = 0.0
    seed: int = 1

    @model_validator(mode="after")
    def _shares(self) -> Experiment:
        if self.challenger_share + self.holdout_share > 0.5:
            raise ValueError("challenger_share + holdout_share must leave at least half optimised")
        return self


class Collections(_Strict):
    """How money is tied back to contacts and promises (``[collections]``).

    ``attribution_days``: a payment counts for the campaign's contacts made in
    the days before it. ``promise_grace_days``: a payment this many days after
    a promise's date still keeps it. A broken promise makes its customer worth
    ``broken_promise_boost`` times as much to tomorrow's plan for
    ``follow_up_days`` (a follow-up call, offered first to the agent who took it).
    """

    attribution_days: Annotated[int, Field(ge=1, le=60)] = 7
    promise_grace_days: Annotated[int, Field(ge=0, le=30)] = 3
    broken_promise_boost: Annotated[float, Field(ge=1.0, le=10.0)] = 1.5
    follow_up_days: Annotated[int, Field(ge=0, le=30)] = 7


class Preferences(_Strict):
    """How the plan honours the channel and hours a customer chose (``[preferences]``).

    A customer who chose hours on the portal is contacted only inside them,
    on every channel: a debt collector may not contact a consumer at a time
    it knows to be inconvenient (FDCPA §805(a)(1)), and the customer has said
    which times are not. The preferred channel's value is multiplied by
    ``preferred_channel_boost`` and the other channels' by ``other_channels``:
    favoured, not exclusive (a customer stops a channel by opting out).
    Compliance still decides what may happen at all.
    """

    preferred_channel_boost: Annotated[float, Field(ge=1.0, le=10.0)] = 1.5
    other_channels: Annotated[float, Field(ge=0.0, le=1.0)] = 0.7


class Plan(_Strict):
    """One instalment plan a customer may take (``[[offers.plans]]``).

    ``instalments`` payments in all: the first is the down payment, at least
    ``min_down_payment`` (a share) of what is owed; the others are equal,
    ``every_days`` apart, each at least ``min_instalment`` in the campaign's
    currency (a customer owing too little for that does not qualify).
    """

    instalments: Annotated[int, Field(ge=2, le=36)]
    min_down_payment: Share = 0.1
    min_instalment: Money = 0.0
    every_days: Annotated[int, Field(ge=7, le=31)] = 30


class SegmentOffers(_Strict):
    """A segment's own terms (``[offers.segments.<segment>]``): what it sets replaces
    the campaign's ``[offers]`` value for the customers of that segment."""

    settlement_discount: tuple[Share, Share] | None = None
    settlement_min_days_past_due: Annotated[int, Field(ge=0, le=100_000)] | None = None
    plans: tuple[Plan, ...] | None = None
    promise_window_days: Annotated[int, Field(ge=1, le=90)] | None = None
    down_payment_days: Annotated[int, Field(ge=0, le=30)] | None = None


class Offers(_Strict):
    """What a customer may be offered (``[offers]``; docs/portal.md, docs/negotiation.md).

    ``settlement_discount``: the range of discount on the whole balance for a
    payment in full, offered only from ``settlement_min_days_past_due``; the
    portal offers the low end, rising to the high end over the next 180 days
    past due. ``promise_window_days``: how far ahead a promise may be dated.
    ``down_payment_days``: a plan's first instalment is due this many days out.
    ``segments``: per customer segment (the portfolio's ``segment`` column),
    the values that differ ("criterios de negociación" by segment).
    """

    settlement_discount: tuple[Share, Share] = (0.0, 0.0)
    settlement_min_days_past_due: Annotated[int, Field(ge=0, le=100_000)] = 90
    plans: tuple[Plan, ...] = ()
    promise_window_days: Annotated[int, Field(ge=1, le=90)] = 30
    down_payment_days: Annotated[int, Field(ge=0, le=30)] = 3
    segments: dict[str, SegmentOffers] = {}

    def for_segment(self, segment: str | None) -> Offers:
        """The terms of a customer of ``segment``: the campaign's, with the segment's values."""
        own = self.segments.get(segment or "")
        if own is None:
            return self.model_copy(update={"segments": {}})
        changed = own.model_dump(exclude_none=True)
        # Validate the merged terms as a whole (a segment's range must be ordered,
        # its plans distinct) by building them again from plain values.
        return Offers.model_validate({**self.model_dump(), **changed, "segments": {}})

    @field_validator("settlement_discount")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        if value[0] > value[1]:
            raise ValueError(f"range [{value[0]}, {value[1]}] is empty: low must be ≤ high")
        return value

    @field_validator("segments")
    @classmethod
    def _segments_valid(cls, value: dict[str, SegmentOffers]) -> dict[str, SegmentOffers]:
        for name, own in value.items():
            low_high = own.settlement_discount
            if low_high is not None and low_high[0] > low_high[1]:
                raise ValueError(f"segment {name}: settlement_discount low must be ≤ high")
            if own.plans is not None:
                counts = [p.instalments for p in own.plans]
                if len(counts) != len(set(counts)):
                    raise ValueError(f"segment {name}: two plans with {counts} instalments")
        return value

    @field_validator("plans")
    @classmethod
    def _distinct(cls, value: tuple[Plan, ...]) -> tuple[Plan, ...]:
        counts = [p.instalments for p in value]
        if len(counts) != len(set(counts)):
            raise ValueError(f"two plans with the same number of instalments: {counts}")
        return value


class Portal(_Strict):
    """The debtor portal behind the messages' links (``[portal]``, docs/portal.md).

    ``identity``: what the customer answers before seeing anything:
    ``phone_last4`` (the last four digits of a phone number on file) or
    ``opened_on`` (the date one of their open accounts was opened); the
    portfolio carries no document number or date of birth. ``max_failures``
    wrong answers in a row lock the link for ``lock_minutes``.
    """

    identity: Literal["phone_last4", "opened_on"] = "phone_last4"
    max_failures: Annotated[int, Field(ge=1, le=20)] = 5
    lock_minutes: Annotated[int, Field(ge=1, le=7 * 24 * 60)] = 30


class Recording(_Strict):
    """Call recording (``[recording]``, docs/recording.md).

    Asterisk records every call an agent takes from this campaign.
    ``announce`` plays the recording notice to the debtor before an agent is
    connected: set it where the campaign's jurisdiction requires every
    party's consent (the US two-party-consent states, docs/recording.md).
    The file is kept ``retention_days`` after the call, then deleted by
    ``cadencia recordings purge``. An agent's PCI pause (a card number read
    out) ends by itself after ``pause_max_s``.
    """

    enabled: bool = True
    announce: bool = False
    retention_days: Annotated[int, Field(ge=1, le=3650)] = 365
    pause_max_s: Annotated[int, Field(ge=5, le=600)] = 60


class Campaign(_Strict):
    """A whole campaign file."""

    name: Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[a-z0-9][a-z0-9_-]*$")]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    timezone: str
    first_hour: Annotated[int, Field(ge=0, le=23)] = 8
    # Which campaign keeps a customer two campaigns hold on the same day (1 first):
    # one plan per customer a day (campaigns.run.claims).
    priority: Annotated[int, Field(ge=1, le=1000)] = 100
    segment: Segment = Segment()
    rule_packs: dict[str, PackNames]
    channels: dict[str, Channel]
    agents: Agents
    dialer: Dialer = Dialer()
    priors: Priors = Priors()
    experiment: Experiment = Experiment()
    collections: Collections = Collections()
    preferences: Preferences = Preferences()
    offers: Offers = Offers()
    portal: Portal = Portal()
    recording: Recording = Recording()

    @field_validator("channels")
    @classmethod
    def _channel_names(cls, value: dict[str, Channel]) -> dict[str, Channel]:
        unknown = sorted(set(value) - set(CHANNEL_NAMES))
        if unknown:
            raise ValueError(f"unknown channels {unknown}; use {list(CHANNEL_NAMES)}")
        if not any(c.enabled for c in value.values()):
            raise ValueError("no channel is enabled")
        return value

    @field_validator("channels")
    @classmethod
    def _whatsapp_template(cls, value: dict[str, Channel]) -> dict[str, Channel]:
        whatsapp = value.get("whatsapp")
        if whatsapp is not None and whatsapp.enabled and whatsapp.approved_template is None:
            raise ValueError(
                "whatsapp: approved_template is required (a provider-approved template, "
                "the only kind WhatsApp accepts outside the 24-hour window)"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: over-long names
            raise ValueError(f"{value!r} is not an IANA time zone") from None
        return value

    @model_validator(mode="after")
    def _day_fits(self) -> Campaign:
        if self.first_hour + len(self.agents.per_slot) > 24:
            raise ValueError(
                f"first_hour {self.first_hour} + {self.slots} slots runs past midnight"
            )
        return self

    @property
    def slots(self) -> int:
        """Hour slots in the campaign day (one per ``agents.per_slot`` entry)."""
        return len(self.agents.per_slot)

    def packs_for(self, country: str, subdivision: str | None) -> tuple[str, ...]:
        """The packs for a debtor: the subdivision's (``US-MA``) if listed, else the country's."""
        if subdivision and subdivision in self.rule_packs:
            return self.rule_packs[subdivision]
        return self.rule_packs.get(country, ())


class CampaignFileError(InputRejected):
    """A campaign file that cannot be used; ``errors`` are ``file:line: key: message``."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__(errors, separator="\n")


def _line_of(text: str, loc: tuple[str | int, ...]) -> int:
    """Best line for a key path: the key's own line inside its table, else the table's."""
    lines = text.splitlines()
    tables = [str(p) for p in loc if isinstance(p, str)]
    best = 1
    for depth in range(len(tables), 0, -1):
        header = re.compile(r"^\s*\[+\s*" + re.escape(".".join(tables[:depth])) + r"\s*\]+\s*$")
        for number, line in enumerate(lines, start=1):
            if header.match(line):
                best = number
                leaf = tables[depth] if depth < len(tables) else None
                if leaf is None:
                    return best
                key = re.compile(r"^\s*[\"']?" + re.escape(leaf) + r"[\"']?\s*=")
                for offset, after in enumerate(lines[number:], start=number + 1):
                    if after.lstrip().startswith("["):
                        break
                    if key.match(after):
                        return offset
                return best
    if tables:
        top_key = re.compile(r"^\s*" + re.escape(tables[0]) + r"\s*=")
        for number, line in enumerate(lines, start=1):
            if top_key.match(line):
                return number
    return best


def load_campaign(path: Path) -> Campaign:
    """Read and validate ``path``; raises ``CampaignFileError`` listing every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CampaignFileError([f"{path}:0: file: cannot read: {exc}"]) from exc
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # Python 3.11's TOMLDecodeError has no lineno; its message ends "(at line N, …)".
        found = re.search(r"at line (\d+)", str(exc))
        line = int(found.group(1)) if found else 0
        raise CampaignFileError([f"{path}:{line}: toml: {exc}"]) from exc
    try:
        return Campaign.model_validate(raw)
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            key = ".".join(str(p) for p in loc) or "campaign"
            message = err["msg"].removeprefix("Value error, ")
            errors.append(f"{path}:{_line_of(text, loc)}: {key}: {message}")
        raise CampaignFileError(errors) from None
