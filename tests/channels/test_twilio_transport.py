"""TwilioTransport: the official client over real HTTP against the stand-in."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest

from channels.errors import TransportError
from channels.ratelimit import RateKey, RateLimiter
from channels.retry import RetryPolicy
from channels.settings import ChannelSettings
from channels.twilio_http import BaseUrlHttpClient
from channels.twilio_transport import TextMessage, TwilioTransport
from sandbox.providers import StandinHandle

OURS = "+15005550006"


class Sleeps:
    """Records requested delays, really sleeps a capped amount."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        time.sleep(min(seconds, 0.05))


def _transport(provider: StandinHandle, **kwargs: object) -> TwilioTransport:
    return TwilioTransport(
        provider.twilio_account_sid,
        provider.twilio_auth_token,
        api_base=provider.base_url,
        timeout_s=float(kwargs.pop("timeout_s", 5.0)),  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )


def test_sms_is_sent_and_our_id_maps_to_the_sid(provider: StandinHandle) -> None:
    messages = [TextMessage(f"a{i}", f"+52155123400{i:02d}", OURS, f"Hola {i}") for i in range(20)]
    report = _transport(provider).send(messages, concurrency=4)
    assert len(report.accepted) == 20 and not report.failed
    by_sid = {t.sid: t for t in provider.state.sent_texts()}
    for ours, sid in report.accepted.items():
        assert sid.startswith("SM")
        assert by_sid[sid].body == f"Hola {ours[1:]}"
    stored = by_sid[report.accepted["a3"]]
    assert (stored.to, stored.from_, stored.validity_period) == ("+5215512340003", OURS, "900")


def test_validity_period_and_status_callback_are_passed(provider: StandinHandle) -> None:
    m = TextMessage(
        "v", "+5215512345678", OURS, "x", validity_s=120, status_callback="https://cb.example/s"
    )
    sid = _transport(provider).send_one(m)
    stored = provider.state.sent_texts()[0]
    assert stored.sid == sid
    assert (stored.validity_period, stored.status_callback) == ("120", "https://cb.example/s")


def test_validity_out_of_twilio_range_is_refused(provider: StandinHandle) -> None:
    with pytest.raises(ValueError, match="validity_s"):
        _transport(provider).send_one(
            TextMessage("v", "+5215512345678", OURS, "x", validity_s=40_000)
        )


def test_bad_number_is_permanent_21211(provider: StandinHandle) -> None:
    transport = _transport(provider, sleep=Sleeps())
    with pytest.raises(TransportError) as info:
        transport.send_one(TextMessage("bad", "5512", OURS, "x"))
    assert (info.value.permanent, info.value.status, info.value.code) == (True, 400, "21211")
    assert provider.state.counts["twilio.requests"] == 1


def test_number_that_replied_stop_is_permanent_21610(provider: StandinHandle) -> None:
    provider.inbound("+5215599990000", OURS, "STOP")
    report = _transport(provider).send([TextMessage("s", "+5215599990000", OURS, "x")])
    error = report.failed["s"]
    assert (error.permanent, error.code) == (True, "21610")


def test_bad_credentials_are_a_permanent_401(provider: StandinHandle) -> None:
    transport = TwilioTransport(provider.twilio_account_sid, "wrong", api_base=provider.base_url)
    with pytest.raises(TransportError) as info:
        transport.send_one(TextMessage("x", "+5215512345678", OURS, "x"))
    assert (info.value.permanent, info.value.status, info.value.code) == (True, 401, "20003")


def test_429_then_201_is_retried_honouring_retry_after(provider: StandinHandle) -> None:
    provider.state.fail_next("twilio", 1, status=429, retry_after=2)
    sleeps = Sleeps()
    sid = _transport(provider, sleep=sleeps).send_one(TextMessage("r", "+5215512345678", OURS, "x"))
    assert sid.startswith("SM")
    assert sleeps.delays == [2.0]
    assert provider.state.counts["twilio.requests"] == 2


def test_persistent_5xx_is_transient(provider: StandinHandle) -> None:
    provider.state.fail_next("twilio", 3, status=500)
    transport = _transport(provider, sleep=Sleeps(), retry=RetryPolicy(attempts=3))
    with pytest.raises(TransportError) as info:
        transport.send_one(TextMessage("r", "+5215512345678", OURS, "x"))
    assert (info.value.permanent, info.value.status) == (False, 500)
    assert provider.state.counts["twilio.requests"] == 3


def test_timeout_is_transient_and_ambiguous(provider: StandinHandle) -> None:
    provider.state.fail_next("twilio", 1, status=None, delay_s=1.0)
    transport = _transport(provider, timeout_s=0.2, sleep=Sleeps())
    with pytest.raises(TransportError) as info:
        transport.send_one(TextMessage("t", "+5215512345678", OURS, "x"))
    assert (info.value.permanent, info.value.ambiguous) == (False, True)
    assert provider.state.counts["twilio.requests"] == 1  # not blindly re-sent


def test_whatsapp_outside_the_session_uses_the_approved_template(provider: StandinHandle) -> None:
    m = TextMessage(
        "w1", "+5215512345678", OURS, "free text never sent", channel="whatsapp",
        session_open=False, content_sid="HX0123456789abcdef0123456789abcdef",
        content_variables={"1": "Ana", "2": "USD 9,650.50"},
    )  # fmt: skip
    _transport(provider).send_one(m)
    stored = provider.state.sent_texts()[0]
    assert (stored.to, stored.from_) == ("whatsapp:+5215512345678", f"whatsapp:{OURS}")
    assert stored.content_sid == "HX0123456789abcdef0123456789abcdef"
    assert json.loads(stored.content_variables or "") == {"1": "Ana", "2": "USD 9,650.50"}
    assert stored.body is None


def test_whatsapp_inside_the_session_sends_free_text(provider: StandinHandle) -> None:
    m = TextMessage("w2", "+5215512345678", OURS, "Hola Ana", channel="whatsapp", session_open=True)
    _transport(provider).send_one(m)
    stored = provider.state.sent_texts()[0]
    assert (stored.body, stored.content_sid) == ("Hola Ana", None)


def test_whatsapp_outside_the_session_without_template_is_refused_unsent(
    provider: StandinHandle,
) -> None:
    m = TextMessage("w3", "+5215512345678", OURS, "Hola", channel="whatsapp")
    report = _transport(provider).send([m])
    assert report.failed["w3"].permanent and report.failed["w3"].code == "template-required"
    assert "twilio.requests" not in provider.state.counts


def test_rate_limiter_paces_one_sender(provider: StandinHandle) -> None:
    clock = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock[0] += seconds

    limiter = RateLimiter(rate=1.0, burst=2.0)
    transport = _transport(provider, limiter=limiter, sleep=sleep, clock=lambda: clock[0])
    for i in range(3):
        transport.send_one(TextMessage(f"p{i}", "+5215512345678", OURS, "x"))
    assert sleeps == [pytest.approx(1.0)]
    assert provider.state.counts["twilio.accepted"] == 3
    assert limiter.take(RateKey("twilio", provider.twilio_account_sid, "+15550000000"), 0.0) == 0.0


def test_base_url_client_rewrites_only_scheme_and_host() -> None:
    client = BaseUrlHttpClient("http://127.0.0.1:9999/prefix", timeout=1)
    url = client.rewrite("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json?x=1")
    assert url == "http://127.0.0.1:9999/prefix/2010-04-01/Accounts/AC1/Messages.json?x=1"
    with pytest.raises(ValueError, match="base URL"):
        BaseUrlHttpClient("api.twilio.com", timeout=1)


def test_a_bad_message_in_a_batch_stops_it_before_anything_is_sent(provider: StandinHandle) -> None:
    good = TextMessage("g", "+5215512345678", OURS, "x")
    bad = TextMessage("b", "+5215512345679", OURS, "x", validity_s=0)
    with pytest.raises(ValueError, match="message b validity_s"):
        _transport(provider).send([good, bad])
    assert "twilio.requests" not in provider.state.counts


def test_report_counts_http_requests_including_retries(provider: StandinHandle) -> None:
    provider.state.fail_next("twilio", 1, status=429, retry_after=0)
    messages = [TextMessage(f"c{i}", f"+521551234567{i}", OURS, "x") for i in range(3)]
    report = _transport(provider, sleep=Sleeps()).send(messages, concurrency=1)
    assert len(report.accepted) == 3
    assert report.requests == 4 == provider.state.counts["twilio.requests"]


def test_sends_reuse_one_pool_and_a_forked_child_gets_its_own(provider: StandinHandle) -> None:
    """The sending threads outlive one send(); a fork (RQ's default worker) starts fresh ones."""
    transport = _transport(provider)

    def batch(tag: str) -> list[TextMessage]:
        return [TextMessage(f"{tag}{i}", f"+52155123401{i:02d}", OURS, tag) for i in range(6)]

    assert len(transport.send(batch("a"), concurrency=3).accepted) == 6
    pool = transport._executor(3)
    assert len(transport.send(batch("b"), concurrency=3).accepted) == 6
    assert transport._executor(3) is pool
    child = os.fork()
    if child == 0:  # the child inherits the pool object but not its threads
        try:
            ok = len(transport.send(batch("c"), concurrency=3).accepted) == 6
            transport.close()
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert transport._executor(3) is pool  # the parent's pool survives the child
    transport.close()
    assert len(transport.send(batch("d"), concurrency=3).accepted) == 6
    transport.close()
    assert sorted({t.body for t in provider.state.sent_texts()}) == ["a", "b", "c", "d"]


def test_requests_in_flight_follow_the_configured_concurrency(provider: StandinHandle) -> None:
    settings = ChannelSettings.from_mapping({**provider.env(), "TWILIO_CONCURRENCY": "3"})
    # Pools of transports other tests left open are not this one's.
    before = set(threading.enumerate())
    transport = TwilioTransport.from_settings(settings)
    provider.state.fail_next("twilio", 9, status=None, delay_s=0.05)  # slow answers overlap
    report = transport.send(
        [TextMessage(f"k{i}", f"+52155123402{i:02d}", OURS, "x") for i in range(9)]
    )
    assert len(report.accepted) == 9
    # The pool grows to as many threads as requests overlap, up to its limit.
    senders = [t for t in set(threading.enumerate()) - before if t.name.startswith("twilio-send")]
    assert len(senders) == 3
    transport.close()
