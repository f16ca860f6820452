"""Properties of the recovery arithmetic over random issuance histories."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from article6.domain.finance import (
    RecoveryEntry,
    RecoveryPosition,
    financier_due_t,
    position_after,
    recovery_for_delivery,
)
from article6.domain.finance_analysis import recovery_ledger
from article6.domain.finance_money import Money
from article6.services.finance_reference import read_reference_file

REFERENCE = read_reference_file().agreement
ON = date(2030, 1, 1)

issuances = st.lists(st.integers(min_value=0, max_value=120_000), min_size=1, max_size=10)
shares = st.sampled_from(["0.5882", "0.9", "1", "0.1", "0.3333"])


@settings(max_examples=150, deadline=None)
@given(issuances, shares)
def test_cumulative_share_never_drifts_and_never_exceeds_the_tranche(
    amounts: list[int], share_text: str
) -> None:
    share = Decimal(share_text)
    agreement = replace(REFERENCE, terms=replace(REFERENCE.terms, share_of_issuance=share))
    delivered = offered = 0
    for amount in amounts:
        position = RecoveryPosition(delivered, Money.zero("KRW"))
        due = financier_due_t(agreement, position, amount, ON, available_before_t=offered)
        assert 0 <= due <= amount
        delivered += due
        offered += amount
        # Exactly floor(cumulative x share), capped by the tranche: no rounding drift
        expected = min(int((offered * share).to_integral_value(rounding="ROUND_FLOOR")), 400_000)
        assert delivered == expected


@settings(max_examples=150, deadline=None)
@given(issuances)
def test_recovered_value_and_balance_add_up(amounts: list[int]) -> None:
    entries: list[RecoveryEntry] = []
    for offset, amount in enumerate(amounts):
        position = position_after(entries, "KRW")
        due = financier_due_t(REFERENCE, position, amount, ON)
        if due == 0:
            continue
        vintage = 2025 + offset
        entries.append(
            recovery_for_delivery(
                REFERENCE, position, vintage, due, date(vintage + 1, 3, 1), f"issuance {offset}"
            )
        )
    delivered = sum(e.quantity_t for e in entries)
    assert delivered <= 400_000
    recovered = position_after(entries, "KRW").recovered
    assert recovered == Money(Decimal(delivered * 14_864), "KRW")
    if entries:
        last = entries[-1]
        assert last.outstanding_balance.amount == 5_945_600_000 - recovered.amount
        assert last.complete == (delivered == 400_000)
    ledger = recovery_ledger(REFERENCE, entries, 2034)
    assert sum(row.delivered_t for row in ledger) == delivered
    assert ledger[-1].cumulative_recovered == recovered
    assert all(row.shortfall_t == max(row.expected_t - row.delivered_t, 0) for row in ledger)
