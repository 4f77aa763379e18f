"""The one shape of a rejected input: every problem named, nothing changed."""

from __future__ import annotations

from collections.abc import Sequence

from campaigns.texts import Msg


class InputRejected(ValueError):
    """Input that cannot be used; ``errors`` name each problem (``where: field: message``).

    A problem may be a ``Msg``: English in ``str()``, translated where a
    person reads it (the console).
    """

    def __init__(self, errors: Sequence[str | Msg], separator: str = "; ") -> None:
        super().__init__(separator.join(str(e) for e in errors))
        self.errors = list(errors)
