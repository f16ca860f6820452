"""Finance projections: agreement versions, disbursements, exchange rates, recoveries.

Like the registry tables they are projections of journal events written in
the same transaction (`FinancingAgreementRecorded`/`Amended`,
`DisbursementRecorded`, `ExchangeRateRecorded`, `RecoveryDelivered`). Money is
stored as decimal text with its currency beside it, so both SQLite and
PostgreSQL give back exactly the `Decimal` that was written.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from article6.store.tables import metadata

financing_agreements = Table(
    "financing_agreements",
    metadata,
    Column("agreement_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("financier_id", String(64), nullable=False),
    Column("host_party", String(3), nullable=False),
    Column("sector", String(100), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("effective_from", Date, nullable=False),
    Column("data", Text, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Index("ix_financing_agreements_financier", "financier_id"),
)

finance_disbursements = Table(
    "finance_disbursements",
    metadata,
    Column("disbursement_id", String(64), primary_key=True),
    Column("agreement_id", String(64), nullable=False),
    Column("disbursement_date", Date, nullable=False),
    Column("amount", String(40), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("data", Text, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Index("ix_finance_disbursements_agreement", "agreement_id"),
)

finance_exchange_rates = Table(
    "finance_exchange_rates",
    metadata,
    Column("base", String(3), primary_key=True),
    Column("quote", String(3), primary_key=True),
    Column("rate_date", Date, primary_key=True),
    Column("rate", String(40), nullable=False),
    Column("source", String(200), nullable=False),
    Column("seq", BigInteger, nullable=False),
)

finance_recoveries = Table(
    "finance_recoveries",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("agreement_id", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("vintage", Integer, nullable=False),
    Column("quantity_t", BigInteger, nullable=False),
    Column("delivery_date", Date, nullable=False),
    Column("reference", String(200), nullable=False),
    Column("value_amount", String(40), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("data", Text, nullable=False),
    UniqueConstraint("agreement_id", "reference", name="uq_finance_recoveries_reference"),
    Index("ix_finance_recoveries_agreement", "agreement_id", "vintage"),
)
