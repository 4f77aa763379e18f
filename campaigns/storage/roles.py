"""PostgreSQL roles: an owner that migrates, an application role that cannot rewrite the ledger.

``role_statements`` is the SQL of ``cadencia db roles``, run by a database
administrator (a superuser or a role with CREATEROLE that owns the
database). It is idempotent, so it can run before the first ``cadencia
init`` and again after every release:

- the owner role owns the ``public`` schema and every table in it, and is
  the one ``cadencia init`` (the migrations) connects as;
- the application role (every other process) may read and write every
  table, but on ``contact_events`` only SELECT and INSERT (no UPDATE,
  DELETE, TRUNCATE), on ``alembic_version`` only SELECT, and on sequences
  only USAGE and SELECT (``nextval``, not ``setval``);
- default privileges give the application role the same rights on the
  tables future migrations create (migration 0012 then takes UPDATE,
  DELETE and TRUNCATE on ``contact_events`` from anyone but its owner).

``ledger_head`` stays writable by the application (every append moves it);
the signed checkpoints are what protect it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.engine import Connection

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
LEDGER = "contact_events"
READ_ONLY_TABLES = ("alembic_version",)


@dataclass(frozen=True)
class Roles:
    """The two login roles (names are lower-case SQL identifiers)."""

    owner: str
    app: str

    def __post_init__(self) -> None:
        for name in (self.owner, self.app):
            if not ROLE_NAME.match(name):
                raise ValueError(f"role {name!r}: use lower-case letters, digits and _")
        if self.owner == self.app:
            raise ValueError("the owner and the application role must differ")


def _create(name: str, password: str | None) -> list[str]:
    """Create ``name`` if absent (a login role with no special powers); set its password."""
    statements = [
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{name}') "
        f'THEN CREATE ROLE "{name}" LOGIN; END IF; END $$',
        f'ALTER ROLE "{name}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS',
    ]
    if password is not None:
        statements.append(f'ALTER ROLE "{name}" PASSWORD {_literal(password)}')
    return statements


def _literal(value: str) -> str:
    """A SQL string literal (standard_conforming_strings: only quotes need doubling)."""
    return "'" + value.replace("'", "''") + "'"


def _take_ownership(owner: str) -> str:
    """Every table, view and sequence-owning table and Cadencia function in public to ``owner``."""
    return f"""DO $$
DECLARE item record;
BEGIN
    FOR item IN SELECT c.oid::regclass AS name FROM pg_class c
                JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')
    LOOP
        EXECUTE 'ALTER TABLE ' || item.name || ' OWNER TO "{owner}"';
    END LOOP;
    FOR item IN SELECT p.oid::regprocedure AS name FROM pg_proc p
                JOIN pg_namespace n ON n.oid = p.pronamespace
                WHERE n.nspname = 'public' AND left(p.proname, 9) = 'cadencia_'
    LOOP
        EXECUTE 'ALTER FUNCTION ' || item.name || ' OWNER TO "{owner}"';
    END LOOP;
END $$"""


def _if_table(table: str, statement: str) -> str:
    """Run ``statement`` only if ``table`` exists (roles may come before the first migration)."""
    body = statement.replace("'", "''")
    return (
        f"DO $$ BEGIN IF to_regclass('public.{table}') IS NOT NULL "
        f"THEN EXECUTE '{body}'; END IF; END $$"
    )


def role_statements(
    roles: Roles,
    database: str,
    *,
    owner_password: str | None = None,
    app_password: str | None = None,
) -> list[str]:
    """The SQL that creates the roles and grants, in order (idempotent)."""
    owner, app = roles.owner, roles.app
    statements = [*_create(owner, owner_password), *_create(app, app_password)]
    statements += [
        f'GRANT CONNECT, TEMPORARY ON DATABASE "{database}" TO "{owner}", "{app}"',
        f'ALTER SCHEMA public OWNER TO "{owner}"',
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        f'GRANT USAGE ON SCHEMA public TO "{app}"',
        _take_ownership(owner),
        f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{app}"',
        f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{app}"',
        f'ALTER DEFAULT PRIVILEGES FOR ROLE "{owner}" IN SCHEMA public '
        f'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "{app}"',
        f'ALTER DEFAULT PRIVILEGES FOR ROLE "{owner}" IN SCHEMA public '
        f'GRANT USAGE, SELECT ON SEQUENCES TO "{app}"',
        _if_table(
            LEDGER,
            f"REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {LEDGER}"
            f' FROM PUBLIC, "{app}"',
        ),
    ]
    for table in READ_ONLY_TABLES:
        statements.append(
            _if_table(table, f'REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {table} FROM "{app}"')
        )
    return statements


def apply_roles(
    conn: Connection,
    roles: Roles,
    *,
    owner_password: str | None = None,
    app_password: str | None = None,
) -> list[str]:
    """Run ``role_statements`` on the database ``conn`` is connected to; returns them."""
    database = str(conn.exec_driver_sql("SELECT current_database()").scalar_one())
    statements = role_statements(
        roles, database, owner_password=owner_password, app_password=app_password
    )
    for statement in statements:
        # No parameters, and none of the SQL has a '%' the driver would read as one.
        conn.exec_driver_sql(statement)
    return statements


def redacted(statement: str) -> str:
    """``statement`` with any password literal hidden (for printing)."""
    return re.sub(r"PASSWORD '(?:[^']|'')*'", "PASSWORD '…'", statement)
