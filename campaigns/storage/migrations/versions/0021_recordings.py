"""recordings: call recordings: files by attempt, their SHA-256, retention and every playback

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-08 00:00:00

Asterisk records every call an agent takes (MixMonitor, docker/asterisk);
when the call ends the call desk stores the file under the attempt's id,
hashes it and writes a ``recordings`` row beside the ledger's ``recording``
row: where it is kept, its SHA-256 and size, when it was recorded and until
when its campaign keeps it. The retention job deletes the file and fills
``deleted_at`` and ``deletion_reason``; the row stays. ``recording_events``
is the recordings' access and control log: pauses and resumes during the
call (PCI DSS), each playback by a compliance officer, refusals of a missing
or altered file, and each deletion (``campaigns.recordings``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("attempt_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("campaign", sa.String(length=80), nullable=True),
        sa.Column("storage_key", sa.String(length=200), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retain_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ledger_event_id", sa.BigInteger(), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deletion_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("attempt_id"),
    )
    op.create_index("ix_recordings_customer_id", "recordings", ["customer_id"])
    op.create_index("ix_recordings_retain_until", "recordings", ["retain_until"])
    op.create_table(
        "recording_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempt_id", sa.BigInteger(), nullable=False),
        sa.Column("recording_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_recording_events_attempt", "recording_events", ["attempt_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_recording_events_attempt", table_name="recording_events")
    op.drop_table("recording_events")
    op.drop_index("ix_recordings_retain_until", table_name="recordings")
    op.drop_index("ix_recordings_customer_id", table_name="recordings")
    op.drop_table("recordings")
