"""The one shape of a rejected input: every problem named, nothing changed."""

from __future__ import annotations


class InputRejected(ValueError):
    """Input that cannot be used; ``errors`` name each problem (``where: field: message``)."""

    def __init__(self, errors: list[str], separator: str = "; ") -> None:
        super().__init__(separator.join(errors))
        self.errors = errors
