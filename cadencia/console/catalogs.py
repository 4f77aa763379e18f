"""Keep the console's message catalogs in step with its texts (a developer's tool).

``python -m cadencia.console.catalogs`` extracts every text the console
marks (``_()`` and ``{% trans %}`` in templates, ``msg()`` in Python) with
Babel and merges it into ``locale/{es,en,pt}/LC_MESSAGES/messages.po``: new
texts arrive with an empty translation, texts no longer used are dropped.
Then translate the empty entries; ``tests/web/test_i18n.py`` fails while
Spanish or Portuguese lacks one. The server reads the ``.po`` files as they
are (``cadencia.console.i18n``): there is nothing to compile.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir

from cadencia.catalogs import merge_into_catalogs
from cadencia.console.i18n import DOMAIN, LANGUAGES, catalog_path

PACKAGE = Path(__file__).parent
PROJECT = "Cadencia console"
METHODS = [("templates/**.html", "jinja2.ext:babel_extract"), ("*.py", "python")]
OPTIONS = {
    # As the console's environment: whitespace in {% trans %} blocks is trimmed;
    # a template that does not parse fails extraction instead of being skipped.
    "templates/**.html": {"trimmed": "true", "silent": "false"},
}
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "msg": None}
# The core's texts the console shows (an importer's or a form's errors): ``msg`` calls only.
CORE = PACKAGE.parents[1] / "campaigns"


def extract() -> Catalog:
    """Every text the console marks for translation, with where it is used."""
    catalog = Catalog(domain=DOMAIN, project=PROJECT)
    for filename, lineno, message, comments, context in extract_from_dir(
        str(PACKAGE), METHODS, OPTIONS, KEYWORDS, strip_comment_tags=True
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    for filename, lineno, message, comments, context in extract_from_dir(
        str(CORE), [("**.py", "python")], {}, {"msg": None}, strip_comment_tags=True
    ):
        where = f"campaigns/{filename}"
        catalog.add(message, None, [(where, lineno)], auto_comments=comments, context=context)
    return catalog


def update(template: Catalog | None = None) -> dict[str, int]:
    """Merge the extracted texts into each language's ``.po``; the count of untranslated ones."""
    paths = {language: catalog_path(language) for language in LANGUAGES}
    return merge_into_catalogs(template or extract(), paths, domain=DOMAIN, project=PROJECT)


if __name__ == "__main__":
    for language, count in update().items():
        print(f"{language}: {count} texts without a translation")
