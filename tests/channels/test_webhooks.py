"""Signed webhooks from the stand-in, verified and parsed by channels.webhooks_*."""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import parse_qsl

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from channels.errors import WebhookRejected
from channels.sendgrid_transport import EmailMessage, SendGridTransport
from channels.twilio_transport import TextMessage, TwilioTransport
from channels.webhooks_sendgrid import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    load_public_key,
    parse_events,
    verified_events,
)
from channels.webhooks_twilio import parse_inbound, verified_inbound, verified_status_callback
from sandbox.providers import StandinHandle
from tests.channels.receiver import Receiver

OURS = "+15005550006"


def _sendgrid_batch(provider: StandinHandle, receiver: Receiver) -> tuple[dict[str, str], bytes]:
    provider.state.sendgrid_webhook_url = f"{receiver.base_url}/webhooks/sendgrid"
    transport = SendGridTransport(provider.sendgrid_api_key, host=provider.base_url, timeout_s=5)
    messages = [
        EmailMessage("att-ok", "ana@example.com", "s", "t", "c@bank.example"),
        EmailMessage("att-bounce", "bo+bounce@example.com", "s", "t", "c@bank.example"),
        EmailMessage("att-unsub", "un+unsub@example.com", "s", "t", "c@bank.example"),
    ]
    assert len(transport.send(messages).accepted) == 3
    request = receiver.wait_for(1)[0]
    return request.headers, request.body


def test_sendgrid_events_verify_and_parse(provider: StandinHandle, receiver: Receiver) -> None:
    headers, body = _sendgrid_batch(provider, receiver)
    key = load_public_key(provider.sendgrid_public_key)
    events = verified_events(key, headers, body, now=time.time())
    kinds = {(e.attempt_id, e.event) for e in events}
    assert ("att-ok", "delivered") in kinds
    assert ("att-bounce", "bounce") in kinds and ("att-bounce", "delivered") not in kinds
    assert ("att-unsub", "unsubscribe") in kinds
    assert len({e.sg_event_id for e in events}) == len(events)
    bounce = next(e for e in events if e.event == "bounce")
    assert bounce.permanent_failure and bounce.bounce_classification == "Invalid Address"
    unsub = next(e for e in events if e.event == "unsubscribe")
    opt_out = unsub.opt_out()
    assert opt_out is not None
    assert (opt_out.channel, opt_out.contact, opt_out.source_event_id) == (
        "email", "un+unsub@example.com", unsub.sg_event_id,
    )  # fmt: skip
    stored = provider.state.sent_emails("ana@example.com")[0]
    assert next(e for e in events if e.attempt_id == "att-ok").x_message_id == stored.x_message_id


def test_sendgrid_tampered_body_is_rejected(provider: StandinHandle, receiver: Receiver) -> None:
    headers, body = _sendgrid_batch(provider, receiver)
    key = load_public_key(provider.sendgrid_public_key)
    tampered = body.replace(b"bounce", b"delivd", 1)
    with pytest.raises(WebhookRejected) as info:
        verified_events(key, headers, tampered, now=time.time())
    assert info.value.reason == "bad-signature"


def test_sendgrid_missing_headers_are_rejected(provider: StandinHandle, receiver: Receiver) -> None:
    headers, body = _sendgrid_batch(provider, receiver)
    key = load_public_key(provider.sendgrid_public_key)
    for drop in (SIGNATURE_HEADER, TIMESTAMP_HEADER):
        partial = {k: v for k, v in headers.items() if k.lower() != drop.lower()}
        with pytest.raises(WebhookRejected) as info:
            verified_events(key, partial, body, now=time.time())
        assert info.value.reason == "missing-signature"


def test_sendgrid_wrong_key_is_rejected(provider: StandinHandle, receiver: Receiver) -> None:
    headers, body = _sendgrid_batch(provider, receiver)
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(WebhookRejected, match="does not verify"):
        verified_events(other, headers, body, now=time.time())


def test_sendgrid_replay_outside_the_window_is_rejected() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    body = json.dumps(
        [{"email": "a@example.com", "timestamp": 1, "event": "delivered", "sg_event_id": "e1"}]
    ).encode()
    stamp = "1700000000"
    signature = base64.b64encode(private.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256())))
    headers = {SIGNATURE_HEADER: signature.decode(), TIMESTAMP_HEADER: stamp}
    public = private.public_key()
    assert verified_events(public, headers, body, now=1_700_000_100.0)[0].sg_event_id == "e1"
    with pytest.raises(WebhookRejected) as info:
        verified_events(public, headers, body, now=1_700_000_000.0 + 301)
    assert info.value.reason == "expired"
    # Moving the timestamp forward breaks the signature instead.
    with pytest.raises(WebhookRejected) as info:
        verified_events(
            public, {**headers, TIMESTAMP_HEADER: "1700000301"}, body, now=1_700_000_301.0
        )
    assert info.value.reason == "bad-signature"


def test_sendgrid_malformed_payload_names_the_entry() -> None:
    with pytest.raises(WebhookRejected, match="#1 lacks sg_event_id"):
        parse_events(
            b'[{"email":"a@x.io","timestamp":1,"event":"open","sg_event_id":"e"},'
            b'{"email":"a@x.io","timestamp":1,"event":"open"}]'
        )
    with pytest.raises(WebhookRejected, match="JSON array"):
        parse_events(b'{"event": "open"}')


def test_public_key_loader_refuses_garbage() -> None:
    with pytest.raises(ValueError, match="base64 DER"):
        load_public_key("not a key")


def _twilio_callbacks(provider: StandinHandle, receiver: Receiver) -> str:
    url = f"{receiver.base_url}/webhooks/twilio/status?campaign=spring"
    transport = TwilioTransport(
        provider.twilio_account_sid, provider.twilio_auth_token, api_base=provider.base_url
    )
    return transport.send_one(
        TextMessage("att-1", "+5215512345678", OURS, "Hola", status_callback=url)
    )


def test_twilio_status_callbacks_verify_and_parse(
    provider: StandinHandle, receiver: Receiver
) -> None:
    sid = _twilio_callbacks(provider, receiver)
    requests = receiver.wait_for(2)
    events = []
    for r in requests:
        params = dict(parse_qsl(r.body.decode()))
        url = receiver.base_url + r.path
        events.append(verified_status_callback(provider.twilio_auth_token, url, params, r.headers))
    # Like Twilio's, the stand-in's callbacks may arrive out of order.
    by_status = {e.status: e for e in events}
    assert set(by_status) == {"sent", "delivered"}
    assert all(e.message_sid == sid and e.to == "+5215512345678" for e in events)
    assert by_status["delivered"].final and not by_status["sent"].final
    assert not by_status["delivered"].permanent_failure
    assert by_status["sent"].event_key != by_status["delivered"].event_key


def test_twilio_bad_missing_and_wrong_token_signatures_are_rejected(
    provider: StandinHandle, receiver: Receiver
) -> None:
    _twilio_callbacks(provider, receiver)
    r = receiver.wait_for(1)[0]
    params = dict(parse_qsl(r.body.decode()))
    url = receiver.base_url + r.path
    token = provider.twilio_auth_token
    with pytest.raises(WebhookRejected) as info:
        verified_status_callback(token, url, {**params, "MessageStatus": "failed"}, r.headers)
    assert info.value.reason == "bad-signature"
    unsigned = {k: v for k, v in r.headers.items() if k.lower() != "x-twilio-signature"}
    with pytest.raises(WebhookRejected) as info:
        verified_status_callback(token, url, params, unsigned)
    assert info.value.reason == "missing-signature"
    with pytest.raises(WebhookRejected):
        verified_status_callback("0" * 32, url, params, r.headers)
    with pytest.raises(WebhookRejected):
        verified_status_callback(token, url.replace("spring", "autumn"), params, r.headers)


@pytest.mark.parametrize(
    ("sender", "body", "channel"),
    [("+5215511112222", "BAJA", "sms"), ("+5215511112222", "  alto ", "sms"),
     ("whatsapp:+5511999998888", "Cancelár", "whatsapp"), ("+14155550100", "stop", "sms"),
     ("+14155550100", "Unsubscribe", "sms")],
)  # fmt: skip
def test_inbound_opt_out_replies_become_opt_out_events(
    provider: StandinHandle, receiver: Receiver, sender: str, body: str, channel: str
) -> None:
    provider.state.twilio_inbound_url = f"{receiver.base_url}/webhooks/twilio/inbound"
    provider.inbound(sender, OURS, body)
    r = receiver.wait_for(1)[0]
    params = dict(parse_qsl(r.body.decode()))
    message = verified_inbound(
        provider.twilio_auth_token, receiver.base_url + r.path, params, r.headers
    )
    event = message.opt_out()
    assert event is not None
    assert (event.channel, event.contact, event.text) == (
        channel, sender.removeprefix("whatsapp:"), body,
    )  # fmt: skip
    assert event.source_event_id == message.message_sid


def test_inbound_sentence_is_not_an_opt_out(provider: StandinHandle, receiver: Receiver) -> None:
    provider.state.twilio_inbound_url = f"{receiver.base_url}/in"
    provider.inbound("+5215511112222", OURS, "no me den de baja, quiero pagar")
    r = receiver.wait_for(1)[0]
    message = verified_inbound(
        provider.twilio_auth_token,
        receiver.base_url + r.path,
        dict(parse_qsl(r.body.decode())),
        r.headers,
    )
    assert message.intent == "other" and message.opt_out() is None


def test_twilio_marked_opt_out_is_honoured_whatever_the_word() -> None:
    message = parse_inbound(
        {
            "MessageSid": "SM1",
            "From": "+14155550100",
            "To": OURS,
            "Body": "ARRET",
            "OptOutType": "STOP",
        }
    )
    assert message.opt_out() is not None


def test_whatsapp_freeform_outside_the_session_fails_63016(
    provider: StandinHandle, receiver: Receiver
) -> None:
    url = f"{receiver.base_url}/status"
    transport = TwilioTransport(
        provider.twilio_account_sid, provider.twilio_auth_token, api_base=provider.base_url
    )
    # The caller believed the session open; Twilio knows better and fails it.
    transport.send_one(
        TextMessage("w", "+5215512345678", OURS, "Hola", channel="whatsapp", session_open=True,
                    status_callback=url)
    )  # fmt: skip
    statuses = [dict(parse_qsl(r.body.decode())) for r in receiver.wait_for(2)]
    failed = [s for s in statuses if s["MessageStatus"] == "failed"]
    assert [s["ErrorCode"] for s in failed] == ["63016"]


def test_standin_signature_also_verifies_with_sendgrids_own_helper(
    provider: StandinHandle, receiver: Receiver
) -> None:
    from sendgrid.helpers.eventwebhook import EventWebhook

    headers, body = _sendgrid_batch(provider, receiver)
    helper = EventWebhook(provider.sendgrid_public_key)
    lower = {k.lower(): v for k, v in headers.items()}
    assert helper.verify_signature(
        body.decode("utf-8"), lower[SIGNATURE_HEADER.lower()], lower[TIMESTAMP_HEADER.lower()]
    )
    assert not helper.verify_signature(
        body.decode("utf-8") + " ", lower[SIGNATURE_HEADER.lower()], lower[TIMESTAMP_HEADER.lower()]
    )


def test_only_final_status_callbacks_when_asked(
    provider: StandinHandle, receiver: Receiver
) -> None:
    provider.state.twilio_sent_callbacks = False
    _twilio_callbacks(provider, receiver)
    assert provider.flush_webhooks(5)
    statuses = [dict(parse_qsl(r.body.decode()))["MessageStatus"] for r in receiver.wait_for(1)]
    assert statuses == ["delivered"]
