"""The portal's languages (es, en, pt): its own gettext catalogs, money and dates by locale.

The catalogs are ``locale/{es,en,pt}/LC_MESSAGES/portal.po``, compiled in
memory when first used (no ``.mo`` to build or go stale). The language is
the one the visitor switched to (a cookie), else the best of the browser's
Accept-Language, else Spanish. Amounts and dates are written as the
language and the customer's country write them (``es`` in Colombia:
``$ 1.500.000,50``).
"""

from __future__ import annotations

import datetime as dt
import gettext
import io
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from campaigns.amounts import locale_of, written_money

LANGUAGES = {"es": "Español", "en": "English", "pt": "Português"}
DEFAULT_LANGUAGE = "es"
DOMAIN = "portal"
LOCALE_DIR = Path(__file__).parent / "locale"


def catalog_path(language: str) -> Path:
    """The ``.po`` file of ``language``."""
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(language: str) -> gettext.NullTranslations:
    """The compiled catalog of ``language`` (English has one too: the names of codes)."""
    path = catalog_path(language)
    if not path.exists():
        return gettext.NullTranslations()
    with path.open("rb") as po:
        catalog = read_po(po, locale=language, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def choose(cookie: str | None, accept_language: str | None) -> str:
    """The visitor's language: their switch, else the browser's best, else Spanish."""
    if cookie in LANGUAGES:
        return str(cookie)
    ranked: list[tuple[float, str]] = []
    for part in (accept_language or "").split(","):
        tag, _, quality = part.strip().partition(";q=")
        try:
            weight = float(quality) if quality else 1.0
        except ValueError:
            continue
        ranked.append((weight, tag.strip().lower()[:2]))
    for _weight, tag in sorted(ranked, key=lambda r: -r[0]):
        if tag in LANGUAGES:
            return tag
    return DEFAULT_LANGUAGE


class Speaker:
    """One language for one request: texts, money and dates."""

    def __init__(self, language: str, country: str | None = None) -> None:
        self.language = language
        self.locale = locale_of(language, country)
        self._t = translations(language)

    def __call__(self, text: str, **fields: Any) -> str:
        """``text`` translated, its ``%(name)s`` fields filled in."""
        translated = self._t.gettext(text)
        return translated % fields if fields else translated

    def money(self, amount: Decimal | str, currency: str) -> str:
        """``amount`` as the locale writes it, with the currency's symbol, cents shown.

        Cents always: CLDR writes pesos without decimals, which would round
        away what the customer really owes (1.500.000,50 is not 1.500.000).
        """
        return written_money(Decimal(amount), currency, self.locale, always_cents=True)

    def date(self, day: dt.date | str) -> str:
        """``day`` in the locale's long form (``24 de noviembre de 2026``)."""
        if isinstance(day, str):
            day = dt.date.fromisoformat(day)
        return format_date(day, format="long", locale=self.locale)
