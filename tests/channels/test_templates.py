"""Rendering per campaign and language, the Regulation F notice, clear errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from channels.context import AccountView, CustomerView
from channels.errors import LinkTokenError, TemplateError
from channels.links import payment_link, verify_payment_token
from channels.optout import email_notice, text_notice
from channels.settings import PaymentLinkSettings
from channels.templates import RenderRequest, TemplateCatalog

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
LINKS = PaymentLinkSettings(
    url_pattern="https://pay.example/p/{token}", secret="s3cret", ttl_hours=48
)
OPT_OUT_URL = "https://bank.example/optout/abc"


@pytest.fixture()
def customer() -> CustomerView:
    return CustomerView(
        customer_id="C-17",
        first_name="Ana",
        last_name="Souza",
        accounts=(
            AccountView("****1234", "Card", Decimal("1250.5"), "USD", Decimal("75"), 62),
            AccountView("****9876", "Auto loan", Decimal("8400"), "USD", Decimal("410.25"), 31),
        ),
    )


@pytest.fixture(scope="module")
def catalog() -> TemplateCatalog:
    return TemplateCatalog.builtin()


@pytest.mark.parametrize(
    ("language", "total", "greeting"),
    [
        ("es", "USD 9,650.50", "Hola Ana"),
        ("en", "USD 9,650.50", "Hi Ana"),
        ("pt", "USD 9.650,50", "Ola Ana"),
    ],
)
def test_sms_in_each_language_carries_all_debts_link_and_us_notice(
    catalog: TemplateCatalog, customer: CustomerView, language: str, total: str, greeting: str
) -> None:
    link = payment_link(LINKS, customer_id=customer.customer_id, campaign="spring", now=NOW)
    msg = catalog.render(
        RenderRequest("spring", language, "sms", customer, us_opt_out=True, payment_link=link)
    )
    assert msg.body.startswith(greeting)
    assert total in msg.body
    assert link in msg.body
    assert msg.body.endswith(text_notice(language))
    assert msg.sms is not None and msg.sms.encoding == "GSM-7"
    assert msg.sms.segments == 2
    assert msg.templates == (f"default/{language}/sms.txt.j2",)


@pytest.mark.parametrize("language", ["es", "en", "pt"])
def test_email_in_each_language_carries_the_notice_in_text_and_html(
    catalog: TemplateCatalog, customer: CustomerView, language: str
) -> None:
    msg = catalog.render(
        RenderRequest(
            "spring", language, "email", customer, us_opt_out=True, opt_out_url=OPT_OUT_URL
        )
    )
    notice = email_notice(language, OPT_OUT_URL)
    assert msg.subject is not None and "Ana" in msg.subject
    assert "****1234" in msg.body and "****9876" in msg.body
    assert msg.body.endswith(notice)
    assert msg.html is not None
    assert f'<a href="{OPT_OUT_URL}">' in msg.html
    assert msg.html.index('<a href="' + OPT_OUT_URL) < msg.html.index("</body>")


def test_without_the_us_pack_there_is_no_notice(
    catalog: TemplateCatalog, customer: CustomerView
) -> None:
    sms = catalog.render(RenderRequest("spring", "en", "sms", customer))
    email = catalog.render(RenderRequest("spring", "en", "email", customer))
    assert "STOP" not in sms.body
    assert "stop receiving" not in email.body


def test_us_email_without_an_opt_out_url_is_refused(
    catalog: TemplateCatalog, customer: CustomerView
) -> None:
    with pytest.raises(TemplateError, match=r"1006\.6\(e\)") as info:
        catalog.render(RenderRequest("spring", "en", "email", customer, us_opt_out=True))
    assert info.value.variable == "opt_out_url"


def test_notice_placed_by_the_template_is_not_repeated(customer: CustomerView) -> None:
    catalog = TemplateCatalog.from_mapping(
        {"promo/en/sms.txt.j2": "{{ opt_out_notice }} Hi {{ customer.first_name }}"}
    )
    msg = catalog.render(RenderRequest("promo", "en", "sms", customer, us_opt_out=True))
    assert msg.body == f"{text_notice('en')} Hi Ana"


def test_campaign_template_overrides_default_and_falls_back(customer: CustomerView) -> None:
    catalog = TemplateCatalog.from_mapping(
        {
            "default/es/sms.txt.j2": "default {{ customer.first_name }}",
            "promo/es/sms.txt.j2": "promo {{ total_due }}",
        }
    )
    assert (
        catalog.render(RenderRequest("promo", "es", "sms", customer)).body == "promo USD 9,650.50"
    )
    assert catalog.render(RenderRequest("other", "es", "sms", customer)).body == "default Ana"


def test_undefined_variable_names_template_and_variable(customer: CustomerView) -> None:
    catalog = TemplateCatalog.from_mapping({"promo/en/sms.txt.j2": "Hi {{ customer.nickname }}"})
    with pytest.raises(TemplateError, match=r"promo/en/sms\.txt\.j2") as info:
        catalog.render(RenderRequest("promo", "en", "sms", customer))
    assert info.value.template == "promo/en/sms.txt.j2"
    assert info.value.variable == "nickname"


def test_payment_link_used_but_not_given_is_an_error(customer: CustomerView) -> None:
    catalog = TemplateCatalog.from_mapping({"promo/en/sms.txt.j2": "Pay {{ payment_link }}"})
    with pytest.raises(TemplateError) as info:
        catalog.render(RenderRequest("promo", "en", "sms", customer))
    assert info.value.variable == "payment_link"


def test_missing_template_names_what_was_tried(customer: CustomerView) -> None:
    catalog = TemplateCatalog.from_mapping({})
    with pytest.raises(
        TemplateError, match=r"promo/pt/whatsapp\.txt\.j2.*default/pt/whatsapp\.txt\.j2"
    ):
        catalog.render(RenderRequest("promo", "pt", "whatsapp", customer))


def test_sandbox_blocks_python_internals(customer: CustomerView) -> None:
    catalog = TemplateCatalog.from_mapping(
        {"evil/en/sms.txt.j2": "{{ customer.__class__.__mro__[1].__subclasses__() }}"}
    )
    with pytest.raises(TemplateError, match=r"evil/en/sms\.txt\.j2"):
        catalog.render(RenderRequest("evil", "en", "sms", customer))


def test_html_is_autoescaped_text_is_not() -> None:
    customer = CustomerView("C1", "<b>Bo</b>", "& Co", ())
    catalog = TemplateCatalog.from_mapping(
        {
            "x/en/email_subject.txt.j2": "Hi {{ customer.first_name }}",
            "x/en/email_body.txt.j2": "Hi {{ customer.name }}",
            "x/en/email_body.html.j2": "<p>{{ customer.name }}</p>",
        }
    )
    msg = catalog.render(RenderRequest("x", "en", "email", customer))
    assert msg.body == "Hi <b>Bo</b> & Co"
    assert msg.html == "<p>&lt;b&gt;Bo&lt;/b&gt; &amp; Co</p>"


def test_mixed_currencies_are_totalled_separately() -> None:
    customer = CustomerView(
        "C2", "Rui", "Lima",
        (AccountView("*1", "Card", Decimal("10"), "BRL", Decimal("1"), 5),
         AccountView("*2", "Loan", Decimal("20"), "USD", Decimal("2"), 9)),
    )  # fmt: skip
    catalog = TemplateCatalog.from_mapping(
        {"x/pt/sms.txt.j2": "{{ total_due }} / {{ minimum_due }}"}
    )
    body = catalog.render(RenderRequest("x", "pt", "sms", customer)).body
    assert body == "BRL 10,00 + USD 20,00 / BRL 1,00 + USD 2,00"


def test_payment_token_verifies_and_expires() -> None:
    link = payment_link(LINKS, customer_id="C-17", campaign="spring", now=NOW)
    token = link.rsplit("/", 1)[1]
    claims = verify_payment_token(LINKS, token, now=NOW + timedelta(hours=47))
    assert (claims.subject, claims.campaign, claims.purpose) == ("C-17", "spring", "pay")
    with pytest.raises(LinkTokenError, match="expired"):
        verify_payment_token(LINKS, token, now=NOW + timedelta(hours=48))
    payload, signature = token.split(".")
    forged = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + signature
    with pytest.raises(LinkTokenError, match="signature"):
        verify_payment_token(LINKS, forged, now=NOW)
    other = PaymentLinkSettings(url_pattern=LINKS.url_pattern, secret="other")
    with pytest.raises(LinkTokenError, match="signature"):
        verify_payment_token(other, token, now=NOW)
    with pytest.raises(LinkTokenError, match="malformed"):
        verify_payment_token(LINKS, "nodot", now=NOW)


def test_unknown_language_is_refused(catalog: TemplateCatalog, customer: CustomerView) -> None:
    with pytest.raises(ValueError, match="'fr'"):
        catalog.render(RenderRequest("spring", "fr", "sms", customer))
