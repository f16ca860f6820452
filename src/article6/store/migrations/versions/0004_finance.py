"""finance: financing agreements, disbursements, exchange rates, recoveries

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-27 04:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "financing_agreements",
        sa.Column("agreement_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("financier_id", sa.String(length=64), nullable=False),
        sa.Column("host_party", sa.String(length=3), nullable=False),
        sa.Column("sector", sa.String(length=100), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("agreement_id", "version"),
    )
    with op.batch_alter_table("financing_agreements", schema=None) as batch_op:
        batch_op.create_index("ix_financing_agreements_financier", ["financier_id"], unique=False)
    op.create_table(
        "finance_disbursements",
        sa.Column("disbursement_id", sa.String(length=64), nullable=False),
        sa.Column("agreement_id", sa.String(length=64), nullable=False),
        sa.Column("disbursement_date", sa.Date(), nullable=False),
        sa.Column("amount", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("disbursement_id"),
    )
    with op.batch_alter_table("finance_disbursements", schema=None) as batch_op:
        batch_op.create_index("ix_finance_disbursements_agreement", ["agreement_id"], unique=False)
    op.create_table(
        "finance_exchange_rates",
        sa.Column("base", sa.String(length=3), nullable=False),
        sa.Column("quote", sa.String(length=3), nullable=False),
        sa.Column("rate_date", sa.Date(), nullable=False),
        sa.Column("rate", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("base", "quote", "rate_date"),
    )
    op.create_table(
        "finance_recoveries",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("agreement_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("vintage", sa.Integer(), nullable=False),
        sa.Column("quantity_t", sa.BigInteger(), nullable=False),
        sa.Column("delivery_date", sa.Date(), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("value_amount", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("agreement_id", "reference", name="uq_finance_recoveries_reference"),
    )
    with op.batch_alter_table("finance_recoveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_finance_recoveries_agreement", ["agreement_id", "vintage"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("finance_recoveries", schema=None) as batch_op:
        batch_op.drop_index("ix_finance_recoveries_agreement")
    op.drop_table("finance_recoveries")
    op.drop_table("finance_exchange_rates")
    with op.batch_alter_table("finance_disbursements", schema=None) as batch_op:
        batch_op.drop_index("ix_finance_disbursements_agreement")
    op.drop_table("finance_disbursements")
    with op.batch_alter_table("financing_agreements", schema=None) as batch_op:
        batch_op.drop_index("ix_financing_agreements_financier")
    op.drop_table("financing_agreements")
