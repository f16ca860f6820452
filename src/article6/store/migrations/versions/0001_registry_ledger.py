"""registry ledger

Revision ID: 0001
Revises:
Create Date: 2026-11-27 03:43:57.941962
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "authorization_usage",
        sa.Column("authorization_id", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=10), nullable=False),
        sa.Column("quantity_t", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("authorization_id", "purpose"),
    )
    op.create_table(
        "entities",
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("country", sa.String(length=3), nullable=False),
        sa.Column("identification_number", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("entity_id"),
    )
    op.create_table(
        "idempotency",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("command", sa.String(length=40), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "journal",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("command", sa.String(length=40), nullable=False),
        sa.Column("registry_id", sa.String(length=5), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("recorded_at", sa.String(length=40), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("hash"),
    )
    with op.batch_alter_table("journal", schema=None) as batch_op:
        batch_op.create_index(
            "ix_journal_registry_command", ["registry_id", "command"], unique=False
        )

    op.create_table(
        "journal_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("next_block_id", sa.BigInteger(), nullable=False),
        sa.Column("next_issuance_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "parties",
        sa.Column("code", sa.String(length=3), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "serial_counters",
        sa.Column("approach_id", sa.String(length=6), nullable=False),
        sa.Column("registry_id", sa.String(length=5), nullable=False),
        sa.Column("party", sa.String(length=3), nullable=False),
        sa.Column("vintage", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_serial", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("approach_id", "registry_id", "party", "vintage"),
    )
    op.create_table(
        "approaches",
        sa.Column("approach_id", sa.String(length=6), nullable=False),
        sa.Column("host_party", sa.String(length=3), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["host_party"],
            ["parties.code"],
        ),
        sa.PrimaryKeyConstraint("approach_id"),
    )
    op.create_table(
        "registries",
        sa.Column("registry_id", sa.String(length=5), nullable=False),
        sa.Column("party", sa.String(length=3), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("public_key_hex", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["party"],
            ["parties.code"],
        ),
        sa.PrimaryKeyConstraint("registry_id"),
    )
    op.create_table(
        "accounts",
        sa.Column("account_id", sa.String(length=50), nullable=False),
        sa.Column("registry_id", sa.String(length=5), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["registry_id"],
            ["registries.registry_id"],
        ),
        sa.PrimaryKeyConstraint("account_id"),
    )
    op.create_table(
        "authorizations",
        sa.Column("authorization_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("approach_id", sa.String(length=6), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["approach_id"],
            ["approaches.approach_id"],
        ),
        sa.PrimaryKeyConstraint("authorization_id", "version"),
    )
    op.create_table(
        "issuances",
        sa.Column("issuance_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("approach_id", sa.String(length=6), nullable=False),
        sa.Column("registry_id", sa.String(length=5), nullable=False),
        sa.Column("vintage", sa.Integer(), nullable=False),
        sa.Column("quantity_t", sa.BigInteger(), nullable=False),
        sa.Column("first_serial", sa.BigInteger(), nullable=False),
        sa.Column("last_serial", sa.BigInteger(), nullable=False),
        sa.Column("authorization_id", sa.String(length=64), nullable=True),
        sa.Column("underlying_registry", sa.String(length=20), nullable=True),
        sa.Column("underlying_first", sa.BigInteger(), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["approach_id"],
            ["approaches.approach_id"],
        ),
        sa.ForeignKeyConstraint(
            ["registry_id"],
            ["registries.registry_id"],
        ),
        sa.PrimaryKeyConstraint("issuance_id"),
    )
    op.create_table(
        "balances",
        sa.Column("account_id", sa.String(length=50), nullable=False),
        sa.Column("approach_id", sa.String(length=6), nullable=False),
        sa.Column("vintage", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("quantity_t", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.account_id"],
        ),
        sa.PrimaryKeyConstraint("account_id", "approach_id", "vintage"),
    )
    op.create_table(
        "blocks",
        sa.Column("block_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("issuance_id", sa.BigInteger(), nullable=False),
        sa.Column("parent_id", sa.BigInteger(), nullable=True),
        sa.Column("first", sa.BigInteger(), nullable=False),
        sa.Column("last", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.String(length=50), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("approach_id", sa.String(length=6), nullable=False),
        sa.Column("originating_registry", sa.String(length=5), nullable=False),
        sa.Column("first_transferring_party", sa.String(length=3), nullable=False),
        sa.Column("vintage", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(length=10), nullable=False),
        sa.Column("mitigation_type", sa.String(length=40), nullable=False),
        sa.Column("authorization_id", sa.String(length=64), nullable=True),
        sa.Column("authorization_version", sa.Integer(), nullable=True),
        sa.Column("first_transferred", sa.Boolean(), nullable=False),
        sa.Column("purpose", sa.String(length=10), nullable=True),
        sa.Column("use_year", sa.Integer(), nullable=True),
        sa.Column("underlying_registry", sa.String(length=20), nullable=True),
        sa.Column("underlying_first", sa.BigInteger(), nullable=True),
        sa.Column("updated_seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.account_id"],
        ),
        sa.ForeignKeyConstraint(
            ["issuance_id"],
            ["issuances.issuance_id"],
        ),
        sa.PrimaryKeyConstraint("block_id"),
    )
    with op.batch_alter_table("blocks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_blocks_account_state", ["account_id", "state", "vintage"], unique=False
        )
        batch_op.create_index("ix_blocks_issuance", ["issuance_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("blocks", schema=None) as batch_op:
        batch_op.drop_index("ix_blocks_issuance")
        batch_op.drop_index("ix_blocks_account_state")

    op.drop_table("blocks")
    op.drop_table("balances")
    op.drop_table("issuances")
    op.drop_table("authorizations")
    op.drop_table("accounts")
    op.drop_table("registries")
    op.drop_table("approaches")
    op.drop_table("serial_counters")
    op.drop_table("parties")
    op.drop_table("journal_head")
    with op.batch_alter_table("journal", schema=None) as batch_op:
        batch_op.drop_index("ix_journal_registry_command")

    op.drop_table("journal")
    op.drop_table("idempotency")
    op.drop_table("entities")
    op.drop_table("authorization_usage")
