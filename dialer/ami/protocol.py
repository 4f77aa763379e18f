"""The Asterisk Manager Interface wire format: a pure incremental parser.

AMI is a line protocol over TCP. The server first sends one greeting line
(``Asterisk Call Manager/11.0.0``); after that every message is a block of
``Key: Value`` lines ended by an empty line. A message is a response (first
key ``Response``) to the action with the same ``ActionID``, or an event
(first key ``Event``). Keys repeat (``Output``, ``ChanVariable``), so fields
are kept as ordered pairs.

Two oddities are handled here:

* Legacy command output: ``Response: Follows`` is followed by raw text lines,
  which may be blank or contain colons, up to a line ``--END COMMAND--``.
  Asterisk 22 instead answers ``Command`` with ``Response: Success`` and one
  ``Output:`` field per line; both end up in :attr:`AmiResponse.output`.
* TCP splits the stream anywhere, including inside a multibyte UTF-8
  character (a debtor named "Muñoz" in a CallerID). Bytes go through an
  incremental UTF-8 decoder, so a character split across reads survives.

The parser does no I/O and keeps no clock: :meth:`AmiParser.feed` takes bytes
and returns the complete messages they finish.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

GREETING_PREFIX = "Asterisk Call Manager/"
END_COMMAND = "--END COMMAND--"
# A line this long without a newline is not AMI; refusing it bounds memory.
MAX_LINE = 1 << 20

Fields = tuple[tuple[str, str], ...]


class AmiProtocolError(ValueError):
    """The byte stream is not AMI; the message quotes what was received."""


def _get(fields: Fields, key: str, default: str | None) -> str | None:
    lowered = key.lower()
    for name, value in fields:
        if name.lower() == lowered:
            return value
    return default


@dataclass(frozen=True)
class AmiGreeting:
    """The first line the server sends, e.g. ``Asterisk Call Manager/11.0.0``."""

    text: str

    @property
    def version(self) -> str:
        """The AMI protocol version (not Asterisk's own version)."""
        return self.text.removeprefix(GREETING_PREFIX)


@dataclass(frozen=True)
class AmiEvent:
    """An event: its name and its fields in arrival order (keys may repeat)."""

    name: str
    fields: Fields

    def get(self, key: str, default: str | None = None) -> str | None:
        """The first value of ``key`` (case-insensitive, as Asterisk treats keys)."""
        return _get(self.fields, key, default)

    def getall(self, key: str) -> list[str]:
        """Every value of a repeated key, in order."""
        lowered = key.lower()
        return [value for name, value in self.fields if name.lower() == lowered]

    @property
    def action_id(self) -> str | None:
        """The ActionID of the action this event answers (list items, OriginateResponse)."""
        return self.get("ActionID")


@dataclass(frozen=True)
class AmiResponse:
    """A response to one action.

    ``success`` is True for ``Success``, ``Goodbye`` and ``Follows``;
    ``output`` holds command output lines (legacy ``Follows`` text or
    Asterisk 22's ``Output:`` fields). ``events`` holds the items of an
    event-list response once the client has aggregated them.
    """

    action_id: str | None
    success: bool
    message: str
    fields: Fields
    output: tuple[str, ...] = ()
    events: tuple[AmiEvent, ...] = field(default=())

    def get(self, key: str, default: str | None = None) -> str | None:
        """The first value of ``key`` (case-insensitive)."""
        return _get(self.fields, key, default)

    @property
    def response(self) -> str:
        """The raw ``Response:`` value (Success, Error, Follows, Goodbye)."""
        return _get(self.fields, "Response", "") or ""

    @property
    def is_event_list_start(self) -> bool:
        """True when the action's results follow as events (``EventList: start``)."""
        return (self.get("EventList") or "").lower() == "start"


AmiMessage = AmiGreeting | AmiEvent | AmiResponse


def _build(pairs: list[tuple[str, str]], output: list[str]) -> AmiEvent | AmiResponse:
    first_key = pairs[0][0].lower()
    fields = tuple(pairs)
    if first_key == "event":
        return AmiEvent(name=pairs[0][1], fields=fields)
    if first_key == "response":
        kind = pairs[0][1].strip().lower()
        command_output = [value for key, value in pairs if key.lower() == "output"]
        return AmiResponse(
            action_id=_get(fields, "ActionID", None),
            success=kind in ("success", "goodbye", "follows"),
            message=_get(fields, "Message", "") or "",
            fields=fields,
            output=tuple(output or command_output),
        )
    raise AmiProtocolError(
        f"AMI message starts with {pairs[0][0]!r}, expected 'Event' or 'Response': {pairs[:3]!r}"
    )


class AmiParser:
    """Turns a stream of AMI bytes into messages; feed it reads as they come.

    >>> parser = AmiParser()
    >>> parser.feed(b"Asterisk Call Manager/11.0.0\\r\\nResponse: Success\\r\\nActionID: 1")
    [AmiGreeting(text='Asterisk Call Manager/11.0.0')]
    >>> [m.action_id for m in parser.feed(b"\\r\\n\\r\\n")]
    ['1']
    """

    def __init__(self, expect_greeting: bool = True) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        self._greeted = not expect_greeting
        self._pairs: list[tuple[str, str]] = []
        self._output: list[str] = []
        self._follows = False

    def feed(self, data: bytes) -> list[AmiMessage]:
        """Parse ``data``; returns the messages it completes, in stream order."""
        text = self._pending + self._decoder.decode(data)
        messages: list[AmiMessage] = []
        start = 0
        while True:
            end = text.find("\n", start)
            if end < 0:
                break
            line = text[start:end]
            start = end + 1
            if line.endswith("\r"):
                line = line[:-1]
            message = self._line(line)
            if message is not None:
                messages.append(message)
        self._pending = text[start:]
        if len(self._pending) > MAX_LINE:
            raise AmiProtocolError(
                f"AMI line longer than {MAX_LINE} characters without a newline: "
                f"{self._pending[:80]!r}..."
            )
        return messages

    def feed_all(self, chunks: Iterable[bytes]) -> list[AmiMessage]:
        """Feed several reads in order; returns every message they complete."""
        messages: list[AmiMessage] = []
        for chunk in chunks:
            messages.extend(self.feed(chunk))
        return messages

    def _line(self, line: str) -> AmiMessage | None:
        if not self._greeted:
            if not line.startswith(GREETING_PREFIX):
                raise AmiProtocolError(
                    f"expected the AMI greeting {GREETING_PREFIX!r}..., got {line[:80]!r}: "
                    "is this port an Asterisk manager interface?"
                )
            self._greeted = True
            return AmiGreeting(text=line)
        if self._follows:
            return self._follows_line(line)
        if line == "":
            if not self._pairs and not self._output:
                return None  # stray blank lines between messages are harmless
            return self._finish()
        key, sep, value = line.partition(":")
        if not sep:
            # Not a field: text some modules print inside a message; keep it.
            self._output.append(line)
            return None
        self._pairs.append((key.strip(), value[1:] if value.startswith(" ") else value))
        if len(self._pairs) == 1 and key.strip().lower() == "response":
            self._follows = value.strip().lower() == "follows"
        return None

    def _follows_line(self, line: str) -> AmiMessage | None:
        # Legacy command output: raw lines (even blank, even with colons) up
        # to the end marker; only the headers before the first line are fields.
        marker = line.rfind(END_COMMAND)
        if marker >= 0:
            if line[:marker]:
                self._output.append(line[:marker])
            self._follows = False
            return self._finish()
        key, sep, value = line.partition(":")
        if not self._output and sep and key in ("Privilege", "ActionID"):
            self._pairs.append((key, value.lstrip(" ")))
        else:
            self._output.append(line)
        return None

    def _finish(self) -> AmiEvent | AmiResponse:
        pairs, output = self._pairs, self._output
        self._pairs, self._output = [], []
        if not pairs:
            raise AmiProtocolError(f"AMI message without fields: {output[:3]!r}")
        return _build(pairs, output)


def encode_action(action: str, action_id: str, fields: Sequence[tuple[str, str]] = ()) -> bytes:
    """Serialise one action. Keys may repeat (``Variable``).

    A CR or LF inside a key or value would end the line early and let the
    rest be read as further fields or a whole new action (a debtor's name in
    a CallerID is data we do not control), so both are refused.
    """
    lines = [("Action", action), ("ActionID", action_id), *fields]
    out: list[str] = []
    for key, value in lines:
        if not key or any(c in key for c in ":\r\n") or key != key.strip():
            raise ValueError(f"AMI action {action!r}: invalid field name {key!r}")
        if "\r" in value or "\n" in value:
            raise ValueError(
                f"AMI action {action!r}: field {key!r} contains a line break: {value[:60]!r}"
            )
        out.append(f"{key}: {value}\r\n")
    out.append("\r\n")
    return "".join(out).encode("utf-8")
