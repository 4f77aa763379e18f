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
from babel.messages.pofile import read_po, write_po

from cadencia.console.i18n import DOMAIN, LANGUAGES, catalog_path

PACKAGE = Path(__file__).parent
METHODS = [("templates/**.html", "jinja2.ext:babel_extract"), ("*.py", "python")]
OPTIONS = {
    # As the console's environment: whitespace in {% trans %} blocks is trimmed;
    # a template that does not parse fails extraction instead of being skipped.
    "templates/**.html": {"trimmed": "true", "silent": "false"},
}
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "msg": None}


def extract() -> Catalog:
    """Every text the console marks for translation, with where it is used."""
    catalog = Catalog(domain=DOMAIN, project="Cadencia console")
    for filename, lineno, message, comments, context in extract_from_dir(
        str(PACKAGE), METHODS, OPTIONS, KEYWORDS, strip_comment_tags=True
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def update(template: Catalog | None = None) -> dict[str, int]:
    """Merge the extracted texts into each language's ``.po``; the count of untranslated ones."""
    template = template or extract()
    missing: dict[str, int] = {}
    for language in LANGUAGES:
        path = catalog_path(language)
        if path.exists():
            with path.open("rb") as po:
                catalog = read_po(po, locale=language, domain=DOMAIN)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            catalog = Catalog(locale=language, domain=DOMAIN, project="Cadencia console")
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        with path.open("wb") as po:
            write_po(po, catalog, width=100, omit_header=False, sort_output=True)
        missing[language] = sum(1 for m in catalog if m.id and not m.string)
    return missing


if __name__ == "__main__":
    for language, count in update().items():
        print(f"{language}: {count} texts without a translation")
