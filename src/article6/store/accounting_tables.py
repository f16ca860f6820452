"""Tables of accounting and reporting: NDC versions, inventories, frozen
holdings, finalised balances and their corrections, AEF submissions.

Like the registry projections they are written in the same transaction as the
journal event that records the change, so the journal stays the record. They
share the registry's `MetaData`, so one schema and one migration history
cover both.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Date, Integer, String, Table, Text

from article6.store.tables import metadata

ndc_versions = Table(
    "ndc_versions",
    metadata,
    Column("party", String(3), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("data", Text, nullable=False),
    Column("seq", BigInteger, nullable=False),
)

# The latest imported figure per Party and year; each import is a journal event.
inventory_emissions = Table(
    "inventory_emissions",
    metadata,
    Column("party", String(3), primary_key=True),
    Column("year", Integer, primary_key=True, autoincrement=False),
    Column("emissions_t", BigInteger, nullable=False),
    Column("source", String(200), nullable=False),
    Column("file", String(200), nullable=False),
    Column("row", Integer, nullable=False),
    Column("seq", BigInteger, nullable=False),
)

# Holdings as of 31 December, frozen once: later actions never change them.
frozen_holdings = Table(
    "frozen_holdings",
    metadata,
    Column("party", String(3), primary_key=True),
    Column("year", Integer, primary_key=True, autoincrement=False),
    Column("as_of", Date, nullable=False),
    Column("data", Text, nullable=False),
    Column("seq", BigInteger, nullable=False),
)

balance_finalisations = Table(
    "balance_finalisations",
    metadata,
    Column("party", String(3), primary_key=True),
    Column("period_start", Integer, primary_key=True, autoincrement=False),
    Column("period_end", Integer, nullable=False),
    Column("ndc_version", Integer, nullable=False),
    Column("data", Text, nullable=False),
    Column("seq", BigInteger, nullable=False),
)

balance_corrections = Table(
    "balance_corrections",
    metadata,
    Column("party", String(3), primary_key=True),
    Column("period_start", Integer, primary_key=True, autoincrement=False),
    Column("number", Integer, primary_key=True, autoincrement=False),
    Column("reason", Text, nullable=False),
    Column("data", Text, nullable=False),
    Column("seq", BigInteger, nullable=False),
)

aef_versions = Table(
    "aef_versions",
    metadata,
    Column("party", String(3), primary_key=True),
    Column("year", Integer, primary_key=True, autoincrement=False),
    Column("version", String(10), primary_key=True),
    Column("submitted_on", Date, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("data", Text, nullable=False),
    Column("seq", BigInteger, nullable=False),
)
