"""A throwaway PostgreSQL database for one bench run, created and dropped."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import sqlalchemy as sa

POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@contextlib.contextmanager
def throwaway_database(admin_url: str = POSTGRES_ADMIN_URL, prefix: str = "bench") -> Iterator[str]:
    """Create an empty database next to ``admin_url``'s, yield its URL, drop it (even on error)."""
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"cadencia_{prefix}_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
