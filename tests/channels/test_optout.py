"""Recognising opt-out replies in any case, accent or spacing."""

from __future__ import annotations

import pytest

from channels.optout import email_notice, is_opt_out, reply_intent, text_notice
from channels.sms import sms_info


@pytest.mark.parametrize(
    "text",
    ["STOP", "stop", " Stop\n", "BAJA", "baja.", "Baja!", "ALTO", "alto", "CANCELAR", "Cancelár",
     "cancelar ", "UNSUBSCRIBE", "unsubscribe", "STOPALL", "stop all", "QUIT", "end", "CANCEL",
     "dar de baja", "PARAR", "Sair"],
)  # fmt: skip
def test_opt_out_keywords(text: str) -> None:
    assert is_opt_out(text)
    assert reply_intent(text) == "opt_out"


@pytest.mark.parametrize(
    "text", ["no me den de baja", "PAGAR", "stop calling me at work please", "", "ok", "alto ahi 2"]
)
def test_sentences_and_other_words_are_not_opt_outs(text: str) -> None:
    assert not is_opt_out(text)


def test_opt_in_and_help_are_told_apart() -> None:
    assert reply_intent("START") == "opt_in"
    assert reply_intent("unstop") == "opt_in"
    assert reply_intent("Ayuda") == "help"
    assert reply_intent("HELP") == "help"


@pytest.mark.parametrize("language", ["es", "en", "pt"])
def test_sms_notice_is_gsm7_so_it_does_not_double_the_cost(language: str) -> None:
    assert sms_info(text_notice(language)).encoding == "GSM-7"


def test_notices_name_the_keyword_and_the_link() -> None:
    assert "STOP" in text_notice("en")
    assert "BAJA" in text_notice("es")
    assert "PARAR" in text_notice("pt") and is_opt_out("PARAR")
    assert "https://o.example/x" in email_notice("es", "https://o.example/x")
    with pytest.raises(ValueError, match="fr"):
        text_notice("fr")
