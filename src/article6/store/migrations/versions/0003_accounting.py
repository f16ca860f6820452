"""accounting: NDC versions, inventories, frozen holdings, balances, AEF versions

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-27 04:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ndc_versions",
        sa.Column("party", sa.String(length=3), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("party", "version"),
    )
    op.create_table(
        "inventory_emissions",
        sa.Column("party", sa.String(length=3), nullable=False),
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("emissions_t", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("file", sa.String(length=200), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("party", "year"),
    )
    op.create_table(
        "frozen_holdings",
        sa.Column("party", sa.String(length=3), nullable=False),
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("party", "year"),
    )
    op.create_table(
        "balance_finalisations",
        sa.Column("party", sa.String(length=3), nullable=False),
        sa.Column("period_start", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("period_end", sa.Integer(), nullable=False),
        sa.Column("ndc_version", sa.Integer(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("party", "period_start"),
    )
    op.create_table(
        "balance_corrections",
        sa.Column("party", sa.String(length=3), nullable=False),
        sa.Column("period_start", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("party", "period_start", "number"),
    )
    op.create_table(
        "aef_versions",
        sa.Column("party", sa.String(length=3), nullable=False),
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.String(length=10), nullable=False),
        sa.Column("submitted_on", sa.Date(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("party", "year", "version"),
    )


def downgrade() -> None:
    for table in (
        "aef_versions",
        "balance_corrections",
        "balance_finalisations",
        "frozen_holdings",
        "inventory_emissions",
        "ndc_versions",
    ):
        op.drop_table(table)
