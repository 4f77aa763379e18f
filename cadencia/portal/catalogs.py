"""Keep the portal's catalogs in step with its texts (a developer's tool).

``python -m cadencia.portal.catalogs`` extracts every text the portal marks
(``_()`` in its templates; the refusals of ``campaigns.portal.actions`` and
``campaigns.portal.pay``, and of the app's payment step; the
names of products and channels in ``NAMES``) with Babel and merges it into
``locale/{es,en,pt}/LC_MESSAGES/portal.po``; new texts arrive untranslated
and ``tests/portal/test_catalogs.py`` fails until Spanish and Portuguese
have them.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir

from cadencia.catalogs import merge_into_catalogs
from cadencia.portal.i18n import DOMAIN, LANGUAGES, catalog_path

PACKAGE = Path(__file__).parent
PROJECT = "Cadencia portal"
CORE = PACKAGE.parents[1] / "campaigns" / "portal"
# Codes shown through _(): the portfolio's products and the channels.
NAMES = ("card", "personal_loan", "auto_loan", "mortgage", "overdraft", "other",
         "voice", "sms", "whatsapp", "email")  # fmt: skip


def extract() -> Catalog:
    """Every text the portal shows, with where it is used."""
    catalog = Catalog(domain=DOMAIN, project=PROJECT)
    sources = (
        (PACKAGE, [("templates/**.html", "jinja2.ext:babel_extract")], {"_": None}),
        (CORE, [("actions.py", "python"), ("pay.py", "python")], {"Problem": (2,)}),
        (PACKAGE, [("app.py", "python")], {"Problem": (2,), "speaker": None}),
    )
    for directory, methods, keywords in sources:
        for filename, lineno, message, _c, context in extract_from_dir(
            str(directory), methods, {"templates/**.html": {"silent": "false"}}, keywords
        ):
            catalog.add(message, None, [(filename, lineno)], context=context)
    for name in NAMES:
        catalog.add(name, None, [("catalogs.py", 0)])
    return catalog


def update() -> dict[str, int]:
    """Merge the texts into each language's ``.po``; how many lack a translation."""
    paths = {language: catalog_path(language) for language in LANGUAGES}
    return merge_into_catalogs(extract(), paths, domain=DOMAIN, project=PROJECT)


if __name__ == "__main__":
    for language, count in update().items():
        print(f"{language}: {count} texts without a translation")
