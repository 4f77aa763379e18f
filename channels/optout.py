"""Opt-out: the notice we must print, and recognising a reply that opts out.

12 CFR 1006.6(e) (Regulation F): a debt collector's email or text message
must include "a clear and conspicuous statement describing a reasonable and
simple method" to opt out of further electronic messages to that address or
number. The SMS wording avoids accented letters on purpose: one "á" would
switch the whole message to UCS-2 and can double its cost (see channels.sms).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Literal

_TEXT_NOTICE = {
    "en": "Reply STOP to stop receiving texts at this number.",
    "es": "Responda BAJA y dejaremos de enviarle mensajes a este celular.",
    "pt": "Responda PARAR para deixar de receber estas mensagens.",
}
_EMAIL_NOTICE = {
    "en": "To stop receiving emails from us at this address, use this link: {url}",
    "es": "Para dejar de recibir nuestros correos en esta dirección, use este enlace: {url}",
    "pt": "Para deixar de receber nossos e-mails neste endereço, use este link: {url}",
}

# Our own words in the three languages, plus Twilio's default opt-out set
# (STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, and the newer OPTOUT,
# REVOKE, STOP ALL) so a reply Twilio already blocked is also recorded here.
OPT_OUT_KEYWORDS = frozenset(
    {
        "STOP", "STOPALL", "STOP ALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT",
        "OPTOUT", "OPT OUT", "REVOKE", "ARRET",
        "BAJA", "DAR DE BAJA", "ALTO", "CANCELAR", "PARAR", "SAIR", "DESCADASTRAR",
    }
)  # fmt: skip
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP", "YES", "ALTA", "INICIAR", "VOLTAR"})
HELP_KEYWORDS = frozenset({"HELP", "INFO", "AYUDA", "AJUDA"})

Intent = Literal["opt_out", "opt_in", "help", "other"]


def text_notice(language: str) -> str:
    """The SMS/WhatsApp opt-out instruction in ``language``."""
    try:
        return _TEXT_NOTICE[language]
    except KeyError:
        raise ValueError(f"no opt-out notice for language {language!r}") from None


def email_notice(language: str, url: str) -> str:
    """The email opt-out instruction in ``language`` pointing at ``url``."""
    try:
        return _EMAIL_NOTICE[language].format(url=url)
    except KeyError:
        raise ValueError(f"no opt-out notice for language {language!r}") from None


def normalise_reply(text: str) -> str:
    """Upper-case, accents stripped, punctuation dropped, whitespace collapsed."""
    decomposed = unicodedata.normalize("NFKD", text)
    letters = "".join(
        ch if ch.isalnum() else " " for ch in decomposed if not unicodedata.combining(ch)
    )
    return " ".join(letters.upper().split())


def reply_intent(text: str) -> Intent:
    """What an inbound reply asks for.

    Like carriers and Twilio, only a reply that IS the keyword counts
    ("Baja.", " alto ", "Cancelár" do; "no me den de baja" does not): a
    sentence that merely contains the word is left for a human to read.
    """
    word = normalise_reply(text)
    if word in OPT_OUT_KEYWORDS:
        return "opt_out"
    if word in OPT_IN_KEYWORDS:
        return "opt_in"
    if word in HELP_KEYWORDS:
        return "help"
    return "other"


def is_opt_out(text: str) -> bool:
    """True when ``text`` is an opt-out keyword (STOP, BAJA, ALTO, CANCELAR, …)."""
    return reply_intent(text) == "opt_out"


@dataclass(frozen=True)
class OptOutEvent:
    """A contact point asked us to stop using it on one channel.

    ``contact`` is the E.164 number (no ``whatsapp:`` prefix) or the email
    address; ``source_event_id`` identifies the provider event it came from so
    recording it twice can be detected.
    """

    channel: Literal["sms", "whatsapp", "email"]
    contact: str
    reason: str
    provider: str
    source_event_id: str
    text: str | None = None


@dataclass(frozen=True)
class OptInEvent:
    """A number asked to receive texts again (START, ALTA, ...) on one text channel.

    Carriers and Twilio's Advanced Opt-Out re-subscribe a number that replies
    START after a STOP; it lifts the keyword opt-out of that number only.
    """

    channel: Literal["sms", "whatsapp"]
    contact: str
    provider: str
    source_event_id: str
    text: str | None = None
