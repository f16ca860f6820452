"""registry: an index in the order holdings are listed

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-27 08:00:00.000000

Holdings are listed by account, approach, vintage and first serial, a page at
a time. Without an index in that order, an account fragmented into many
blocks had to be sorted whole to show its first page.
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_blocks_account_order", "blocks", ["account_id", "approach_id", "vintage", "first"]
    )


def downgrade() -> None:
    op.drop_index("ix_blocks_account_order", table_name="blocks")
