"""people: failed sign-ins shared by every server process

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 12:00:00.000000

The sign-in rate limit counted failures in the memory of each server process,
so with several worker processes a client could try as many times more
passwords. The failures inside the window now live in the database.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("failure_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("failed_at", sa.Double, nullable=False),
    )
    op.create_index("ix_login_failures_key", "login_failures", ["key", "failed_at"])
    op.create_index("ix_login_failures_failed_at", "login_failures", ["failed_at"])


def downgrade() -> None:
    op.drop_table("login_failures")
