"""HTTP front of the provider stand-in: SendGrid v3 and Twilio wire formats.

Speaks just enough of each API for the official clients: ``POST
/v3/mail/send`` (Bearer key; 202 + ``X-Message-Id``; SendGrid's
``{"errors": [{"message", "field", "help"}]}`` for bad input; 401 for a bad
key) and ``POST /2010-04-01/Accounts/{sid}/Messages.json`` (basic auth; 201
with the message resource; Twilio's ``{code, message, more_info, status}``).
Test control lives under ``/_standin/``.
"""

from __future__ import annotations

import base64
import email.message
import json
import re
import secrets
import socket
import sys
import time
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from sandbox.providers.dispatch import Dispatcher
from sandbox.providers.state import StandinState, StoredEmail, StoredText, WebhookMix

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
E164_RE = re.compile(r"^\+[1-9]\d{6,14}$")
TWILIO_PATH = re.compile(r"^/2010-04-01/Accounts/([^/]+)/Messages\.json$")
WHATSAPP_SESSION_S = 24 * 3600
MAX_HEADERS = 100  # as http.client allows
MAX_HEADER_LINE = 65536
SG_ERRORS_HELP = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html"
SG_UNAUTHORIZED = "The provided authorization grant is invalid, expired, or revoked"


class StandinServer(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` carrying the stand-in's state and webhook dispatcher."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], state: StandinState) -> None:
        super().__init__(address, Handler)
        self.state = state
        self.dispatcher = Dispatcher(state)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (its timeout fired) is expected; anything else is printed."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            self.state.count("client_disconnects")
            return
        super().handle_error(request, client_address)


def _sg_error(
    message: str, field: str | None = None, help_anchor: str | None = None
) -> dict[str, Any]:
    return {
        "message": message,
        "field": field,
        "help": f"{SG_ERRORS_HELP}#{help_anchor}" if help_anchor else None,
    }


def _twilio_error(code: int, message: str, status: int) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def validate_mail(body: Any) -> list[dict[str, Any]]:
    """SendGrid-shaped errors for a Mail Send body (empty list: acceptable).

    Errors come in SendGrid's order: sender, personalizations (then each one's
    recipients and custom args), subject, content.
    """
    if not isinstance(body, dict):
        return [_sg_error("Bad Request", None)]
    errors = _sender_errors(body.get("from"))
    personalizations = body.get("personalizations")
    if not isinstance(personalizations, list):
        personalizations = []
    errors += _personalization_count_errors(personalizations)
    for i, personalization in enumerate(personalizations):
        errors += _personalization_errors(i, personalization)
    errors += _subject_errors(body, personalizations)
    errors += _content_errors(body)
    return errors


def _sender_errors(sender: Any) -> list[dict[str, Any]]:
    if isinstance(sender, dict) and EMAIL_RE.match(str(sender.get("email", ""))):
        return []
    return [
        _sg_error("The from email does not contain a valid address.", "from.email", "message.from")
    ]


def _personalization_count_errors(personalizations: list[Any]) -> list[dict[str, Any]]:
    if not personalizations:
        return [
            _sg_error(
                "The personalizations field is required and must have at least one "
                "personalization.",
                "personalizations",
                "-Personalizations-Errors",
            )
        ]
    if len(personalizations) > 1000:
        return [
            _sg_error(
                "The personalizations field may not have more than 1000 personalizations.",
                "personalizations",
                "-Personalizations-Errors",
            )
        ]
    return []


def _personalization_errors(i: int, personalization: Any) -> list[dict[str, Any]]:
    """The ``i``-th personalization's errors: its shape, recipients and custom args."""
    if not isinstance(personalization, dict):
        return [_sg_error("Personalization must be an object.", f"personalizations.{i}")]
    errors: list[dict[str, Any]] = []
    to = personalization.get("to")
    if not isinstance(to, list) or not to:
        errors.append(
            _sg_error(
                "The to array is required for all personalization objects, and must have at "
                "least one email object with a valid email address.",
                f"personalizations.{i}.to",
                "message.personalizations.to",
            )
        )
    else:
        for j, rcpt in enumerate(to):
            if not isinstance(rcpt, dict) or not EMAIL_RE.match(str(rcpt.get("email", ""))):
                errors.append(
                    _sg_error(
                        "Does not contain a valid address.",
                        f"personalizations.{i}.to.{j}.email",
                        "message.personalizations.to",
                    )
                )
    args = personalization.get("custom_args", {})
    if not isinstance(args, dict) or not all(isinstance(v, str) for v in args.values()):
        errors.append(
            _sg_error("Custom args values must be strings.", f"personalizations.{i}.custom_args")
        )
    return errors


def _subject_errors(body: dict[str, Any], personalizations: list[Any]) -> list[dict[str, Any]]:
    # Personalizations that are not objects were reported already; they do
    # not count against "every personalization has a subject".
    every_subject = all(bool(p.get("subject")) for p in personalizations if isinstance(p, dict))
    if body.get("subject") or every_subject or "template_id" in body:
        return []
    return [
        _sg_error(
            "The subject is required. You can get around this requirement if you use a "
            "template with a subject defined or if every personalization has a subject defined.",
            "subject",
            "message.subject",
        )
    ]


def _content_errors(body: dict[str, Any]) -> list[dict[str, Any]]:
    content = body.get("content")
    if "template_id" in body or (isinstance(content, list) and content):
        return []
    return [
        _sg_error(
            "Unless a valid template_id is provided, the content parameter is required. "
            "There must be at least one defined content block.",
            "content",
            "message.content",
        )
    ]


def _new_x_message_id() -> str:
    """A fresh ``X-Message-Id``: 16 random bytes, URL-safe base64 without padding, as SendGrid's."""
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).decode("ascii").rstrip("=")


def _substitute(text: str | None, substitutions: dict[str, Any]) -> str | None:
    """``text`` with each personalization substitution tag replaced by its value."""
    if text is None:
        return None
    for tag, value in substitutions.items():
        text = text.replace(tag, str(value))
    return text


def _stored_emails(body: dict[str, Any], x_message_id: str) -> list[StoredEmail]:
    """One stored email per recipient of a valid Mail Send body, as SendGrid fans it out."""
    contents = {c.get("type"): str(c.get("value", "")) for c in body.get("content", [])}
    stored: list[StoredEmail] = []
    for n, p in enumerate(body["personalizations"]):
        subs = p.get("substitutions") or {}
        for rcpt in p["to"]:
            stored.append(
                StoredEmail(
                    x_message_id=x_message_id,
                    sg_message_id=f"{x_message_id}.filterdrecv-standin-{n}.0",
                    from_email=body["from"]["email"],
                    to_email=rcpt["email"],
                    subject=_substitute(p.get("subject") or body.get("subject"), subs) or "",
                    text=_substitute(contents.get("text/plain"), subs),
                    html=_substitute(contents.get("text/html"), subs),
                    custom_args={**body.get("custom_args", {}), **p.get("custom_args", {})},
                    headers={**body.get("headers", {}), **p.get("headers", {})},
                )
            )
    return stored


class Handler(BaseHTTPRequestHandler):
    """Routes one request; state lives on the server."""

    server: StandinServer
    raw_requestline: bytes  # set by handle_one_request before parse_request
    protocol_version = "HTTP/1.1"
    server_version = "cadencia-standin/1"
    # Buffer the response so headers and body leave in one send (the handler
    # flushes after each request); unbuffered, each is its own syscall.
    wbufsize = 1 << 16

    def setup(self) -> None:
        """Disable Nagle: headers and body go out in separate writes, and Nagle
        plus the client's delayed ACK would add ~40 ms to every response."""
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging (thousands per second under load)."""

    def parse_request(self) -> bool:
        """The request line and headers of an HTTP/1.x request; False after an error reply.

        The stdlib's version hands the header block to the ``email`` package's
        parser, which was 40% of the stand-in's CPU under load: CPU taken
        from the workers a benchmark measures, on a machine where the real
        provider would not be. Same checks that matter here (HTTP/1.x only,
        line and header-count limits, ``Connection``), plain line splitting.
        """
        self.command = ""
        self.request_version = self.default_request_version
        self.close_connection = True
        self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        words = self.requestline.split()
        if not words:
            return False
        if len(words) != 3 or words[2] not in ("HTTP/1.0", "HTTP/1.1"):
            self.request_version = "HTTP/1.1"  # answer with a status line, not HTTP/0.9
            self.send_error(HTTPStatus.BAD_REQUEST, f"Bad request line ({self.requestline!r})")
            return False
        self.command, self.path, self.request_version = words
        headers = email.message.Message()
        for _ in range(MAX_HEADERS + 1):
            line = self.rfile.readline(MAX_HEADER_LINE + 1)
            if len(line) > MAX_HEADER_LINE:
                self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Line too long")
                return False
            if line in (b"\r\n", b"\n", b""):
                break
            name, colon, value = line.decode("iso-8859-1").partition(":")
            if not colon or not name.strip():
                self.send_error(HTTPStatus.BAD_REQUEST, f"Bad header line ({line[:80]!r})")
                return False
            headers[name.strip()] = value.strip()
        else:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Too many headers")
            return False
        self.headers = headers
        connection = headers.get("Connection", "").lower()
        self.close_connection = connection == "close" or (
            self.request_version == "HTTP/1.0" and connection != "keep-alive"
        )
        return True

    # -- plumbing ---------------------------------------------------------
    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(
        self, status: int, payload: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        data = b"" if payload is None else json.dumps(payload).encode("utf-8")
        self.send_response(status)
        if payload is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if data:
            self.wfile.write(data)

    def _injected(self, provider: str) -> bool:
        rule = self.server.state.take_failure(provider)
        if rule is None:
            return False
        if rule.delay_s:
            time.sleep(rule.delay_s)
        if rule.status is None:
            return False
        headers = {"Retry-After": f"{rule.retry_after:g}"} if rule.retry_after is not None else {}
        self.server.state.count(f"{provider}.injected")
        if provider == "sendgrid":
            message = "too many requests" if rule.status == 429 else "internal server error"
            self._send(rule.status, {"errors": [_sg_error(message)]}, headers)
        else:
            code = 20429 if rule.status == 429 else 20500
            message = "Too Many Requests" if rule.status == 429 else "Internal Server Error"
            self._send(rule.status, _twilio_error(code, message, rule.status), headers)
        return True

    def do_GET(self) -> None:
        """Control-plane reads."""
        path = urlsplit(self.path)
        query = dict(parse_qsl(path.query))
        state = self.server.state
        if path.path == "/_standin/keys":
            self._send(200, {
                "sendgrid_api_key": state.sendgrid_api_key,
                "sendgrid_public_key": state.sendgrid_public_key,
                "twilio_account_sid": state.twilio_account_sid,
                "twilio_auth_token": state.twilio_auth_token,
            })  # fmt: skip
        elif path.path == "/_standin/sendgrid/messages":
            self._send(200, [e.__dict__ for e in state.sent_emails(query.get("to"))])
        elif path.path == "/_standin/twilio/messages":
            self._send(200, [t.__dict__ for t in state.sent_texts(query.get("to"))])
        elif path.path == "/_standin/stats":
            with state.lock:
                counts = dict(state.counts)
            self._send(
                200, {"counts": counts, "webhooks_pending": self.server.dispatcher.pending()}
            )
        else:
            self._send(404, {"errors": [_sg_error(f"no route GET {path.path}")]})

    def do_POST(self) -> None:
        """Provider APIs and control-plane writes."""
        path = urlsplit(self.path).path
        body = self._body()
        if path == "/v3/mail/send":
            self._mail_send(body)
            return
        match = TWILIO_PATH.match(path)
        if match:
            self._twilio_create(match.group(1), body)
            return
        if path.startswith("/_standin/"):
            self._control(path, body)
            return
        self._send(404, {"errors": [_sg_error(f"no route POST {path}")]})

    # -- SendGrid ---------------------------------------------------------
    def _mail_send(self, raw: bytes) -> None:
        """``POST /v3/mail/send``: authorize, validate, store per recipient, schedule events."""
        state = self.server.state
        state.count("sendgrid.requests")
        if self.headers.get("Authorization") != f"Bearer {state.sendgrid_api_key}":
            state.count("sendgrid.unauthorized")
            self._send(401, {"errors": [_sg_error(SG_UNAUTHORIZED)]})
            return
        if self._injected("sendgrid"):
            return
        body = self._valid_mail(raw)
        if body is None:
            return
        x_message_id = _new_x_message_id()
        stored = _stored_emails(body, x_message_id)
        with state.lock:
            state.emails.extend(stored)
            state.counts["sendgrid.accepted"] = state.counts.get("sendgrid.accepted", 0) + len(
                stored
            )
        # Scheduled before answering, so a test that flushes right after the
        # response sees every event.
        self.server.dispatcher.email_outcomes(stored)
        self._send(202, None, {"X-Message-Id": x_message_id})

    def _valid_mail(self, raw: bytes) -> dict[str, Any] | None:
        """The parsed Mail Send body, or None after answering 400 with SendGrid's errors."""
        try:
            body = json.loads(raw)
        except ValueError:
            self._send(400, {"errors": [_sg_error("Bad Request")]})
            return None
        errors = validate_mail(body)
        if errors:
            self.server.state.count("sendgrid.rejected")
            self._send(400, {"errors": errors})
            return None
        return body  # a JSON object: validate_mail rejects anything else

    # -- Twilio -----------------------------------------------------------
    def _twilio_auth_ok(self, sid: str) -> bool:
        state = self.server.state
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
        except ValueError:
            return False
        return user == state.twilio_account_sid == sid and password == state.twilio_auth_token

    def _twilio_create(self, sid: str, raw: bytes) -> None:
        state = self.server.state
        state.count("twilio.requests")
        if not self._twilio_auth_ok(sid):
            state.count("twilio.unauthorized")
            self._send(401, _twilio_error(20003, "Authenticate", 401))
            return
        if self._injected("twilio"):
            return
        params = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        to, from_ = params.get("To", ""), params.get("From", "")
        number = to.removeprefix("whatsapp:")
        error: tuple[int, str] | None = None
        if not E164_RE.match(number):
            error = (21211, f"Invalid 'To' Phone Number: {to}")
        elif not from_ and not params.get("MessagingServiceSid"):
            error = (21603, "A 'From' phone number is required.")
        elif to.startswith("whatsapp:") != from_.startswith("whatsapp:"):
            error = (21910, "Invalid From and To pair. From and To should be of the same channel")
        elif not params.get("Body") and not params.get("ContentSid"):
            error = (21602, "Message body is required.")
        elif (from_, to) in state.opted_out:
            error = (21610, "Attempt to send to unsubscribed recipient")
        if error is not None:
            state.count("twilio.rejected")
            self._send(400, _twilio_error(error[0], error[1], 400))
            return
        msid = "SM" + secrets.token_hex(16)
        now = formatdate(usegmt=True)
        stored = StoredText(
            sid=msid,
            account_sid=sid,
            to=to,
            from_=from_,
            body=params.get("Body"),
            content_sid=params.get("ContentSid"),
            content_variables=params.get("ContentVariables"),
            validity_period=params.get("ValidityPeriod"),
            status_callback=params.get("StatusCallback"),
            params=params,
        )
        with state.lock:
            state.texts.append(stored)
            state.counts["twilio.accepted"] = state.counts.get("twilio.accepted", 0) + 1
            last_inbound = state.whatsapp_inbound.get(to)
        session_open = last_inbound is not None and time.time() - last_inbound < WHATSAPP_SESSION_S
        self.server.dispatcher.text_outcomes(stored, session_open=session_open)
        uri = f"/2010-04-01/Accounts/{sid}/Messages/{msid}.json"
        self._send(201, {
            "account_sid": sid, "api_version": "2010-04-01", "body": params.get("Body", ""),
            "date_created": now, "date_sent": None, "date_updated": now,
            "direction": "outbound-api", "error_code": None, "error_message": None,
            "from": from_, "messaging_service_sid": params.get("MessagingServiceSid"),
            "num_media": "0", "num_segments": "1", "price": None, "price_unit": "USD",
            "sid": msid, "status": "queued", "to": to, "uri": uri,
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
        })  # fmt: skip

    # -- control ----------------------------------------------------------
    def _control(self, path: str, raw: bytes) -> None:
        state, dispatcher = self.server.state, self.server.dispatcher
        try:
            data = json.loads(raw) if raw else {}
            if path == "/_standin/fail":
                state.fail_next(
                    str(data.get("provider", "any")),
                    int(data.get("count", 1)),
                    status=None
                    if data.get("status", 429) is None
                    else int(data.get("status", 429)),
                    retry_after=None
                    if data.get("retry_after") is None
                    else float(data["retry_after"]),
                    delay_s=float(data.get("delay_s", 0.0)),
                )
            elif path == "/_standin/config":
                for key in ("sendgrid_webhook_url", "twilio_status_url", "twilio_inbound_url"):
                    if key in data:
                        setattr(state, key, data[key])
                if "twilio_sent_callbacks" in data:
                    state.twilio_sent_callbacks = bool(data["twilio_sent_callbacks"])
                if "webhook_delay_s" in data:
                    state.webhook_delay_s = float(data["webhook_delay_s"])
                if "mix" in data:
                    state.set_mix(WebhookMix.from_dict(dict(data["mix"])))
                for email in data.get("suppressed_emails", []):
                    state.suppressed_emails.add(str(email).lower())
            elif path == "/_standin/twilio/inbound":
                sid = dispatcher.inbound(str(data["from"]), str(data["to"]), str(data["body"]))
                self._send(200, {"sid": sid})
                return
            elif path == "/_standin/flush":
                self._send(200, {"flushed": dispatcher.flush(float(data.get("timeout", 10)))})
                return
            elif path == "/_standin/reset":
                state.reset()
            else:
                self._send(404, {"error": f"no control route {path}"})
                return
        except (ValueError, KeyError, TypeError) as exc:
            self._send(400, {"error": f"{path}: {exc!r}"})
            return
        self._send(200, {"ok": True})
