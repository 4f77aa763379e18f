"""SendGridTransport: the official client over real HTTP against the stand-in."""

from __future__ import annotations

import pytest

from channels.errors import TransportError
from channels.retry import RetryPolicy
from channels.sendgrid_transport import EmailMessage, SendGridTransport
from sandbox.providers import StandinHandle


def _emails(n: int, *, prefix: str = "att", html: bool = True) -> list[EmailMessage]:
    return [
        EmailMessage(
            message_id=f"{prefix}-{i}",
            to_email=f"debtor{i}@example.com",
            to_name=f"Debtor {i}",
            subject=f"Saldo pendiente {i}",
            text=f"Hola {i}, su saldo es MXN {i}.00",
            html=f"<p>Hola {i}</p>" if html else None,
            from_email="cobranza@bank.example",
            from_name="Banco",
            custom_args={"campaign": "spring"},
        )
        for i in range(n)
    ]


class Sleeps:
    """Records requested back-off delays and really sleeps them (capped for speed)."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        import time

        self.delays.append(seconds)
        time.sleep(min(seconds, 0.05))


def _transport(provider: StandinHandle, **kwargs: object) -> SendGridTransport:
    return SendGridTransport(
        provider.sendgrid_api_key,
        host=provider.base_url,
        timeout_s=float(kwargs.pop("timeout_s", 5.0)),  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )


def test_2500_recipients_go_in_three_requests_with_ids_mapped(provider: StandinHandle) -> None:
    report = _transport(provider).send(_emails(2500))
    assert report.requests == 3
    assert provider.state.counts["sendgrid.requests"] == 3
    assert len(report.accepted) == 2500 and not report.failed
    stored = {e.custom_args["attempt_id"]: e for e in provider.state.sent_emails()}
    assert len(stored) == 2500
    assert len(set(report.accepted.values())) == 3
    for attempt_id, x_message_id in report.accepted.items():
        assert stored[attempt_id].x_message_id == x_message_id
    one = stored["att-1234"]
    assert (one.to_email, one.subject) == ("debtor1234@example.com", "Saldo pendiente 1234")
    assert one.text == "Hola 1234, su saldo es MXN 1234.00"
    assert one.html == "<p>Hola 1234</p>"
    assert one.custom_args == {"campaign": "spring", "attempt_id": "att-1234"}


def test_429_then_202_is_retried_honouring_retry_after(provider: StandinHandle) -> None:
    provider.state.fail_next("sendgrid", 2, status=429, retry_after=1.5)
    sleeps = Sleeps()
    report = _transport(provider, sleep=sleeps, retry=RetryPolicy(attempts=3)).send(_emails(10))
    assert len(report.accepted) == 10 and not report.failed
    assert sleeps.delays == [1.5, 1.5]
    assert report.requests == 3
    assert provider.state.counts["sendgrid.injected"] == 2


def test_5xx_that_persists_is_reported_transient(provider: StandinHandle) -> None:
    provider.state.fail_next("sendgrid", 5, status=503)
    report = _transport(provider, sleep=Sleeps(), retry=RetryPolicy(attempts=2)).send(_emails(3))
    assert not report.accepted
    errors = set(map(id, report.failed.values()))
    assert len(errors) == 1
    error = report.failed["att-0"]
    assert (error.permanent, error.status) == (False, 503)


def test_bad_address_is_permanent_and_does_not_sink_the_batch(provider: StandinHandle) -> None:
    messages = _emails(3)
    messages[1] = EmailMessage(
        "bad-1",
        "not-an-address",
        "s",
        "t",
        "cobranza@bank.example",
        html="<p>t</p>",
        from_name="Banco",
    )
    report = _transport(provider, sleep=Sleeps()).send(messages)
    # One 400 naming personalizations.1, then the two good ones again; no retry of the bad one.
    assert provider.state.counts["sendgrid.requests"] == 2
    assert report.requests == 2
    error = report.failed["bad-1"]
    assert error.permanent and error.status == 400
    assert error.fields == ("personalizations.1.to.0.email",)
    assert "Does not contain a valid address" in str(error)
    assert set(report.accepted) == {"att-0", "att-2"}
    assert set(report.failed) == {"bad-1"}


def test_a_400_blaming_the_whole_request_fails_every_message(provider: StandinHandle) -> None:
    messages = [
        EmailMessage(f"m{i}", f"x{i}@example.com", "s", "t", "no-at-sign") for i in range(3)
    ]
    report = _transport(provider, sleep=Sleeps()).send(messages)
    assert provider.state.counts["sendgrid.requests"] == 1
    assert set(report.failed) == {"m0", "m1", "m2"}
    assert report.failed["m0"].fields == ("from.email",)
    assert all(e.permanent for e in report.failed.values())


def test_bad_api_key_is_a_permanent_401(provider: StandinHandle) -> None:
    transport = SendGridTransport("SG.wrong", host=provider.base_url, timeout_s=5, sleep=Sleeps())
    report = transport.send(_emails(1))
    error = report.failed["att-0"]
    assert (error.permanent, error.status) == (True, 401)
    assert "authorization grant is invalid" in str(error)
    assert provider.state.counts["sendgrid.unauthorized"] == 1


def test_timeout_is_transient_and_flagged_ambiguous(provider: StandinHandle) -> None:
    provider.state.fail_next("sendgrid", 1, status=None, delay_s=1.0)
    report = _transport(provider, timeout_s=0.2, sleep=Sleeps()).send(_emails(1))
    error = report.failed["att-0"]
    assert error.permanent is False
    assert error.ambiguous is True
    assert "timed out" in str(error)


def test_unreachable_host_is_transient_and_not_ambiguous() -> None:
    from tests.support.components import free_port

    transport = SendGridTransport(
        "SG.x", host=f"http://127.0.0.1:{free_port()}", timeout_s=1, sleep=Sleeps(),
        retry=RetryPolicy(attempts=2),
    )  # fmt: skip
    error = transport.send(_emails(1)).failed["att-0"]
    assert (error.permanent, error.ambiguous) == (False, False)


def test_message_too_big_for_substitutions_goes_alone(provider: StandinHandle) -> None:
    big = EmailMessage("big", "big@example.com", "s", "x" * 12_000, "cobranza@bank.example")
    report = _transport(provider).send([*_emails(5, html=False), big])
    assert report.requests == 2
    stored = provider.state.sent_emails("big@example.com")
    assert stored[0].text == "x" * 12_000


def test_different_senders_are_separate_requests(provider: StandinHandle) -> None:
    other = EmailMessage("o", "o@example.com", "s", "t", "legal@bank.example")
    report = _transport(provider).send([*_emails(3), other])
    assert report.requests == 2
    assert provider.state.sent_emails("o@example.com")[0].from_email == "legal@bank.example"


def test_duplicate_message_ids_are_refused_before_sending(provider: StandinHandle) -> None:
    with pytest.raises(ValueError, match="att-0"):
        _transport(provider).send(_emails(1) + _emails(1))
    assert "sendgrid.requests" not in provider.state.counts


def test_transport_error_repr_names_the_provider() -> None:
    error = TransportError("x", provider="sendgrid", permanent=True, status=400)
    assert "sendgrid" in repr(error) and "permanent=True" in repr(error)


def test_unsubscribe_url_becomes_one_click_list_unsubscribe_headers(
    provider: StandinHandle,
) -> None:
    m = EmailMessage(
        "u1", "ana@example.com", "s", "t", "c@bank.example",
        unsubscribe_url="https://bank.example/optout/tok",
    )  # fmt: skip
    assert _transport(provider).send([m]).accepted
    stored = provider.state.sent_emails("ana@example.com")[0]
    assert stored.headers == {
        "List-Unsubscribe": "<https://bank.example/optout/tok>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
