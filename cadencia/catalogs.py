"""Merging extracted texts into each language's gettext catalog (the console's and the portal's).

New texts arrive with an empty translation, texts no longer used are
dropped; the ``.po`` files are written sorted, so a change reads as a diff.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po


def merge_into_catalogs(
    template: Catalog, paths: Mapping[str, Path], *, domain: str, project: str
) -> dict[str, int]:
    """Merge ``template`` into each language's ``.po`` at ``paths``; the untranslated counts."""
    missing: dict[str, int] = {}
    for language, path in paths.items():
        if path.exists():
            with path.open("rb") as po:
                catalog = read_po(po, locale=language, domain=domain)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            catalog = Catalog(locale=language, domain=domain, project=project)
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        with path.open("wb") as po:
            write_po(po, catalog, width=100, sort_output=True)
        missing[language] = sum(1 for m in catalog if m.id and not m.string)
    return missing
