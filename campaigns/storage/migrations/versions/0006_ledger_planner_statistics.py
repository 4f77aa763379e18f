"""tell PostgreSQL's planner how selective the ledger's lookup columns are

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 01:55:00

Workers look ledger rows up by customer (histories, ``written_since``) and by
attempt (``resolves_id``: latest outcomes) with ``= ANY(array)``. The ledger
grows fast, from nothing on the first day, and ANALYZE samples it while most
rows are fresh attempts with few outcomes: the planner then believes a hundred
attempt ids match thousands of rows and scans the whole table for each batch,
so a message cost more the longer the ledger (seen in ``bench/channels_throughput.py``: at
270,000 rows every such lookup was a sequential scan of 20-50 ms). Fixed
distinct-value ratios keep these lookups on their indexes whatever the sample
saw, and ANALYZE runs on the ledger every ~0.5% of growth instead of 10%.

SQLite has no planner statistics of this kind; nothing to do there.
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Each customer has tens of rows in the ledger over its life, each attempt one
# to three outcomes; the ratios only need the right order of magnitude.
CUSTOMER_DISTINCT = -0.05
RESOLVES_DISTINCT = -0.3


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for column, ratio in (("customer_id", CUSTOMER_DISTINCT), ("resolves_id", RESOLVES_DISTINCT)):
        op.execute(f"ALTER TABLE contact_events ALTER COLUMN {column} SET (n_distinct = {ratio})")
    op.execute(
        "ALTER TABLE contact_events SET"
        " (autovacuum_analyze_scale_factor = 0.005, autovacuum_analyze_threshold = 2000)"
    )
    op.execute("ANALYZE contact_events")  # overrides take effect at the next ANALYZE


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE contact_events ALTER COLUMN customer_id RESET (n_distinct)")
    op.execute("ALTER TABLE contact_events ALTER COLUMN resolves_id RESET (n_distinct)")
    op.execute(
        "ALTER TABLE contact_events RESET"
        " (autovacuum_analyze_scale_factor, autovacuum_analyze_threshold)"
    )
