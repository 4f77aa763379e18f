"""Docker's build context, computed without a Docker engine: ``.dockerignore`` as Docker reads it.

The rules are those of ``github.com/moby/patternmatcher`` (what ``docker build``
and BuildKit use), which differ from ``.gitignore``'s (so ``pathspec``'s
gitignore matching would answer wrongly): a pattern is anchored at the root of
the context (``*.db`` is only the root's; ``**/*.db`` is any depth), ``*`` and
``?`` never cross a ``/``, ``**`` crosses any number of directories, a path is
excluded when the pattern matches it or one of its parent directories, ``!``
re-includes, and the last pattern that matches decides.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_ESCAPED = set(".+()|{}$")


@dataclass(frozen=True)
class Pattern:
    """One ``.dockerignore`` line: its regular expression, and whether it re-includes."""

    text: str
    regex: re.Pattern[str]
    exclusion: bool

    def matches(self, path: str) -> bool:
        """Whether the pattern matches ``path`` itself (slash-separated, relative)."""
        return self.regex.match(path) is not None


def _regex(pattern: str) -> re.Pattern[str]:
    """patternmatcher's ``compile``: the pattern as an anchored regular expression."""
    out, i = "^", 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            if pattern[i + 1 : i + 2] == "*":
                i += 1
                if pattern[i + 1 : i + 2] == "/":
                    i += 1  # "**/" is read as "**"
                out += ".*" if i + 1 >= len(pattern) else "(.*/)?"
            else:
                out += "[^/]*"
        elif ch == "?":
            out += "[^/]"
        elif ch in _ESCAPED:
            out += "\\" + ch
        elif ch == "\\":
            i += 1
            out += re.escape(pattern[i]) if i < len(pattern) else "\\\\"
        else:
            out += ch
        i += 1
    return re.compile(out + "$")


def read_patterns(text: str) -> list[Pattern]:
    """The patterns of a ``.dockerignore`` file (comments and blank lines skipped)."""
    patterns = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exclusion = line.startswith("!")
        line = line[1:].strip() if exclusion else line
        cleaned = posixpath.normpath(line)
        if len(cleaned) > 1 and cleaned.startswith("/"):
            cleaned = cleaned.lstrip("/")
        patterns.append(Pattern(raw, _regex(cleaned), exclusion))
    return patterns


def excluded(patterns: list[Pattern], path: str) -> bool:
    """patternmatcher's ``MatchesOrParentMatches``: whether ``path`` stays out of the context."""
    parents = posixpath.dirname(path).split("/") if "/" in path else []
    matched = False
    for pattern in patterns:
        if pattern.exclusion != matched:
            continue  # only a re-include can change a match, only an exclude a non-match
        hit = pattern.matches(path) or any(
            pattern.matches("/".join(parents[: i + 1])) for i in range(len(parents))
        )
        if hit:
            matched = not pattern.exclusion
    return matched


def build_context(root: Path) -> Iterator[str]:
    """Every file ``docker build`` would send from ``root``, as relative slash paths."""
    patterns = read_patterns((root / ".dockerignore").read_text(encoding="utf-8"))
    for folder, dirs, files in os.walk(root):
        relative = Path(folder).relative_to(root).as_posix()
        prefix = "" if relative == "." else relative + "/"
        for name in files:
            if not excluded(patterns, prefix + name):
                yield prefix + name
        # Docker skips a whole excluded directory unless a "!" pattern may re-include in it.
        if not any(p.exclusion for p in patterns):
            dirs[:] = [d for d in dirs if not excluded(patterns, prefix + d)]
