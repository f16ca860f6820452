"""Financing agreements as commands: record, amend, disburse, rate, deliver.

Each command is one transaction through `execute`: permission first, then the
domain decides, the event is journaled and the finance projection written.
Only the financier's own organisation may record or change its agreements
and disbursements. A delivery of credits is recorded by whoever performs the
issuance (the host registry administrator); the allocation of an issuance
calls `recover_from_allocation` (or `record_delivery_in`) inside its own
transaction, after it has moved the financier's units, so the units and the
recovery they pay land together or not at all. `financier_due_in` tells the
allocation how many tonnes are due.

Every recovery is backed by units: the tonnes recorded as delivered for an
approach and vintage never exceed the tonnes the registry journal shows
arriving in the delivery account (issued, first transferred or transferred
into it), summed over all agreements that deliver there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from article6.domain import finance_codec as fc
from article6.domain.finance import (
    Disbursement,
    FinancingAgreement,
    RecoveryEntry,
    RecoveryPosition,
    check_amendment,
    check_disbursement,
    financier_due_t,
    position_after,
    recovery_for_delivery,
    remaining_due_t,
    validate_agreement,
    version_in_force,
)
from article6.domain.finance_money import ExchangeRate, FinanceReason, refuse
from article6.domain.permissions import Actor, Command, Target, authorize
from article6.services.commands import Receipt, execute
from article6.store import finance_tables as ft
from article6.store import tables as t
from article6.store.ledger_store import LedgerTransaction

# --- reads (any open connection) -----------------------------------------------------


def agreement_versions(connection: Connection, agreement_id: str) -> list[FinancingAgreement]:
    rows = connection.execute(
        select(ft.financing_agreements.c.data)
        .where(ft.financing_agreements.c.agreement_id == agreement_id)
        .order_by(ft.financing_agreements.c.version)
    ).all()
    return [fc.agreement_from_dict(json.loads(row.data)) for row in rows]


def latest_version(connection: Connection, agreement_id: str) -> FinancingAgreement:
    versions = agreement_versions(connection, agreement_id)
    if not versions:
        raise refuse(
            FinanceReason.UNKNOWN_AGREEMENT, f"financing agreement {agreement_id!r} does not exist"
        )
    return versions[-1]


def agreement_ids(connection: Connection) -> list[str]:
    rows = connection.execute(
        select(ft.financing_agreements.c.agreement_id)
        .distinct()
        .order_by(ft.financing_agreements.c.agreement_id)
    ).all()
    return [row.agreement_id for row in rows]


def exchange_rates(connection: Connection) -> list[ExchangeRate]:
    rows = connection.execute(
        select(ft.finance_exchange_rates).order_by(
            ft.finance_exchange_rates.c.rate_date,
            ft.finance_exchange_rates.c.base,
            ft.finance_exchange_rates.c.quote,
        )
    ).all()
    return [
        fc.rate_from_dict({**row._asdict(), "rate_date": row.rate_date.isoformat()}) for row in rows
    ]


def disbursements(connection: Connection, agreement_id: str) -> list[Disbursement]:
    rows = connection.execute(
        select(ft.finance_disbursements.c.data)
        .where(ft.finance_disbursements.c.agreement_id == agreement_id)
        .order_by(ft.finance_disbursements.c.disbursement_date, ft.finance_disbursements.c.seq)
    ).all()
    return [fc.disbursement_from_dict(json.loads(row.data)) for row in rows]


def recovery_entries(connection: Connection, agreement_id: str) -> list[RecoveryEntry]:
    rows = connection.execute(
        select(ft.finance_recoveries.c.data)
        .where(ft.finance_recoveries.c.agreement_id == agreement_id)
        .order_by(ft.finance_recoveries.c.seq)
    ).all()
    return [fc.entry_from_dict(json.loads(row.data)) for row in rows]


def position(connection: Connection, agreement: FinancingAgreement) -> RecoveryPosition:
    return position_after(recovery_entries(connection, agreement.agreement_id), agreement.currency)


def financier_due_in(
    connection: Connection,
    agreement_id: str,
    available_t: int,
    on: date,
    available_before_t: int | None = None,
) -> int:
    """Tonnes agreement `agreement_id` is due from an issuance offering `available_t`
    on date `on` (0 when recovery is complete). For the allocation, inside its transaction."""
    agreement = version_in_force(agreement_versions(connection, agreement_id), on)
    return financier_due_t(
        agreement,
        position(connection, agreement),
        available_t,
        on,
        exchange_rates(connection),
        available_before_t,
    )


def open_agreements_for_approach(
    connection: Connection, approach_id: str, on: date
) -> list[FinancingAgreement]:
    """Agreements in force on `on` that are repaid from `approach_id` and still owed credits."""
    rates = exchange_rates(connection)
    found = []
    for agreement_id in agreement_ids(connection):
        versions = [
            v for v in agreement_versions(connection, agreement_id) if v.effective_from <= on
        ]
        if not versions or versions[-1].approach_id != approach_id:
            continue
        current = versions[-1]
        if remaining_due_t(current, position(connection, current), on, rates) > 0:
            found.append(current)
    return found


RECEIVING_EVENTS = ("UnitsIssued", "UnitsFirstTransferred", "UnitsTransferred")


@dataclass(frozen=True)
class UnitsReceipt:
    """Units that arrived in an account, as the registry journal recorded them."""

    seq: int
    vintage: int
    quantity_t: int
    action_date: date


def units_received(connection: Connection, account_id: str, approach_id: str) -> list[UnitsReceipt]:
    """Every issuance or transfer of `approach_id` units into `account_id`, in journal order."""
    marker = json.dumps({"to_account": account_id}, separators=(",", ":"))[1:-1]
    rows = connection.execute(
        select(t.journal.c.seq, t.journal.c.body)
        .where(t.journal.c.command.in_(RECEIVING_EVENTS) & t.journal.c.body.contains(marker))
        .order_by(t.journal.c.seq)
    )
    found = []
    for seq, body in rows:
        request = json.loads(body)["payload"].get("request", {})
        if request.get("to_account") != account_id:
            continue
        units = request.get("selection") or request
        if units.get("approach_id") != approach_id:
            continue
        found.append(
            UnitsReceipt(
                seq,
                int(units["vintage"]),
                int(units["quantity_t"]),
                date.fromisoformat(request["action_date"]),
            )
        )
    return found


def _check_backed_by_units(
    connection: Connection, agreement: FinancingAgreement, vintage: int, quantity_t: int
) -> None:
    if agreement.approach_id is None:
        raise refuse(
            FinanceReason.UNITS_NOT_RECEIVED,
            f"agreement {agreement.agreement_id} names no cooperative approach, so no units "
            "can back a delivery; amend it first",
        )
    account, approach = agreement.delivery_account, agreement.approach_id
    received = sum(
        r.quantity_t for r in units_received(connection, account, approach) if r.vintage == vintage
    )
    recorded = 0
    for agreement_id in agreement_ids(connection):
        versions = {v.version: v for v in agreement_versions(connection, agreement_id)}
        for entry in recovery_entries(connection, agreement_id):
            version = versions[entry.version]
            if (
                entry.vintage == vintage
                and version.delivery_account == account
                and version.approach_id == approach
            ):
                recorded += entry.quantity_t
    if recorded + quantity_t > received:
        raise refuse(
            FinanceReason.UNITS_NOT_RECEIVED,
            f"{account} has received {received:,} t of {approach} vintage {vintage}, of which "
            f"{recorded:,} t already recovered: {quantity_t:,} t more are not backed by units",
        )


# --- commands ------------------------------------------------------------------------


def _insert_version(tx: LedgerTransaction, agreement: FinancingAgreement, event: str) -> None:
    data = fc.agreement_to_dict(agreement)
    appended = tx.append(event, None, {"agreement": data})
    tx.connection.execute(
        insert(ft.financing_agreements).values(
            agreement_id=agreement.agreement_id,
            version=agreement.version,
            financier_id=agreement.financier_id,
            host_party=agreement.host_party,
            sector=agreement.sector,
            currency=agreement.currency,
            effective_from=agreement.effective_from,
            data=json.dumps(data, sort_keys=True),
            seq=appended.seq,
        )
    )


def _check_account(tx: LedgerTransaction, agreement: FinancingAgreement) -> None:
    if tx.account(agreement.delivery_account) is None:
        raise refuse(
            FinanceReason.UNKNOWN_ACCOUNT,
            f"delivery account {agreement.delivery_account} does not exist",
        )


def record_agreement(
    engine: Engine,
    *,
    actor: Actor,
    agreement: FinancingAgreement,
    idempotency_key: str | None = None,
) -> Receipt:
    """Record version 1 of a financing agreement (the financier's own organisation only)."""
    validate_agreement(agreement)
    data = fc.agreement_to_dict(agreement)

    def handle(tx: LedgerTransaction) -> dict[str, Any]:
        authorize(
            actor,
            Command.RECORD_FINANCING_AGREEMENT,
            Target(party=actor.party, organisation_id=agreement.financier_id),
        )
        if agreement.version != 1:
            raise refuse(
                FinanceReason.VERSION_NOT_INCREASING,
                f"a new agreement starts at version 1, not {agreement.version}",
            )
        if agreement_versions(tx.connection, agreement.agreement_id):
            raise refuse(
                FinanceReason.AGREEMENT_EXISTS,
                f"financing agreement {agreement.agreement_id} already exists",
            )
        _check_account(tx, agreement)
        _insert_version(tx, agreement, "FinancingAgreementRecorded")
        return {"agreement_id": agreement.agreement_id, "version": 1}

    return execute(engine, actor, "RecordFinancingAgreement", data, idempotency_key, handle)


def amend_agreement(
    engine: Engine,
    *,
    actor: Actor,
    agreement: FinancingAgreement,
    idempotency_key: str | None = None,
) -> Receipt:
    """Record the next version of an agreement; what was delivered stays as it was."""
    validate_agreement(agreement)
    data = fc.agreement_to_dict(agreement)

    def handle(tx: LedgerTransaction) -> dict[str, Any]:
        previous = latest_version(tx.connection, agreement.agreement_id)
        authorize(
            actor,
            Command.AMEND_FINANCING_AGREEMENT,
            Target(party=actor.party, organisation_id=previous.financier_id),
        )
        check_amendment(previous, agreement)
        delivered = position(tx.connection, previous)
        tranche = agreement.terms.tranche_t
        if tranche is not None and tranche < delivered.delivered_t:
            raise refuse(
                FinanceReason.AMENDMENT_CONFLICT,
                f"agreement {agreement.agreement_id}: tranche {tranche:,} t is below the "
                f"{delivered.delivered_t:,} t already delivered",
            )
        paid = sum(
            (d.amount.amount for d in disbursements(tx.connection, agreement.agreement_id)), 0
        )
        if agreement.committed.amount < paid:
            raise refuse(
                FinanceReason.AMENDMENT_CONFLICT,
                f"agreement {agreement.agreement_id}: commitment {agreement.committed} is below "
                f"the {paid:,} {agreement.currency} already disbursed",
            )
        _check_account(tx, agreement)
        _insert_version(tx, agreement, "FinancingAgreementAmended")
        return {"agreement_id": agreement.agreement_id, "version": agreement.version}

    return execute(engine, actor, "AmendFinancingAgreement", data, idempotency_key, handle)


def record_disbursement(
    engine: Engine,
    *,
    actor: Actor,
    disbursement: Disbursement,
    idempotency_key: str | None = None,
) -> Receipt:
    """Record money actually paid out; never more than the commitment in force."""
    data = fc.disbursement_to_dict(disbursement)

    def handle(tx: LedgerTransaction) -> dict[str, Any]:
        versions = agreement_versions(tx.connection, disbursement.agreement_id)
        if not versions:
            raise refuse(
                FinanceReason.UNKNOWN_AGREEMENT,
                f"financing agreement {disbursement.agreement_id!r} does not exist",
            )
        authorize(
            actor,
            Command.RECORD_DISBURSEMENT,
            Target(party=actor.party, organisation_id=versions[-1].financier_id),
        )
        exists = tx.connection.execute(
            select(ft.finance_disbursements.c.disbursement_id).where(
                ft.finance_disbursements.c.disbursement_id == disbursement.disbursement_id
            )
        ).first()
        if exists is not None:
            raise refuse(
                FinanceReason.DUPLICATE_REFERENCE,
                f"disbursement {disbursement.disbursement_id} is already recorded",
            )
        earlier = disbursements(tx.connection, disbursement.agreement_id)
        check_disbursement(versions[-1], earlier, disbursement)
        appended = tx.append("DisbursementRecorded", None, {"disbursement": data})
        tx.connection.execute(
            insert(ft.finance_disbursements).values(
                disbursement_id=disbursement.disbursement_id,
                agreement_id=disbursement.agreement_id,
                disbursement_date=disbursement.disbursement_date,
                amount=str(disbursement.amount.amount),
                currency=disbursement.amount.currency,
                data=json.dumps(data, sort_keys=True),
                seq=appended.seq,
            )
        )
        return {"disbursement_id": disbursement.disbursement_id}

    return execute(engine, actor, "RecordDisbursement", data, idempotency_key, handle)


def record_exchange_rate(
    engine: Engine,
    *,
    actor: Actor,
    rate: ExchangeRate,
    idempotency_key: str | None = None,
) -> Receipt:
    """Add a dated rate; a pair has at most one rate per date and rates are never edited."""
    data = fc.rate_to_dict(rate)

    def handle(tx: LedgerTransaction) -> dict[str, Any]:
        authorize(actor, Command.RECORD_EXCHANGE_RATE, Target(party=actor.party))
        table = ft.finance_exchange_rates
        exists = tx.connection.execute(
            select(table.c.rate).where(
                (table.c.base == rate.base)
                & (table.c.quote == rate.quote)
                & (table.c.rate_date == rate.rate_date)
            )
        ).first()
        if exists is not None:
            raise refuse(
                FinanceReason.DUPLICATE_REFERENCE,
                f"a {rate.base}/{rate.quote} rate for {rate.rate_date} is already recorded",
            )
        appended = tx.append("ExchangeRateRecorded", None, {"rate": data})
        tx.connection.execute(
            insert(table).values(
                base=rate.base,
                quote=rate.quote,
                rate_date=rate.rate_date,
                rate=str(rate.rate),
                source=rate.source[:200],
                seq=appended.seq,
            )
        )
        return {"pair": f"{rate.base}/{rate.quote}", "rate_date": rate.rate_date.isoformat()}

    return execute(engine, actor, "RecordExchangeRate", data, idempotency_key, handle)


def record_delivery_in(
    tx: LedgerTransaction,
    *,
    agreement_id: str,
    vintage: int,
    quantity_t: int,
    delivery_date: date,
    reference: str,
) -> RecoveryEntry:
    """Record credits delivered to the financier, inside the caller's transaction.

    The caller (the issuance allocation) has authorized the issuance and moved
    the units into the agreement's delivery account; this values them under the
    version in force on `delivery_date` and journals `RecoveryDelivered`.
    """
    versions = agreement_versions(tx.connection, agreement_id)
    if not versions:
        raise refuse(
            FinanceReason.UNKNOWN_AGREEMENT, f"financing agreement {agreement_id!r} does not exist"
        )
    agreement = version_in_force(versions, delivery_date)
    duplicate = tx.connection.execute(
        select(ft.finance_recoveries.c.seq).where(
            (ft.finance_recoveries.c.agreement_id == agreement_id)
            & (ft.finance_recoveries.c.reference == reference)
        )
    ).first()
    if duplicate is not None:
        raise refuse(
            FinanceReason.DUPLICATE_REFERENCE,
            f"a delivery with reference {reference!r} is already recorded for {agreement_id}",
        )
    _check_backed_by_units(tx.connection, agreement, vintage, quantity_t)
    entry = recovery_for_delivery(
        agreement,
        position(tx.connection, agreement),
        vintage,
        quantity_t,
        delivery_date,
        reference,
        exchange_rates(tx.connection),
    )
    data = fc.entry_to_dict(entry)
    appended = tx.append("RecoveryDelivered", None, {"recovery": data})
    tx.connection.execute(
        insert(ft.finance_recoveries).values(
            seq=appended.seq,
            agreement_id=agreement_id,
            version=entry.version,
            vintage=vintage,
            quantity_t=quantity_t,
            delivery_date=delivery_date,
            reference=reference,
            value_amount=str(entry.value.amount),
            currency=entry.value.currency,
            data=json.dumps(data, sort_keys=True),
        )
    )
    return entry


def recover_from_allocation(
    tx: LedgerTransaction,
    *,
    approach_id: str,
    vintage: int,
    quantity_t: int,
    account_id: str,
    delivery_date: date,
    reference: str,
) -> list[RecoveryEntry]:
    """Record what open agreements are due from `quantity_t` units just moved into
    `account_id`, in the allocation's transaction.

    Agreements repaid from `approach_id` into `account_id` take their due in
    order of effective date; units beyond what they are due stay with the
    account's holder. Returns the recovery entries recorded (none if no agreement
    is open).
    """
    left = quantity_t
    entries = []
    candidates = [
        a
        for a in open_agreements_for_approach(tx.connection, approach_id, delivery_date)
        if a.delivery_account == account_id and a.first_vintage <= vintage <= a.last_vintage
    ]
    for agreement in sorted(candidates, key=lambda a: (a.effective_from, a.agreement_id)):
        if left == 0:
            break
        due = financier_due_in(tx.connection, agreement.agreement_id, left, delivery_date)
        if due == 0:
            continue
        entries.append(
            record_delivery_in(
                tx,
                agreement_id=agreement.agreement_id,
                vintage=vintage,
                quantity_t=due,
                delivery_date=delivery_date,
                reference=reference,
            )
        )
        left -= due
    return entries


def recover_received_units(
    engine: Engine, *, actor: Actor, agreement_id: str, idempotency_key: str | None = None
) -> Receipt:
    """Catch up: record as recovery the units that reached the agreement's delivery
    account but were never recorded, vintage by vintage, up to what is due.

    For a delivery account that receives the financier's credits only (a
    programme account), or when deliveries were made by hand. Each vintage's
    delivery is dated and referenced by the last arrival of that vintage.
    """

    def handle(tx: LedgerTransaction) -> dict[str, Any]:
        agreement = latest_version(tx.connection, agreement_id)
        authorize(actor, Command.PERFORM_ISSUANCE, Target(party=agreement.host_party))
        if agreement.approach_id is None:
            return {"recorded": []}
        arrivals = units_received(tx.connection, agreement.delivery_account, agreement.approach_id)
        recorded = []
        for vintage in sorted({a.vintage for a in arrivals}):
            if not agreement.first_vintage <= vintage <= agreement.last_vintage:
                continue
            of_vintage = [a for a in arrivals if a.vintage == vintage]
            received = sum(a.quantity_t for a in of_vintage)
            already = sum(
                e.quantity_t
                for e in recovery_entries(tx.connection, agreement_id)
                if e.vintage == vintage
            )
            last = of_vintage[-1]
            if received <= already:
                continue
            due = financier_due_in(
                tx.connection, agreement_id, received - already, last.action_date
            )
            if due == 0:
                continue
            entry = record_delivery_in(
                tx,
                agreement_id=agreement_id,
                vintage=vintage,
                quantity_t=due,
                delivery_date=last.action_date,
                reference=f"journal:{last.seq} units received in {agreement.delivery_account}",
            )
            recorded.append(fc.entry_to_dict(entry))
        return {"recorded": recorded}

    request = {"agreement_id": agreement_id}
    return execute(engine, actor, "RecoverReceivedUnits", request, idempotency_key, handle)


def record_delivery(
    engine: Engine,
    *,
    actor: Actor,
    agreement_id: str,
    vintage: int,
    quantity_t: int,
    delivery_date: date,
    reference: str,
    idempotency_key: str | None = None,
) -> Receipt:
    """Record a delivery on its own: the host Party's registry administrator only."""
    request = {
        "agreement_id": agreement_id,
        "vintage": vintage,
        "quantity_t": quantity_t,
        "delivery_date": delivery_date.isoformat(),
        "reference": reference,
    }

    def handle(tx: LedgerTransaction) -> dict[str, Any]:
        host = latest_version(tx.connection, agreement_id).host_party
        authorize(actor, Command.PERFORM_ISSUANCE, Target(party=host))
        entry = record_delivery_in(
            tx,
            agreement_id=agreement_id,
            vintage=vintage,
            quantity_t=quantity_t,
            delivery_date=delivery_date,
            reference=reference,
        )
        return fc.entry_to_dict(entry)

    return execute(engine, actor, "RecordRecoveryDelivery", request, idempotency_key, handle)
