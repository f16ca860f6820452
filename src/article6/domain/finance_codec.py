"""Plain-dict forms of finance records, for the journal, the tables and input files.

Amounts, prices, shares and rates travel as decimal strings so nothing is ever
rounded through a float; dates as ISO strings. Reading a dict names the field
that is missing or malformed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from article6.domain.finance import (
    Disbursement,
    FinancingAgreement,
    RecoveryEntry,
    RecoveryTerms,
    ScheduledDisbursement,
    validate_agreement,
)
from article6.domain.finance_money import ExchangeRate, FinanceReason, Money, parse_decimal, refuse


def _field(data: Mapping[str, Any], name: str, where: str) -> Any:
    if name not in data:
        raise refuse(FinanceReason.INVALID_FIELD, f"{where}: {name} is missing")
    return data[name]


def _date(value: Any, name: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise refuse(FinanceReason.INVALID_FIELD, f"{name}: {value!r} is not a date") from exc


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise refuse(FinanceReason.INVALID_FIELD, f"{name}: {value!r} is not a whole number")
    return value


def _money(value: Any, name: str) -> Money:
    if not isinstance(value, Mapping) or "amount" not in value or "currency" not in value:
        raise refuse(FinanceReason.INVALID_FIELD, f"{name}: give an amount and a currency")
    return Money(parse_decimal(value["amount"], name), str(value["currency"]))


def _optional_decimal(value: Any, name: str) -> Decimal | None:
    return None if value is None else parse_decimal(value, name)


def agreement_to_dict(a: FinancingAgreement) -> dict[str, Any]:
    return {
        "agreement_id": a.agreement_id,
        "version": a.version,
        "effective_from": a.effective_from.isoformat(),
        "financier_id": a.financier_id,
        "financier_name": a.financier_name,
        "recipient": a.recipient,
        "project_id": a.project_id,
        "project_name": a.project_name,
        "host_party": a.host_party,
        "sector": a.sector,
        "currency": a.currency,
        "committed": a.committed.to_dict(),
        "terms": {
            "price_per_t": a.terms.price_per_t.to_dict(),
            "tranche_t": a.terms.tranche_t,
            "share_of_issuance": (
                None if a.terms.share_of_issuance is None else str(a.terms.share_of_issuance)
            ),
            "recovery_amount": (
                None if a.terms.recovery_amount is None else a.terms.recovery_amount.to_dict()
            ),
        },
        "delivery_account": a.delivery_account,
        "first_vintage": a.first_vintage,
        "last_vintage": a.last_vintage,
        "expected_delivery_t": [[v, t] for v, t in a.expected_delivery_t],
        "disbursement_schedule": [
            {"due_date": i.due_date.isoformat(), "amount": i.amount.to_dict()}
            for i in a.disbursement_schedule
        ],
        "discount_rate": None if a.discount_rate is None else str(a.discount_rate),
        "approach_id": a.approach_id,
        "authorization_id": a.authorization_id,
        "amendment_reason": a.amendment_reason,
        "notes": a.notes,
    }


def agreement_from_dict(data: Mapping[str, Any]) -> FinancingAgreement:
    """Read and validate an agreement version; errors name the field."""
    where = f"agreement {data.get('agreement_id', '?')!r}"
    terms = _field(data, "terms", where)
    if not isinstance(terms, Mapping):
        raise refuse(FinanceReason.INVALID_FIELD, f"{where}: terms must be a table")
    tranche = terms.get("tranche_t")
    recovery_amount = terms.get("recovery_amount")
    agreement = FinancingAgreement(
        agreement_id=str(_field(data, "agreement_id", where)),
        version=_int(data.get("version", 1), "version"),
        effective_from=_date(_field(data, "effective_from", where), "effective_from"),
        financier_id=str(_field(data, "financier_id", where)),
        financier_name=str(data.get("financier_name", "")),
        recipient=str(_field(data, "recipient", where)),
        project_id=str(_field(data, "project_id", where)),
        project_name=str(data.get("project_name", "")),
        host_party=str(_field(data, "host_party", where)),
        sector=str(_field(data, "sector", where)),
        currency=str(_field(data, "currency", where)),
        committed=_money(_field(data, "committed", where), "committed"),
        terms=RecoveryTerms(
            price_per_t=_money(_field(terms, "price_per_t", where), "terms.price_per_t"),
            tranche_t=None if tranche is None else _int(tranche, "terms.tranche_t"),
            share_of_issuance=_optional_decimal(
                terms.get("share_of_issuance"), "terms.share_of_issuance"
            ),
            recovery_amount=(
                None
                if recovery_amount is None
                else _money(recovery_amount, "terms.recovery_amount")
            ),
        ),
        delivery_account=str(_field(data, "delivery_account", where)),
        first_vintage=_int(_field(data, "first_vintage", where), "first_vintage"),
        last_vintage=_int(_field(data, "last_vintage", where), "last_vintage"),
        expected_delivery_t=tuple(
            (_int(pair[0], "expected_delivery_t"), _int(pair[1], "expected_delivery_t"))
            for pair in data.get("expected_delivery_t", ())
        ),
        disbursement_schedule=tuple(
            ScheduledDisbursement(
                _date(item.get("due_date"), "disbursement_schedule.due_date"),
                _money(item.get("amount"), "disbursement_schedule.amount"),
            )
            for item in data.get("disbursement_schedule", ())
        ),
        discount_rate=_optional_decimal(data.get("discount_rate"), "discount_rate"),
        approach_id=data.get("approach_id"),
        authorization_id=data.get("authorization_id"),
        amendment_reason=str(data.get("amendment_reason", "")),
        notes=str(data.get("notes", "")),
    )
    return validate_agreement(agreement)


def disbursement_to_dict(d: Disbursement) -> dict[str, Any]:
    return {
        "disbursement_id": d.disbursement_id,
        "agreement_id": d.agreement_id,
        "disbursement_date": d.disbursement_date.isoformat(),
        "amount": d.amount.to_dict(),
        "note": d.note,
    }


def disbursement_from_dict(data: Mapping[str, Any]) -> Disbursement:
    return Disbursement(
        disbursement_id=str(data["disbursement_id"]),
        agreement_id=str(data["agreement_id"]),
        disbursement_date=_date(data["disbursement_date"], "disbursement_date"),
        amount=_money(data["amount"], "amount"),
        note=str(data.get("note", "")),
    )


def rate_to_dict(r: ExchangeRate) -> dict[str, Any]:
    return {
        "base": r.base,
        "quote": r.quote,
        "rate_date": r.rate_date.isoformat(),
        "rate": str(r.rate),
        "source": r.source,
    }


def rate_from_dict(data: Mapping[str, Any]) -> ExchangeRate:
    return ExchangeRate(
        base=str(data["base"]),
        quote=str(data["quote"]),
        rate_date=_date(data["rate_date"], "rate_date"),
        rate=parse_decimal(data["rate"], "rate"),
        source=str(data.get("source", "")),
    )


def entry_to_dict(e: RecoveryEntry) -> dict[str, Any]:
    return {
        "agreement_id": e.agreement_id,
        "version": e.version,
        "vintage": e.vintage,
        "quantity_t": e.quantity_t,
        "delivery_date": e.delivery_date.isoformat(),
        "reference": e.reference,
        "price_per_t": e.price_per_t.to_dict(),
        "value_at_price": e.value_at_price.to_dict(),
        "value": e.value.to_dict(),
        "rate": None if e.rate is None else str(e.rate),
        "rate_date": None if e.rate_date is None else e.rate_date.isoformat(),
        "delivered_after_t": e.delivered_after_t,
        "recovered_after": e.recovered_after.to_dict(),
        "outstanding_balance": e.outstanding_balance.to_dict(),
        "remaining_t": e.remaining_t,
        "complete": e.complete,
    }


def entry_from_dict(data: Mapping[str, Any]) -> RecoveryEntry:
    return RecoveryEntry(
        agreement_id=str(data["agreement_id"]),
        version=_int(data["version"], "version"),
        vintage=_int(data["vintage"], "vintage"),
        quantity_t=_int(data["quantity_t"], "quantity_t"),
        delivery_date=_date(data["delivery_date"], "delivery_date"),
        reference=str(data["reference"]),
        price_per_t=_money(data["price_per_t"], "price_per_t"),
        value_at_price=_money(data["value_at_price"], "value_at_price"),
        value=_money(data["value"], "value"),
        rate=_optional_decimal(data.get("rate"), "rate"),
        rate_date=None if data.get("rate_date") is None else _date(data["rate_date"], "rate_date"),
        delivered_after_t=_int(data["delivered_after_t"], "delivered_after_t"),
        recovered_after=_money(data["recovered_after"], "recovered_after"),
        outstanding_balance=_money(data["outstanding_balance"], "outstanding_balance"),
        remaining_t=_int(data["remaining_t"], "remaining_t"),
        complete=bool(data["complete"]),
    )
