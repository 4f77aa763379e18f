"""contact_events append-only on PostgreSQL: a trigger, and no UPDATE/DELETE grants

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-09 12:00:00

The product only ever inserts ledger rows (``campaigns.ledger.chain``). On
PostgreSQL a statement trigger now refuses UPDATE, DELETE and TRUNCATE on
``contact_events`` to every role, except a member of the table's owner role
(the migrations role) that first sets ``cadencia.ledger_maintenance = on`` in
its transaction: the door a future migration would need, closed to the
application role. UPDATE, DELETE and TRUNCATE granted on the table to any
role but its owner (default privileges of ``cadencia db roles`` included)
are revoked. SQLite has no roles; its ledger is protected by the signed
checkpoints only (``cadencia ledger checkpoint``).
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TRIGGER_FUNCTION = """
CREATE OR REPLACE FUNCTION cadencia_ledger_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- current_user is the role running the statement (the function is not
    -- SECURITY DEFINER); only the table's owner may open the maintenance door.
    IF coalesce(current_setting('cadencia.ledger_maintenance', true), '') = 'on'
       AND pg_has_role(current_user,
                       (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'MEMBER') THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'contact_events is append-only: % refused for role %', TG_OP, current_user
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'ledger rows are never changed; only the owner role, with '
                     'SET LOCAL cadencia.ledger_maintenance = on, may (migrations)';
END
$$
"""

REVOKE_FROM_NON_OWNERS = """
DO $$
DECLARE
    grantee_oid oid;
BEGIN
    FOR grantee_oid IN
        SELECT DISTINCT a.grantee
        FROM pg_class c, aclexplode(c.relacl) a
        WHERE c.oid = 'contact_events'::regclass
          AND a.grantee <> c.relowner
          AND a.privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE')
    LOOP
        IF grantee_oid = 0 THEN
            EXECUTE 'REVOKE UPDATE, DELETE, TRUNCATE ON contact_events FROM PUBLIC';
        ELSE
            EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON contact_events FROM %I',
                           pg_get_userbyid(grantee_oid));
        END IF;
    END LOOP;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(TRIGGER_FUNCTION)
    # One statement-level trigger: a refused statement costs nothing per row,
    # and TRUNCATE (which fires no row trigger) is covered too.
    op.execute(
        "CREATE TRIGGER contact_events_append_only"
        " BEFORE UPDATE OR DELETE OR TRUNCATE ON contact_events"
        " FOR EACH STATEMENT EXECUTE FUNCTION cadencia_ledger_append_only()"
    )
    op.execute(REVOKE_FROM_NON_OWNERS)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS contact_events_append_only ON contact_events")
    op.execute("DROP FUNCTION IF EXISTS cadencia_ledger_append_only()")
