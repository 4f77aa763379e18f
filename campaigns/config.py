"""Configuration, loaded once at the entry point and passed down.

Values come from the environment; every secret may instead be read from a
file named by ``<NAME>_FILE`` (Docker/Kubernetes secrets). Nothing here
connects to anything.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATABASE_URL = "sqlite:///cadencia.db"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names it."""


def read_setting(env: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    """``env[name]``, or the contents of the file named by ``env[name + '_FILE']``."""
    file_name = env.get(f"{name}_FILE")
    if file_name:
        path = Path(file_name)
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{name}_FILE={file_name}: cannot read: {exc.strerror}") from exc
    value = env.get(name)
    return value if value not in (None, "") else default


def normalise_database_url(url: str) -> str:
    """Map ``postgres://`` and ``postgresql://`` onto the psycopg 3 driver we ship."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if not (url.startswith("sqlite") or url.startswith("postgresql+")):
        raise ConfigError(
            f"database URL {url!r}: expected sqlite:///FILE or postgresql://USER@HOST/DB"
        )
    return url


@dataclass(frozen=True)
class Settings:
    """Everything Cadencia's entry points need to know about their environment."""

    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str = DEFAULT_REDIS_URL

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, database_url: str | None = None
    ) -> Settings:
        """Build settings from ``env`` (default ``os.environ``); ``database_url`` overrides."""
        env = os.environ if env is None else env
        db = database_url or read_setting(env, "CADENCIA_DATABASE_URL", DEFAULT_DATABASE_URL)
        redis_url = read_setting(env, "CADENCIA_REDIS_URL", DEFAULT_REDIS_URL)
        assert db is not None and redis_url is not None
        return cls(database_url=normalise_database_url(db), redis_url=redis_url)
