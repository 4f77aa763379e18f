"""The session's PBX over our AMI client: how a number becomes an Originate.

The dialplan contract (docker/asterisk/extensions.conf): the call is
originated on ``channel_template`` (production ``PJSIP/{e164}@carrier``; the
sandbox's simulated phone network ``Local/{last7}@pstn``) into
``cadencia-outbound,s,1`` with ``CADENCIA_QUEUE``, ``CADENCIA_ATTEMPT``,
``CADENCIA_AMD=no`` when AMD is off, and ``CADENCIA_QUEUE_WAIT`` when set.
The far side of the call gets the ChannelId ``<call id>-far`` so the session
can read the network's hang-up cause if the OriginateResponse is lost.

A call with an owner (the customer's agent, or the agent who set the
callback) also carries ``CADENCIA_OWNER`` (member name),
``CADENCIA_OWNER_PENALTY``, ``CADENCIA_OWNER_INTERFACE`` and
``CADENCIA_OWNER_STATE`` (its state interface): the dialplan offers the call
to that member alone while they are ready (docs/routing.md). Each owner gets
a penalty of their own in the campaign queue (``QueuePenalty``), which is how
``QUEUE_MIN_PENALTY``/``QUEUE_MAX_PENALTY`` single out one member.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from dialer.ami import AmiClient, AmiError, AmiResponse, typed_event
from dialer.ami.events import QueueMember
from dialer.session import ConnectionHandler, EventHandler

log = logging.getLogger(__name__)
TEMPLATE_FIELDS = ("e164", "digits", "national", "last7")
# Owners' penalties stay below the dialplan's OWNER_PENALTY_CEILING (999):
# app_queue adds penalty x 1,000,000 to a 32-bit metric.
MAX_OWNER_PENALTY = 998
Variables = Callable[[int, str], Mapping[str, str]]


def dial_fields(number: str) -> dict[str, str]:
    """The fields a channel template may use for an E.164 ``number``."""
    digits = "".join(ch for ch in number if ch.isdigit())
    if not number.startswith("+") or len(digits) < 7:
        raise ValueError(f"dial: {number!r} is not an E.164 number (+ and at least 7 digits)")
    national = digits[1:] if digits.startswith("1") and len(digits) == 11 else digits
    return {"e164": number, "digits": digits, "national": national, "last7": digits[-7:]}


@dataclass
class AmiPbx:
    """Implements ``dialer.session.Pbx`` on a connected :class:`AmiClient`.

    ``variables`` (optional) adds channel variables per call from (attempt
    id, number): the sandbox uses it for ring and talk times.
    """

    client: AmiClient
    queue: str
    channel_template: str = "PJSIP/{e164}@carrier"
    amd: bool = True
    caller_id: str | None = None
    queue_wait_s: int | None = None
    variables: Variables | None = None
    context: str = "cadencia-outbound"

    def __post_init__(self) -> None:
        try:
            self.channel_template.format(**dial_fields("+10000000000"))
        except (KeyError, IndexError) as exc:
            raise ValueError(
                f"channel template {self.channel_template!r} uses an unknown field {exc}; "
                f"known: {', '.join(TEMPLATE_FIELDS)}"
            ) from None

    @property
    def connected(self) -> bool:
        """True while logged in."""
        return self.client.connected

    def add_event_handler(self, handler: EventHandler) -> None:
        """Every AMI event, in order."""
        self.client.add_event_handler(handler)

    def add_connection_handler(self, handler: ConnectionHandler) -> None:
        """Every loss and recovery."""
        self.client.add_connection_handler(handler)

    async def dial(
        self,
        call_id: str,
        number: str,
        *,
        attempt_id: int,
        ring_timeout: float,
        owner: str | None = None,
    ) -> AmiResponse:
        """Originate the call into the outbound context; never re-sent.

        ``owner``: the queue member offered the call first, when logged in.
        """
        variables = {"CADENCIA_QUEUE": self.queue, "CADENCIA_ATTEMPT": str(attempt_id)}
        if not self.amd:
            variables["CADENCIA_AMD"] = "no"
        if self.queue_wait_s is not None:
            variables["CADENCIA_QUEUE_WAIT"] = str(self.queue_wait_s)
        if owner:
            variables.update(await self.owner_variables(owner))
        if self.variables is not None:
            variables.update(self.variables(attempt_id, number))
        return await self.client.originate(
            self.channel_template.format(**dial_fields(number)),
            channel_id=call_id,
            other_channel_id=f"{call_id}-far",
            context=self.context,
            exten="s",
            ring_timeout=ring_timeout,
            caller_id=self.caller_id,
            variables=variables,
        )

    async def owner_variables(self, owner: str) -> dict[str, str]:
        """The channel variables that route a call to ``owner`` first; {} when not a member.

        Read from QueueStatus each time (an agent who logged in again has lost
        the penalty): a member whose penalty is their own keeps it, any other
        gets the next free one. Without a penalty of its own the call simply
        goes to anyone.
        """
        try:
            members = await self.queue_members()
            member = next((m for m in members if m.member_name == owner), None)
            if member is None:
                return {}
            penalty = member.penalty
            shared = sum(1 for m in members if m.penalty == penalty) > 1
            if penalty <= 0 or shared:
                penalty = max((m.penalty for m in members), default=0) + 1
                if penalty > MAX_OWNER_PENALTY:
                    log.warning("queue %s: no owner penalty left for %s", self.queue, owner)
                    return {}
                await self.client.send_action(
                    "QueuePenalty",
                    [
                        ("Interface", member.interface),
                        ("Penalty", str(penalty)),
                        ("Queue", self.queue),
                    ],
                )
        except AmiError as exc:  # the call still goes out, to anyone
            log.warning("owner %s: no owner routing for this call: %s", owner, exc)
            return {}
        return {
            "CADENCIA_OWNER": owner,
            "CADENCIA_OWNER_PENALTY": str(penalty),
            "CADENCIA_OWNER_INTERFACE": member.interface,
            "CADENCIA_OWNER_STATE": member.state_interface or member.interface,
        }

    async def live_calls(self) -> set[str]:
        """Uniqueids of the live channels."""
        return set(await self.client.active_channels())

    async def queue_members(self) -> list[QueueMember]:
        """The queue's members from QueueStatus."""
        response = await self.client.queue_status(self.queue)
        out = []
        for event in response.events:
            typed = typed_event(event)
            if isinstance(typed, QueueMember):
                out.append(typed)
        return out
