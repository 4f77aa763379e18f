"""A text for a person, in English here and in their language where it is shown.

The core names what is wrong in English (the CLI, the logs, the JSON APIs
read ``str()`` of it); the console shows the same text in the viewer's
language. ``msg("amount: %(problem)s", problem=...)`` marks a text for
translation (``python -m cadencia.console.catalogs`` extracts ``msg`` calls
from the core too); its fields are filled in after translation, and a field
that is itself a ``Msg`` is translated as well.
"""

from __future__ import annotations

import gettext
from typing import Any


class Msg:
    """A msgid with ``%(name)s`` fields: ``str()`` is English, ``translate`` any language."""

    def __init__(self, text: str, /, **fields: Any) -> None:
        self.text = text
        self.fields = fields

    def translate(self, translations: gettext.NullTranslations) -> str:
        """The text in the language of ``translations``, its fields filled in (and translated)."""
        text = translations.gettext(self.text)
        if not self.fields:
            return text
        shown = {
            k: v.translate(translations) if isinstance(v, Msg) else v
            for k, v in self.fields.items()
        }
        return text % shown

    def __str__(self) -> str:
        return self.text % {k: str(v) for k, v in self.fields.items()} if self.fields else self.text

    def __repr__(self) -> str:
        return f"Msg({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Msg) and (self.text, self.fields) == (other.text, other.fields)

    def __hash__(self) -> int:
        return hash(self.text)


def msg(text: str, /, **fields: Any) -> Msg:
    """Mark ``text`` for translation (Babel extracts ``msg`` calls); fields are %-named."""
    return Msg(text, **fields)
