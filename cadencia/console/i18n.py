"""The console's languages (Spanish, English, Portuguese), money and times as its users write them.

Texts are gettext messages: templates mark them with ``_()`` and
``{% trans %}`` (``jinja2.ext.i18n``), Python with ``msg()``. The catalogs are
the ``.po`` files under ``locale/{es,en,pt}/LC_MESSAGES/``, compiled in
memory when first used (Babel's ``read_po`` then ``write_mo``): a fresh clone
or an installed wheel needs no build step, and no ``.mo`` can go stale
beside its ``.po``. ``docs/i18n.md`` says how to add or change a text.

A user's language is the one they chose (at login or on the profile page,
stored on their account), else the browser's Accept-Language, else English.
Money goes through ``money`` (Babel's ``format_currency``: separators, the
currency's symbol and decimals, as the viewer's locale writes them) and
times through ``when`` (in a named zone, the zone shown).
"""

from __future__ import annotations

import datetime as dt
import gettext
import io
import logging
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_date, format_datetime, get_timezone_name
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from campaigns.amounts import written, written_money
from campaigns.texts import Msg as Msg  # the console's texts are the core's kind
from campaigns.texts import msg as msg

log = logging.getLogger(__name__)
LANGUAGES = {"es": "Español", "en": "English", "pt": "Português"}
DEFAULT_LANGUAGE = "en"
# How numbers and dates are written for each language: the console's users
# are mostly in Colombia and Brazil.
LOCALES = {"es": "es_CO", "en": "en_US", "pt": "pt_BR"}
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
DEFAULT_ZONE = "UTC"
# What each language's catalog was asked for and lacked (tests read it;
# English is the source language, so nothing is missing from it).
UNTRANSLATED: dict[str, set[str]] = {}


class _Untranslated(gettext.NullTranslations):
    """The last fallback of a catalog: records what it lacked and answers the English text."""

    def __init__(self, language: str) -> None:
        super().__init__()
        self.language = language

    def gettext(self, message: str) -> str:
        UNTRANSLATED.setdefault(self.language, set()).add(message)
        log.debug("no %s translation for %r", self.language, message)
        return message

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        UNTRANSLATED.setdefault(self.language, set()).add(msgid1)
        return msgid1 if n == 1 else msgid2


def catalog_path(language: str) -> Path:
    """The ``.po`` file of ``language``."""
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(language: str) -> gettext.NullTranslations:
    """The compiled catalog of ``language`` (English: the texts as written)."""
    path = catalog_path(language)
    if language == DEFAULT_LANGUAGE or not path.exists():
        return gettext.NullTranslations()
    with path.open("rb") as po:
        catalog = read_po(po, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)  # fuzzy entries are left out, as msgfmt does
    compiled.seek(0)
    found = Translations(compiled, domain=DOMAIN)
    found.add_fallback(_Untranslated(language))
    return found


def accepted_language(header: str | None) -> str | None:
    """The first of our languages the browser's Accept-Language asks for, by its q-values."""
    wanted: list[tuple[float, int, str]] = []
    for position, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        primary = tag.strip().split("-")[0].lower()
        if primary in LANGUAGES and quality > 0:
            wanted.append((-quality, position, primary))
    return min(wanted)[2] if wanted else None


def choose_language(*candidates: str | None) -> str:
    """The first candidate that is one of our languages, else English."""
    for candidate in candidates:
        if candidate in LANGUAGES:
            return str(candidate)
    return DEFAULT_LANGUAGE


def zone_or_default(name: str | None) -> ZoneInfo:
    """The IANA zone ``name``, or UTC when it is empty or unknown."""
    try:
        return ZoneInfo(name or DEFAULT_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_ZONE)


def money(amount: Any, currency: str | None, language: str) -> str:
    """``amount`` in ``currency`` as the viewer's locale writes it: ``$ 1.500.000,50``.

    The currency's own decimals (none for a peso in CLDR), unless the amount
    has cents: an agent must see the 50 centavos a balance really has.
    """
    if amount is None or amount == "":
        return "–"
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        return str(amount)
    locale = LOCALES.get(language, LOCALES[DEFAULT_LANGUAGE])
    if not currency:
        return written(value, locale)  # no currency known: the number alone
    return written_money(value, currency, locale, always_cents=False)


def when(value: Any, zone: str | None, language: str, *, seconds: bool = False) -> str:
    """A moment in ``zone``, as the viewer's locale writes it, with the zone named.

    ``value``: an aware datetime or its ISO text (naive means UTC).
    """
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(value, dt.datetime):
        return str(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    tz = zone_or_default(zone)
    locale = LOCALES.get(language, LOCALES[DEFAULT_LANGUAGE])
    shown = format_datetime(
        value.astimezone(tz),
        "yyyy-MM-dd HH:mm:ss" if seconds else "yyyy-MM-dd HH:mm",
        locale=locale,
    )
    return f"{shown} {zone_label(tz.key)}"


def zone_label(zone: str) -> str:
    """A zone as people read it on a page: ``UTC`` or ``America/Bogota``."""
    return "UTC" if zone in ("UTC", "Etc/UTC") else zone


def day(value: dt.date | str, language: str) -> str:
    """A date with its weekday, as the viewer's locale writes it (``mar., 24 nov. 2026``)."""
    if isinstance(value, str):
        value = dt.date.fromisoformat(value)
    locale = LOCALES.get(language, LOCALES[DEFAULT_LANGUAGE])
    return format_date(value, "EEE d MMM y", locale=locale)


def zone_names(language: str, zones: Iterable[str]) -> list[tuple[str, str]]:
    """(IANA name, its name in ``language``) for a zone picker."""
    locale = LOCALES.get(language, LOCALES[DEFAULT_LANGUAGE])
    return [(z, f"{z} ({get_timezone_name(ZoneInfo(z), locale=locale)})") for z in zones]
