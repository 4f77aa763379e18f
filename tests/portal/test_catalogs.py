"""The portal's catalogs hold every text it shows, in Spanish and Portuguese."""

from __future__ import annotations

from babel.messages.pofile import read_po

from cadencia.portal.catalogs import extract
from cadencia.portal.i18n import DOMAIN, LANGUAGES, catalog_path


def test_every_text_is_translated_in_every_language() -> None:
    wanted = {m.id for m in extract() if m.id}
    for language in LANGUAGES:
        with catalog_path(language).open("rb") as po:
            catalog = read_po(po, locale=language, domain=DOMAIN)
        done = {m.id for m in catalog if m.id and m.string}
        assert wanted - done == set(), f"{language} lacks translations"
