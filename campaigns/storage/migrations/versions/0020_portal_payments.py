"""portal_payments: the portal's payments through the processor and its webhook

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-08 00:00:00
"""

from __future__ import annotations

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
