"""Our own asyncio client for the Asterisk Manager Interface (AMI).

``protocol`` is the pure wire format (incremental parser, action encoder),
``events`` the typed views of the events the dialer uses, ``client`` the
asyncio connection (ActionID futures, event lists, ordered async handlers,
Ping watchdog, reconnection, and never a re-sent Originate).
"""

from dialer.ami.client import (
    AmiActionError,
    AmiAuthError,
    AmiClient,
    AmiConnectionLost,
    AmiError,
    AmiNotConnected,
    AmiTimeout,
    ConnectionChange,
    OriginateOutcomeUnknown,
)
from dialer.ami.events import DeviceState, OriginateReason, TypedEvent, typed_event
from dialer.ami.protocol import (
    AmiEvent,
    AmiGreeting,
    AmiParser,
    AmiProtocolError,
    AmiResponse,
    encode_action,
)

__all__ = [
    "AmiActionError",
    "AmiAuthError",
    "AmiClient",
    "AmiConnectionLost",
    "AmiError",
    "AmiEvent",
    "AmiGreeting",
    "AmiNotConnected",
    "AmiParser",
    "AmiProtocolError",
    "AmiResponse",
    "AmiTimeout",
    "ConnectionChange",
    "DeviceState",
    "OriginateOutcomeUnknown",
    "OriginateReason",
    "TypedEvent",
    "encode_action",
    "typed_event",
]
