"""The portal over HTTP: the one bad-link page, the lockout, and each action's records."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from campaigns.ledger.chain import EVENTS, verify
from campaigns.ledger.guard import LOOKBACK
from campaigns.ledger.history import customer_histories
from campaigns.portal.links import USES, revoke
from campaigns.storage.accounts import Callback
from campaigns.storage.models import Promise
from campaigns.storage.portal import ContactPreference
from compliance import Proposal, evaluate, load_packs
from tests.portal.conftest import NOW, RIGHT_ANSWER, Bed, link_for

VOLATILE = {"date", "content-length"}


def snapshot(client: TestClient, reference: str) -> tuple[int, dict[str, str], str]:
    response = client.get(f"/p/{reference}", headers={"accept-language": "es-CO"})
    headers = {k: v for k, v in response.headers.items() if k not in VOLATILE}
    return response.status_code, headers, response.text


def test_unknown_expired_revoked_and_tampered_links_get_the_same_plain_page(bed: Bed) -> None:
    expired = link_for(bed.engine, "C2", NOW - dt.timedelta(hours=100))
    revoked = link_for(bed.engine, "C2", NOW)
    revoke(bed.engine, revoked, now=NOW, reason="test")
    with TestClient(bed.app) as client:
        pages = {
            "unknown": snapshot(client, "x" * 43),
            "expired": snapshot(client, expired),
            "revoked": snapshot(client, revoked),
            "tampered": snapshot(
                client, bed.reference[:-1] + ("A" if bed.reference[-1] != "A" else "B")
            ),
        }
    first = pages["unknown"]
    assert first[0] == 404
    assert all(page == first for page in pages.values()), "the causes must look alike"
    body = first[2]
    for secret in ("María", "Núñez", "1.500.000", "co-tarjetas", "A1", "C1", "C2", "Jorge"):
        assert secret not in body
    assert "Este enlace no se puede usar" in body
    assert "<script" not in body and first[1]["content-security-policy"].startswith(
        "default-src 'none'"
    )
    with bed.engine.connect() as conn:
        logged = conn.execute(sa.select(USES.c.result).where(USES.c.action == "open")).scalars()
        assert list(logged) == ["bad_link"] * 4


def answer(client: TestClient, reference: str, text: str) -> int:
    return client.post(
        f"/p/{reference}/check", data={"answer": text}, follow_redirects=False
    ).status_code


def test_five_wrong_answers_lock_the_link_for_a_while(bed: Bed) -> None:
    with TestClient(bed.app) as client:
        assert [answer(client, bed.reference, "0000") for _ in range(4)] == [400] * 4
        assert answer(client, bed.reference, "0000") == 429  # the fifth locks
        assert answer(client, bed.reference, RIGHT_ANSWER) == 429  # even the right one, now
        page = client.get(f"/p/{bed.reference}")
        assert page.status_code == 429 and "María" not in page.text
        bed.clock.now = NOW + dt.timedelta(minutes=31)  # [portal] lock_minutes = 30
        assert answer(client, bed.reference, RIGHT_ANSWER) == 303
        assert "María" in client.get(f"/p/{bed.reference}").text
    with bed.engine.connect() as conn:
        results = list(
            conn.execute(sa.select(USES.c.result).where(USES.c.action == "check")).scalars()
        )
    assert results == ["wrong"] * 4 + ["locked", "locked", "ok"]


def verified(client: TestClient, reference: str) -> str:
    """Pass the identity check; the page's CSRF token."""
    assert answer(client, reference, RIGHT_ANSWER) == 303
    page = client.get(f"/p/{reference}")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    return token.group(1)


def post(client: TestClient, reference: str, action: str, csrf: str, **form: str) -> int:
    return client.post(
        f"/p/{reference}/{action}",
        data={"csrf": csrf, "nonce": "n" * 20 + action, **form},
        follow_redirects=False,
    ).status_code


def portal_events(bed: Bed) -> list[tuple[str, str, str]]:
    with bed.engine.connect() as conn:
        rows = conn.execute(
            sa.select(EVENTS).where(EVENTS.c.customer_id == "C1").order_by(EVENTS.c.id)
        )
        return [(r.kind, r.channel, r.direction) for r in rows]


def test_a_promise_amount_is_read_as_colombia_writes_it_and_tracked(bed: Bed) -> None:
    with TestClient(bed.app) as client:
        csrf = verified(client, bed.reference)
        bad = post(client, bed.reference, "promise", csrf, amount="abc", due_on="2026-11-30")
        assert bad == 400
        assert (
            post(client, bed.reference, "promise", csrf, amount="150.000,50", due_on="2026-11-30")
            == 303
        )
        # The same form again (a double submit) changes nothing.
        assert (
            post(client, bed.reference, "promise", csrf, amount="150.000,50", due_on="2026-11-30")
            == 303
        )
        assert (
            post(client, bed.reference, "promise", "forged", amount="1", due_on="2026-11-30") == 303
        )
    with bed.engine.connect() as conn:
        promises = conn.execute(sa.select(Promise)).all()
    assert len(promises) == 1
    assert promises[0].amount == pytest.approx(150000.50) and promises[0].source == "self_service"
    assert promises[0].status == "pending" and promises[0].campaign == "co-tarjetas"
    assert portal_events(bed) == [("promise", "self_service", "inbound")]
    assert verify(bed.engine).ok


def test_preference_callback_and_opt_out_are_recorded_and_the_opt_out_binds_the_guard(
    bed: Bed,
) -> None:
    with TestClient(bed.app) as client:
        csrf = verified(client, bed.reference)
        assert (
            post(
                client,
                bed.reference,
                "preference",
                csrf,
                channel="whatsapp",
                hour_from="18",
                hour_to="21",
            )
            == 303
        )
        assert post(client, bed.reference, "callback", csrf, day="2026-11-25", hour="10") == 303
        assert (
            post(client, bed.reference, "callback", csrf + "x", day="2026-11-25", hour="3") == 303
        )
        assert post(client, bed.reference, "opt-out", csrf, channel="sms") == 303
    with bed.engine.connect() as conn:
        preference = conn.execute(sa.select(ContactPreference)).one()
        callback = conn.execute(sa.select(Callback)).one()
        history = customer_histories(conn, ["C1"], NOW - LOOKBACK)["C1"]
    assert (preference.channel, preference.hour_from, preference.hour_to) == ("whatsapp", 18, 21)
    assert callback.status == "scheduled" and callback.campaign == "co-tarjetas"
    assert callback.at == dt.datetime(2026, 11, 25, 15, 0, tzinfo=dt.UTC)  # 10:00 in Bogotá
    assert portal_events(bed) == [
        ("preference", "self_service", "inbound"),
        ("callback", "self_service", "inbound"),
        ("opt_out", "sms", "inbound"),  # on the channel it concerns: what the guard reads
    ]
    # The guard at once: an SMS to C1 an hour later is refused for the opt-out.
    proposal = Proposal(
        at=NOW + dt.timedelta(hours=1),
        customer_id="C1",
        debt_ids=("A1", "A2"),
        channel="sms",
        timezones=("America/Bogota",),
        contact_point="+573001234567",
        line_type="mobile",
        campaign="co-tarjetas",
    )
    decision = evaluate(load_packs(("co-ley2300", "house")), history.events, proposal)
    assert not decision.allowed
    assert any("opted out" in r.detail for r in decision.results if not r.ok)
    with bed.engine.connect() as conn:
        opt_out = conn.execute(
            sa.select(EVENTS.c.extra).where(EVENTS.c.kind == "opt_out")
        ).scalar_one()
    assert json.loads(opt_out)["provider"] == "portal"


def test_a_refused_form_says_what_is_wrong_in_the_visitors_language(bed: Bed) -> None:
    with TestClient(bed.app) as client:
        csrf = verified(client, bed.reference)
        response = client.post(
            f"/p/{bed.reference}/promise",
            data={"csrf": csrf, "amount": "99.999.999", "due_on": "2027-06-01"},
            headers={"accept-language": "pt-BR"},
        )
    assert response.status_code == 400
    assert "O valor deve ser maior que zero" in response.text
    assert "Escolha uma data entre" in response.text
