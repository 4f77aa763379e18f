"""Asking the provider whether an ambiguous attempt went out.

A worker killed between reserving an attempt and recording its outcome leaves
the attempt pending: the message may or may not have been sent. Resending
could message a debtor twice; so a retried job first asks the provider. The
local stand-in can answer by our attempt id. Real SendGrid and Twilio cannot
cheaply (SendGrid's Email Activity API is a paid add-on with minutes of lag;
Twilio's message list filters by number and date, not by our id), so there
the answer is "unknown" and the attempt stays visibly pending for an operator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol
from urllib.parse import parse_qs, urlsplit

import httpx

LookupState = Literal["sent", "absent", "unknown"]


@dataclass(frozen=True)
class Lookup:
    """``sent`` (with the provider's id), ``absent`` (provably never sent) or ``unknown``."""

    state: LookupState
    provider_id: str | None = None


class Reconciler(Protocol):
    """Finds out from the provider whether attempt ``attempt_id`` was sent to ``contact``."""

    def lookup(self, channel: str, attempt_id: int, contact: str) -> Lookup:
        """The provider's answer; ``unknown`` whenever it cannot say for sure."""
        ...


class BlindReconciler:
    """For providers that cannot be asked: every ambiguous attempt stays ambiguous."""

    def lookup(self, channel: str, attempt_id: int, contact: str) -> Lookup:
        """Always ``unknown``."""
        return Lookup("unknown")


class StandinReconciler:
    """Asks the local provider stand-in, which stores every message it accepted."""

    def __init__(self, base_url: str, *, timeout_s: float = 5.0) -> None:
        self._base = base_url.rstrip("/")
        self._timeout = timeout_s

    def lookup(self, channel: str, attempt_id: int, contact: str) -> Lookup:
        """Search the stand-in's store for our attempt id; ``unknown`` if it cannot be read."""
        wanted = str(attempt_id)
        try:
            if channel == "email":
                rows = self._get("/_standin/sendgrid/messages", contact)
                for row in rows:
                    if str(row.get("custom_args", {}).get("attempt_id")) == wanted:
                        return Lookup("sent", str(row.get("x_message_id")))
                return Lookup("absent")
            to = f"whatsapp:{contact}" if channel == "whatsapp" else contact
            unmarked = False
            for row in self._get("/_standin/twilio/messages", to):
                callback = row.get("status_callback") or ""
                marks = parse_qs(urlsplit(callback).query).get("attempt")
                if marks == [wanted]:
                    return Lookup("sent", str(row.get("sid")))
                unmarked = unmarked or not marks
            # A message without our attempt mark could be this one: cannot rule it out.
            return Lookup("unknown" if unmarked else "absent")
        except (httpx.HTTPError, ValueError):
            return Lookup("unknown")

    def _get(self, path: str, to: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self._base}{path}", params={"to": to}, timeout=self._timeout)
        response.raise_for_status()
        rows = response.json()
        if not isinstance(rows, list):
            raise ValueError(f"stand-in {path} answered {type(rows).__name__}, not a list")
        return rows
