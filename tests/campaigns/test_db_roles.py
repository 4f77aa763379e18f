"""PostgreSQL roles: the application role cannot rewrite the ledger, the database refuses it.

Roles are cluster-wide, so each test makes its own (random names) and drops
them with its database.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from cadencia.cli import app
from campaigns.ledger.chain import LedgerEntry, append_now, verify
from campaigns.storage.db import make_engine, migrate
from tests.conftest import POSTGRES_ADMIN_URL
from tests.support.components import component_missing
from tests.support.portfolio import load_rows, row
from tests.support.requests import TUESDAY_10_BOGOTA

runner = CliRunner()


@dataclass(frozen=True)
class Deployment:
    admin_url: str  # the database, as the superuser
    owner_url: str
    app_url: str


def _url(admin_url: str, user: str, password: str) -> str:
    return make_url(admin_url).set(username=user, password=password).render_as_string(False)


@pytest.fixture()
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    """An empty database, `cadencia db roles` with fresh role names, then `init` as the owner.

    The roles come before the tables, so the ledger's protection here rests on
    the default privileges and migration 0012, not on a second `db roles`.
    """
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    suffix = uuid.uuid4().hex[:10]
    name, owner, app_role = f"cadencia_r_{suffix}", f"own_{suffix}", f"app_{suffix}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # any driver/connect error means "no PostgreSQL here"
        admin.dispose()
        component_missing("PostgreSQL at 127.0.0.1:5432", str(exc).splitlines()[0])
    admin_url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    (tmp_path / "owner").write_text("owner-pw\n")
    (tmp_path / "app").write_text("app-pw\n")
    try:
        result = runner.invoke(
            app,
            [
                *("--db", admin_url, "db", "roles", "--owner", owner, "--app", app_role),
                *("--owner-password-file", str(tmp_path / "owner")),
                *("--app-password-file", str(tmp_path / "app")),
            ],
        )
        assert result.exit_code == 0, result.stderr
        owner_url = _url(admin_url, owner, "owner-pw")
        migrate(owner_url)  # `cadencia init`, as the owner
        yield Deployment(admin_url, owner_url, _url(admin_url, app_role, "app-pw"))
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            for role in (app_role, owner):
                conn.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()


def entry(i: int) -> LedgerEntry:
    return LedgerEntry(
        at=TUESDAY_10_BOGOTA + dt.timedelta(minutes=i),
        customer_id="C1",
        debt_ids=("A1",),
        channel="sms",
        direction="outbound",
        kind="attempt",
        outcome="delivered",
        idempotency_key=f"k{i}",
    )


def refused(url: str, statement: str, *, maintenance: bool = False) -> str:
    """Run ``statement`` as the user of ``url``; return PostgreSQL's refusal (fails if allowed)."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            if maintenance:
                conn.exec_driver_sql("SET LOCAL cadencia.ledger_maintenance = 'on'")
            conn.exec_driver_sql(statement)
    except sa.exc.DBAPIError as exc:
        return str(exc.orig)
    finally:
        engine.dispose()
    raise AssertionError(f"{statement!r} was allowed")


def test_the_application_role_appends_but_cannot_update_delete_or_truncate_the_ledger(
    deployment: Deployment,
) -> None:
    engine = make_engine(deployment.app_url)
    # The day's work runs as the application: a portfolio import (temporary
    # tables, ANALYZE of tables it does not own: skipped with a warning) and appends.
    assert load_rows(engine, [row()], now=TUESDAY_10_BOGOTA).customers_created == 1
    ids = append_now(engine, [entry(i) for i in range(3)], now=TUESDAY_10_BOGOTA)
    assert verify(engine).ok  # it reads the ledger and moves the head (ledger_head stays writable)
    engine.dispose()
    for statement in (
        f"UPDATE contact_events SET outcome = 'failed' WHERE id = {ids[1]}",
        f"DELETE FROM contact_events WHERE id = {ids[2]}",
        "TRUNCATE contact_events",
    ):
        message = refused(deployment.app_url, statement)
        assert "permission denied for table contact_events" in message
        # The trigger's door is the owner's: setting the switch changes nothing.
        message = refused(deployment.app_url, statement, maintenance=True)
        assert "permission denied for table contact_events" in message
    # Nor switch the trigger off: only the owner may alter the table.
    assert "must be owner" in refused(
        deployment.app_url, "ALTER TABLE contact_events DISABLE TRIGGER ALL"
    )


def test_the_trigger_refuses_even_a_role_granted_update_and_lets_only_the_migrating_owner(
    deployment: Deployment,
) -> None:
    engine = make_engine(deployment.app_url)
    ids = append_now(engine, [entry(i) for i in range(2)], now=TUESDAY_10_BOGOTA)
    engine.dispose()
    app_role = make_url(deployment.app_url).username
    with contextlib.closing(make_engine(deployment.admin_url).connect()) as conn:
        # A careless grant: the privilege is there, the trigger still says no.
        conn.exec_driver_sql(f'GRANT UPDATE, DELETE, TRUNCATE ON contact_events TO "{app_role}"')
        conn.commit()
    update = f"UPDATE contact_events SET outcome = 'failed' WHERE id = {ids[0]}"
    for url in (deployment.app_url, deployment.owner_url):
        message = refused(url, update)
        assert "contact_events is append-only: UPDATE refused" in message
    assert "append-only: UPDATE refused" in refused(deployment.app_url, update, maintenance=True)
    assert "append-only: TRUNCATE refused" in refused(deployment.app_url, "TRUNCATE contact_events")
    # The owner, in a migration's transaction that opens the door, may.
    engine = make_engine(deployment.owner_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL cadencia.ledger_maintenance = 'on'")
        assert conn.exec_driver_sql(update).rowcount == 1
    engine.dispose()


def test_db_roles_is_idempotent_and_the_app_keeps_its_rights_on_the_other_tables(
    deployment: Deployment,
) -> None:
    owner = make_url(deployment.owner_url).username
    app_role = make_url(deployment.app_url).username
    for _ in range(2):  # after a release: `cadencia init` as the owner, then `db roles` again
        migrate(deployment.owner_url)
        result = runner.invoke(
            app,
            [
                "--db",
                deployment.admin_url,
                "db",
                "roles",
                "--owner",
                str(owner),
                "--app",
                str(app_role),
            ],
        )
        assert result.exit_code == 0, result.stderr
    engine = make_engine(deployment.app_url)
    with engine.begin() as conn:
        privileges = {
            (table, privilege)
            for table, privilege in conn.execute(
                sa.text(
                    "SELECT table_name, privilege_type FROM information_schema.role_table_grants"
                    " WHERE grantee = :r AND table_name IN ('contact_events', 'ledger_head')"
                ),
                {"r": app_role},
            )
        }
    engine.dispose()
    assert privileges == {
        ("contact_events", "SELECT"),
        ("contact_events", "INSERT"),
        ("ledger_head", "SELECT"),
        ("ledger_head", "INSERT"),
        ("ledger_head", "UPDATE"),
        ("ledger_head", "DELETE"),
    }
    # Tables made by migrations after `db roles` get the default privileges; the
    # second `db roles` (after `init`) takes the schema's version back out of reach.
    assert "permission denied" in refused(
        deployment.app_url, "UPDATE alembic_version SET version_num = 'x'"
    )
    assert "ALTER SCHEMA public OWNER" in runner.invoke(app, ["db", "roles", "--print"]).stdout
