"""Database tables: the journal, its head, and the projections it feeds.

The journal is the record; every other table is a projection that the same
transaction updates and that `registry verify` can rebuild and compare.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

journal = Table(
    "journal",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("command", String(40), nullable=False),
    Column("registry_id", String(5), nullable=True),
    Column("actor", String(200), nullable=False),
    Column("recorded_at", String(40), nullable=False),
    Column("body", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False, unique=True),
    Index("ix_journal_registry_command", "registry_id", "command"),
)

# A single row: the chain head and the id counters. Locking it serialises writers.
journal_head = Table(
    "journal_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("next_block_id", BigInteger, nullable=False),
    Column("next_issuance_id", BigInteger, nullable=False),
)

idempotency = Table(
    "idempotency",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("command", String(40), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("result", Text, nullable=False),
)

parties = Table(
    "parties",
    metadata,
    Column("code", String(3), primary_key=True),
    Column("name", String(200), nullable=False),
)

registries = Table(
    "registries",
    metadata,
    Column("registry_id", String(5), primary_key=True),
    Column("party", String(3), ForeignKey("parties.code"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("public_key_hex", String(64), nullable=False),
)

entities = Table(
    "entities",
    metadata,
    Column("entity_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("country", String(3), nullable=False),
    Column("identification_number", String(100), nullable=False),
)

accounts = Table(
    "accounts",
    metadata,
    Column("account_id", String(50), primary_key=True),
    Column("registry_id", String(5), ForeignKey("registries.registry_id"), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("holder", String(64), nullable=False),
    Column("name", String(200), nullable=False),
)

approaches = Table(
    "approaches",
    metadata,
    Column("approach_id", String(6), primary_key=True),
    Column("host_party", String(3), ForeignKey("parties.code"), nullable=False),
    Column("data", Text, nullable=False),
)

authorizations = Table(
    "authorizations",
    metadata,
    Column("authorization_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("approach_id", String(6), ForeignKey("approaches.approach_id"), nullable=False),
    Column("effective_from", Date, nullable=False),
    Column("revoked", Boolean, nullable=False),
    Column("data", Text, nullable=False),
    Column("seq", BigInteger, nullable=False),
)

authorization_usage = Table(
    "authorization_usage",
    metadata,
    Column("authorization_id", String(64), primary_key=True),
    Column("purpose", String(10), primary_key=True),
    Column("quantity_t", BigInteger, nullable=False),
)

issuances = Table(
    "issuances",
    metadata,
    Column("issuance_id", BigInteger, primary_key=True, autoincrement=False),
    Column("approach_id", String(6), ForeignKey("approaches.approach_id"), nullable=False),
    Column("registry_id", String(5), ForeignKey("registries.registry_id"), nullable=False),
    Column("vintage", Integer, nullable=False),
    Column("quantity_t", BigInteger, nullable=False),
    Column("first_serial", BigInteger, nullable=False),
    Column("last_serial", BigInteger, nullable=False),
    Column("authorization_id", String(64), nullable=True),
    Column("underlying_registry", String(20), nullable=True),
    Column("underlying_first", BigInteger, nullable=True),
    Column("seq", BigInteger, nullable=False),
)

# Next free serial per identifier space (approach, originating registry, Party, vintage).
serial_counters = Table(
    "serial_counters",
    metadata,
    Column("approach_id", String(6), primary_key=True),
    Column("registry_id", String(5), primary_key=True),
    Column("party", String(3), primary_key=True),
    Column("vintage", Integer, primary_key=True, autoincrement=False),
    Column("last_serial", BigInteger, nullable=False),
)

blocks = Table(
    "blocks",
    metadata,
    Column("block_id", BigInteger, primary_key=True, autoincrement=False),
    Column("issuance_id", BigInteger, ForeignKey("issuances.issuance_id"), nullable=False),
    Column("parent_id", BigInteger, nullable=True),
    Column("first", BigInteger, nullable=False),
    Column("last", BigInteger, nullable=False),
    Column("account_id", String(50), ForeignKey("accounts.account_id"), nullable=False),
    Column("state", String(10), nullable=False),
    Column("approach_id", String(6), nullable=False),
    Column("originating_registry", String(5), nullable=False),
    Column("first_transferring_party", String(3), nullable=False),
    Column("vintage", Integer, nullable=False),
    Column("metric", String(10), nullable=False),
    Column("mitigation_type", String(40), nullable=False),
    Column("authorization_id", String(64), nullable=True),
    Column("authorization_version", Integer, nullable=True),
    Column("first_transferred", Boolean, nullable=False),
    Column("purpose", String(10), nullable=True),
    Column("use_year", Integer, nullable=True),
    Column("underlying_registry", String(20), nullable=True),
    Column("underlying_first", BigInteger, nullable=True),
    Column("updated_seq", BigInteger, nullable=False),
    # Held blocks in selection order: the query every transfer runs names account,
    # state, approach and vintage, so the index it uses must match all four (with
    # fewer, SQLite may prefer the holdings order below and read split blocks too).
    Index(
        "ix_blocks_account_held",
        "account_id",
        "state",
        "approach_id",
        "vintage",
        "issuance_id",
        "first",
    ),
    Index("ix_blocks_account_order", "account_id", "approach_id", "vintage", "first"),
    Index("ix_blocks_issuance", "issuance_id"),
)

balances = Table(
    "balances",
    metadata,
    Column("account_id", String(50), ForeignKey("accounts.account_id"), primary_key=True),
    Column("approach_id", String(6), primary_key=True),
    Column("vintage", Integer, primary_key=True, autoincrement=False),
    Column("quantity_t", BigInteger, nullable=False),
)
from article6.store import finance_tables  # noqa: E402, F401, I001
from article6.store import workflow_tables  # noqa: E402, F401
from article6.store import accounting_tables  # noqa: E402, F401
