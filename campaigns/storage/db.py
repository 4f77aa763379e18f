"""Database engines and migrations (SQLite embedded by default, PostgreSQL in production)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def is_sqlite(engine: Engine) -> bool:
    """True when ``engine`` talks to SQLite."""
    return engine.dialect.name == "sqlite"


READ_ONLY = "cadencia_read_only"


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection for reads only, in one transaction that takes no write lock.

    On SQLite every other transaction begins IMMEDIATE (it holds the single
    write lock from the start); a worker that only reads (the 360 context, the
    guard's first look at histories) must not queue behind the writers for it.
    On PostgreSQL this is a plain read committed transaction.
    """
    with engine.connect() as conn, conn.execution_options(**{READ_ONLY: True}).begin():
        yield conn


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout.

    SQLite needs those pragmas on every connection: WAL lets readers run while a
    worker writes the ledger, and the busy timeout makes concurrent writers queue
    instead of failing at once with "database is locked".
    """
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 30})
    engine = sa.create_engine(url, **kwargs)
    if is_sqlite(engine):

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy's BEGIN (below) own transactions; pysqlite's own
            # implicit BEGIN would defer locking and break BEGIN IMMEDIATE.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # IMMEDIATE takes the write lock at BEGIN, so check-then-insert
            # sequences (the contact guard) are serialised across processes.
            # A snapshot read (see ``reading``) needs no lock: under WAL a
            # deferred transaction sees one consistent state beside writers.
            if conn.get_execution_options().get(READ_ONLY):
                conn.exec_driver_sql("BEGIN")
            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def alembic_config(url: str) -> AlembicConfig:
    """An Alembic configuration for ``url`` without any ini file."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str) -> str:
    """Create or upgrade the schema at ``url`` to the newest revision; returns it."""
    command.upgrade(alembic_config(url), "head")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            revision = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
    finally:
        engine.dispose()
    return str(revision)


def head_revision() -> str:
    """The newest migration this release ships (what ``cadencia init`` upgrades to)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None, "no migrations"
    return str(head)


def schema_revision(engine: Engine) -> str | None:
    """The schema revision at ``engine``, or None if the database was never initialised."""
    if not sa.inspect(engine).has_table("alembic_version"):
        return None
    with engine.connect() as conn:
        rev = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    return None if rev is None else str(rev)
