"""Replaying the finance events of the journal: content and projections.

`registry verify` checks that finance events sit unbroken on the hash chain;
this module checks what they say. It replays every finance event in journal
order, re-validates each agreement version and amendment, each disbursement
against the commitment, each exchange rate's uniqueness, and recomputes each
recovery delivery from the version in force and the rates known at that
point, which must give exactly the recorded entry. Finally the finance tables
must equal the replayed state. The first problem stops the replay and names
its event.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, select

from article6.domain import finance_codec as fc
from article6.domain.events import FINANCE_EVENTS
from article6.domain.finance import (
    Disbursement,
    FinancingAgreement,
    RecoveryEntry,
    check_amendment,
    check_disbursement,
    position_after,
    recovery_for_delivery,
    version_in_force,
)
from article6.domain.finance_money import ExchangeRate, FinanceRefused
from article6.store import finance_tables as ft
from article6.store import tables as t
from article6.store.database import read_connection


class FinanceMismatch(Exception):
    """The first finance event or projection row that does not check out."""


@dataclass
class FinanceVerifyReport:
    ok: bool
    events: int
    problem: str | None = None
    checks: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "problem": self.problem,
            "checks": self.checks,
        }


@dataclass
class _State:
    versions: dict[str, list[tuple[int, FinancingAgreement]]] = field(default_factory=dict)
    disbursements: dict[str, tuple[int, Disbursement]] = field(default_factory=dict)
    rates: dict[tuple[str, str, str], tuple[int, ExchangeRate]] = field(default_factory=dict)
    entries: dict[int, RecoveryEntry] = field(default_factory=dict)

    def agreement_versions(self, agreement_id: str) -> list[FinancingAgreement]:
        return [v for _, v in self.versions.get(agreement_id, [])]


def _apply(state: _State, seq: int, command: str, payload: dict[str, Any]) -> None:
    if command in ("FinancingAgreementRecorded", "FinancingAgreementAmended"):
        agreement = fc.agreement_from_dict(payload["agreement"])
        earlier = state.agreement_versions(agreement.agreement_id)
        if command == "FinancingAgreementRecorded" and (earlier or agreement.version != 1):
            raise FinanceMismatch(f"agreement {agreement.agreement_id} recorded twice")
        if command == "FinancingAgreementAmended":
            if not earlier:
                raise FinanceMismatch(f"amendment of unknown agreement {agreement.agreement_id}")
            check_amendment(earlier[-1], agreement)
        state.versions.setdefault(agreement.agreement_id, []).append((seq, agreement))
    elif command == "DisbursementRecorded":
        disbursement = fc.disbursement_from_dict(payload["disbursement"])
        versions = state.agreement_versions(disbursement.agreement_id)
        if not versions or disbursement.disbursement_id in state.disbursements:
            raise FinanceMismatch(f"disbursement {disbursement.disbursement_id} does not fit")
        paid = [
            d
            for _, d in state.disbursements.values()
            if d.agreement_id == disbursement.agreement_id
        ]
        check_disbursement(versions[-1], paid, disbursement)
        state.disbursements[disbursement.disbursement_id] = (seq, disbursement)
    elif command == "ExchangeRateRecorded":
        rate = fc.rate_from_dict(payload["rate"])
        key = (rate.base, rate.quote, rate.rate_date.isoformat())
        if key in state.rates:
            raise FinanceMismatch(f"{rate.base}/{rate.quote} rate of {key[2]} recorded twice")
        state.rates[key] = (seq, rate)
    elif command == "RecoveryDelivered":
        recorded = fc.entry_from_dict(payload["recovery"])
        versions = state.agreement_versions(recorded.agreement_id)
        if not versions:
            raise FinanceMismatch(f"delivery under unknown agreement {recorded.agreement_id}")
        agreement = version_in_force(versions, recorded.delivery_date)
        delivered = [e for e in state.entries.values() if e.agreement_id == recorded.agreement_id]
        recomputed = recovery_for_delivery(
            agreement,
            position_after(delivered, agreement.currency),
            recorded.vintage,
            recorded.quantity_t,
            recorded.delivery_date,
            recorded.reference,
            [r for _, r in state.rates.values()],
        )
        if recomputed != recorded:
            raise FinanceMismatch(
                f"recovery of {recorded.quantity_t:,} t ({recorded.reference}) does not "
                f"recompute: recorded {recorded.value}, recomputed {recomputed.value}"
            )
        state.entries[seq] = recorded


def _compare_tables(connection: Connection, state: _State) -> None:
    def rows(table: Any, *order: Any) -> list[Any]:
        return list(connection.execute(select(table).order_by(*order)).all())

    agreements = rows(
        ft.financing_agreements,
        ft.financing_agreements.c.agreement_id,
        ft.financing_agreements.c.version,
    )
    replayed = sorted(
        (a.agreement_id, a.version, seq, a)
        for versions in state.versions.values()
        for seq, a in versions
    )
    stored = [
        (r.agreement_id, r.version, r.seq, fc.agreement_from_dict(json.loads(r.data)))
        for r in agreements
    ]
    if stored != [(i, v, s, a) for i, v, s, a in replayed]:
        raise FinanceMismatch("financing_agreements differ from the replayed journal")
    disbursed = {
        r.disbursement_id: (r.seq, fc.disbursement_from_dict(json.loads(r.data)))
        for r in rows(ft.finance_disbursements, ft.finance_disbursements.c.seq)
    }
    if disbursed != state.disbursements:
        raise FinanceMismatch("finance_disbursements differ from the replayed journal")
    rates = {
        (r.base, r.quote, r.rate_date.isoformat()): (r.seq, r.rate, r.source)
        for r in rows(ft.finance_exchange_rates, ft.finance_exchange_rates.c.seq)
    }
    expected_rates = {
        key: (seq, str(rate.rate), rate.source[:200]) for key, (seq, rate) in state.rates.items()
    }
    if rates != expected_rates:
        raise FinanceMismatch("finance_exchange_rates differ from the replayed journal")
    entries = {
        r.seq: fc.entry_from_dict(json.loads(r.data))
        for r in rows(ft.finance_recoveries, ft.finance_recoveries.c.seq)
    }
    if entries != state.entries:
        raise FinanceMismatch("finance_recoveries differ from the replayed journal")


def verify_finance(engine: Engine) -> FinanceVerifyReport:
    """Replay and check every finance event, then compare the finance tables."""
    state = _State()
    events = 0
    try:
        with read_connection(engine) as connection:
            journal = connection.execute(
                select(t.journal.c.seq, t.journal.c.command, t.journal.c.body)
                .where(t.journal.c.command.in_(sorted(FINANCE_EVENTS)))
                .order_by(t.journal.c.seq)
            )
            for seq, command, body in journal:
                try:
                    _apply(state, seq, command, json.loads(body)["payload"])
                except (FinanceRefused, FinanceMismatch, KeyError, ValueError) as exc:
                    raise FinanceMismatch(f"event {seq} ({command}): {exc}") from exc
                events += 1
            _compare_tables(connection, state)
    except FinanceMismatch as problem:
        return FinanceVerifyReport(False, events, str(problem))
    return FinanceVerifyReport(
        True,
        events,
        checks=[
            f"{events} finance events re-validated",
            f"{len(state.entries)} recovery deliveries recomputed",
            "finance tables match the replayed journal",
        ],
    )
