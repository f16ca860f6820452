"""registry: held blocks found by account, state, approach and vintage

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 10:00:00.000000

Transfers look up the held blocks of an account for one approach and vintage.
The index on (account, state, vintage) matched only three of those terms, as
many as the holdings order index (account, approach, vintage), and SQLite took
the latter: it then read every split block the account ever had, so a transfer
from an account split 100,000 times took tens of milliseconds. The new index
matches all four terms and gives the selection order (vintage, issuance, first
serial) within them.
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_blocks_account_held",
        "blocks",
        ["account_id", "state", "approach_id", "vintage", "issuance_id", "first"],
    )
    op.drop_index("ix_blocks_account_state", table_name="blocks")


def downgrade() -> None:
    op.create_index("ix_blocks_account_state", "blocks", ["account_id", "state", "vintage"])
    op.drop_index("ix_blocks_account_held", table_name="blocks")
