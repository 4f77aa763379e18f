"""The stand-in's webhook sender: decides outcomes and posts them, signed, later.

SendGrid events are batched into JSON arrays signed with the stand-in's ECDSA
key (as the Signed Event Webhook does); Twilio status callbacks and inbound
messages are form posts signed with the auth token (``X-Twilio-Signature``).
A receiver that answers non-2xx or is unreachable gets up to three tries.
"""

from __future__ import annotations

import base64
import heapq
import http.client
import itertools
import json
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from twilio.request_validator import RequestValidator

from sandbox.providers.state import StandinState, StoredEmail, StoredText

# Twilio's own default opt-out words: only these make Twilio itself block the
# number (error 21610 afterwards); BAJA etc. reach us but Twilio does not act.
TWILIO_STOP_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"}
)
# And its default opt-in words: they lift that block (Advanced Opt-Out's START).
TWILIO_START_WORDS = frozenset({"START", "UNSTOP", "YES"})
MAX_EVENTS_PER_POST = 1000
MAX_TRIES = 3


@dataclass(order=True)
class _Job:
    due: float
    seq: int
    kind: str  # "sendgrid" | "twilio"
    url: str
    payload: Any
    tries: int = 0


def _event_id() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).decode("ascii").rstrip("=")


class Dispatcher:
    """A background thread that posts scheduled webhooks when they fall due."""

    def __init__(self, state: StandinState, workers: int = 4) -> None:
        self._state = state
        self._heap: list[_Job] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._busy = 0
        self._stopped = False
        # Several senders so one slow receiver (a real web app) does not
        # serialise thousands of callbacks a second; each keeps its own
        # keep-alive connections.
        self._local = threading.local()
        self._all_conns: list[http.client.HTTPConnection] = []
        self._threads = [
            threading.Thread(target=self._run, name=f"standin-webhooks-{i}", daemon=True)
            for i in range(max(1, workers))
        ]
        for thread in self._threads:
            thread.start()

    # -- scheduling -------------------------------------------------------
    def _push(self, kind: str, url: str, payload: Any, delay: float) -> None:
        with self._cond:
            heapq.heappush(
                self._heap, _Job(time.time() + delay, next(self._seq), kind, url, payload)
            )
            self._cond.notify()

    def email_outcomes(self, emails: list[StoredEmail]) -> None:
        """Draw and schedule events for accepted emails (no-op without a webhook URL)."""
        url = self._state.sendgrid_webhook_url
        if not url:
            return
        mix, now = self._state.mix, int(time.time())
        events: list[dict[str, Any]] = []
        for n, e in enumerate(emails):
            base = {
                "email": e.to_email,
                "timestamp": now,
                "sg_message_id": e.sg_message_id,
                "smtp-id": f"<{e.x_message_id}.{n}@standin>",
                **e.custom_args,
            }
            local = e.to_email.split("@", 1)[0]
            if e.to_email.lower() in self._state.suppressed_emails:
                events.append({**base, "event": "dropped", "reason": "Unsubscribed Address"})
                continue
            events.append({**base, "event": "processed"})
            if "+bounce" in local or self._state.draw(mix.bounced):
                events.append(
                    {
                        **base,
                        "event": "bounce",
                        "type": "bounce",
                        "status": "5.1.1",
                        "reason": "550 5.1.1 The email account that you tried to reach does not exist",  # noqa: E501
                        "bounce_classification": "Invalid Address",
                    }
                )
                continue
            events.append({**base, "event": "delivered", "response": "250 OK"})
            if self._state.draw(mix.opened):
                events.append(
                    {**base, "event": "open", "useragent": "standin", "ip": "127.0.0.1",
                     "sg_machine_open": False}
                )  # fmt: skip
            if "+unsub" in local or self._state.draw(mix.unsubscribed):
                events.append({**base, "event": "unsubscribe"})
        for ev in events:
            ev["sg_event_id"] = _event_id()
        for start in range(0, len(events), MAX_EVENTS_PER_POST):
            self._push(
                "sendgrid",
                url,
                events[start : start + MAX_EVENTS_PER_POST],
                self._state.webhook_delay_s,
            )

    def text_outcomes(self, text: StoredText, *, session_open: bool) -> None:
        """Draw and schedule status callbacks (and maybe a reply) for one accepted message."""
        state, mix = self._state, self._state.mix
        url = text.status_callback or state.twilio_status_url
        base = {
            "AccountSid": text.account_sid,
            "ApiVersion": "2010-04-01",
            "From": text.from_,
            "To": text.to,
            "MessageSid": text.sid,
            "SmsSid": text.sid,
        }
        delay = state.webhook_delay_s
        whatsapp = text.to.startswith("whatsapp:")
        if whatsapp and text.content_sid is None and not session_open:
            final = {**base, "MessageStatus": "failed", "ErrorCode": "63016"}
        elif state.draw(mix.failed):
            final = {**base, "MessageStatus": "undelivered", "ErrorCode": "30003"}
        else:
            final = {**base, "MessageStatus": "delivered"}
        if url:
            if state.twilio_sent_callbacks:
                self._push("twilio", url, {**base, "MessageStatus": "sent"}, delay)
            self._push("twilio", url, final, delay * 1.5)
        if final["MessageStatus"] == "delivered" and state.draw(mix.replied):
            body = ("STOP" if state.draw(0.5) else "BAJA") if state.draw(mix.stop) else "PAGAR"
            self.inbound(text.to, text.from_, body, delay=delay * 2)

    def inbound(self, from_: str, to: str, body: str, *, delay: float = 0.0) -> str:
        """A customer's message ``from_`` → ``to`` (our number); returns its sid.

        Updates what Twilio would: the WhatsApp session window, and its own STOP
        block for SMS. Posted to the inbound URL if one is configured.
        """
        sid = "SM" + secrets.token_hex(16)
        params = {
            "AccountSid": self._state.twilio_account_sid,
            "ApiVersion": "2010-04-01",
            "MessageSid": sid,
            "SmsSid": sid,
            "SmsMessageSid": sid,
            "From": from_,
            "To": to,
            "Body": body,
            "NumMedia": "0",
            "NumSegments": "1",
        }
        word = " ".join(body.upper().split())
        with self._state.lock:
            if from_.startswith("whatsapp:"):
                self._state.whatsapp_inbound[from_] = time.time()
            elif word in TWILIO_STOP_WORDS:
                self._state.opted_out.add((to, from_))
                params["OptOutType"] = "STOP"
            elif word in TWILIO_START_WORDS:
                self._state.opted_out.discard((to, from_))
                params["OptOutType"] = "START"
        url = self._state.twilio_inbound_url
        if url:
            self._push("twilio", url, params, delay)
        return sid

    # -- delivery ---------------------------------------------------------
    def _connection(self, url: str) -> tuple[http.client.HTTPConnection, str]:
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc)
        conns: dict[tuple[str, str], http.client.HTTPConnection] | None = getattr(
            self._local, "conns", None
        )
        if conns is None:
            conns = self._local.conns = {}
        conn = conns.get(key)
        if conn is None:
            cls = (
                http.client.HTTPSConnection
                if parts.scheme == "https"
                else http.client.HTTPConnection
            )
            conn = conns[key] = cls(parts.netloc, timeout=10)
            with self._cond:
                self._all_conns.append(conn)
        path = parts.path or "/"
        return conn, path + (f"?{parts.query}" if parts.query else "")

    def _post(self, job: _Job) -> int:
        if job.kind == "sendgrid":
            body = json.dumps(job.payload, separators=(",", ":")).encode("utf-8")
            stamp = str(int(time.time()))
            signature = self._state.signing_key.sign(
                stamp.encode("ascii") + body, ec.ECDSA(hashes.SHA256())
            )
            headers = {
                "Content-Type": "application/json",
                "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(
                    "ascii"
                ),
                "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
            }
        else:
            body = urlencode(job.payload).encode("utf-8")
            validator = RequestValidator(self._state.twilio_auth_token)
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": validator.compute_signature(job.url, job.payload),
                "I-Twilio-Idempotency-Token": f"{job.payload.get('MessageSid', '')}-{job.seq}",
            }
        for attempt in (1, 2):
            conn, path = self._connection(job.url)
            try:
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                return response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                if attempt == 2:
                    return -1
        return -1

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._heap or self._heap[0].due > time.time()):
                    timeout = self._heap[0].due - time.time() if self._heap else None
                    self._cond.wait(timeout)
                if self._stopped:
                    return
                job = heapq.heappop(self._heap)
                self._busy += 1
            try:
                status = self._post(job)
                self._state.webhook_log.append((job.kind, job.url, status))
                if not 200 <= status < 300 and job.tries + 1 < MAX_TRIES:
                    job.tries += 1
                    job.due = time.time() + 0.5 * 2**job.tries
                    with self._cond:
                        heapq.heappush(self._heap, job)
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def pending(self) -> int:
        """Webhooks scheduled or in flight."""
        with self._cond:
            return len(self._heap) + self._busy

    def flush(self, timeout: float = 10.0) -> bool:
        """Post everything scheduled now, not at its due time; wait until done.

        Returns False if work remains after ``timeout`` seconds (e.g. retries of
        a receiver that keeps failing).
        """
        deadline = time.time() + timeout
        with self._cond:
            for job in self._heap:
                job.due = min(job.due, time.time())
            heapq.heapify(self._heap)
            self._cond.notify_all()
            while self._heap or self._busy:
                remaining = deadline - time.time()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.05))
                for job in self._heap:
                    job.due = min(job.due, time.time())
                heapq.heapify(self._heap)
        return True

    def stop(self) -> None:
        """Stop the sender threads; scheduled webhooks are dropped."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=5)
        for conn in self._all_conns:
            conn.close()
