"""Allocation of issuances: both reported variants of the reference case, exact to the tonne."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from article6.domain.allocation import AllocationRules, Recipient, RemainderTo, allocate
from article6.domain.errors import ActionRefused

# Ten vintages of uneven size adding up to the announced 680,000 t.
VINTAGES = [31_234, 45_678, 52_001, 60_999, 67_890, 70_123, 75_555, 80_321, 90_777, 105_422]


def run(
    rules: AllocationRules, sizes: list[int]
) -> tuple[list[dict[Recipient, int]], dict[Recipient, int]]:
    totals: dict[Recipient, int] = {}
    per_issuance = []
    for quantity in sizes:
        parts = allocate(rules, quantity, totals)
        per_issuance.append(parts)
        for recipient, part in parts.items():
            totals[recipient] = totals.get(recipient, 0) + part
    return per_issuance, totals


def test_vintages_add_up_to_the_announced_total() -> None:
    assert sum(VINTAGES) == 680_000


def test_korean_press_variant_ten_percent_host_400k_korea_rest_developer() -> None:
    rules = AllocationRules(host_share=Fraction(1, 10), acquirer_cap_t=400_000)
    per_issuance, totals = run(rules, VINTAGES)
    assert totals[Recipient.HOST] == 68_000
    assert totals[Recipient.ACQUIRER] == 400_000
    assert totals[Recipient.REMAINDER] == 212_000
    # Korea takes everything after Cambodia's share until its cap is reached ...
    assert per_issuance[0] == {
        Recipient.ADAPTATION_FUND: 0,
        Recipient.OMGE: 0,
        Recipient.HOST: 3_123,
        Recipient.ACQUIRER: 28_111,
        Recipient.REMAINDER: 0,
    }
    # ... which happens in the eighth vintage; afterwards the developer gets the rest.
    korea = [p[Recipient.ACQUIRER] for p in per_issuance]
    assert korea[7] == 36_868 < VINTAGES[7] - per_issuance[7][Recipient.HOST]
    assert korea[8:] == [0, 0]
    assert per_issuance[9][Recipient.REMAINDER] == VINTAGES[9] - per_issuance[9][Recipient.HOST]
    assert all(sum(p.values()) == q for p, q in zip(per_issuance, VINTAGES, strict=True))


def test_press_release_variant_400_of_680_to_korea_rest_to_cambodia() -> None:
    rules = AllocationRules(
        host_share=Fraction(0),
        acquirer_share=Fraction(400, 680),
        acquirer_cap_t=400_000,
        remainder_to=RemainderTo.HOST,
    )
    per_issuance, totals = run(rules, VINTAGES)
    assert totals[Recipient.ACQUIRER] == 400_000
    assert totals[Recipient.REMAINDER] == 280_000
    # Cumulative rounding: after each issuance Korea holds floor(cumulative × 400/680).
    cumulative = 0
    delivered = 0
    for parts, quantity in zip(per_issuance, VINTAGES, strict=True):
        cumulative += quantity
        delivered += parts[Recipient.ACQUIRER]
        assert delivered == cumulative * 400 // 680


def test_share_of_proceeds_and_omge_come_off_the_top() -> None:
    rules = AllocationRules(
        host_share=Fraction(1, 10),
        acquirer_cap_t=400_000,
        share_of_proceeds=Fraction(5, 100),
        omge_share=Fraction(2, 100),
    )
    _, totals = run(rules, VINTAGES)
    assert totals[Recipient.ADAPTATION_FUND] == 34_000
    assert totals[Recipient.OMGE] == 13_600
    assert totals[Recipient.HOST] == (680_000 - 34_000 - 13_600) // 10
    assert sum(totals.values()) == 680_000


@pytest.mark.parametrize(
    "changes",
    [
        {"host_share": Fraction(11, 10)},
        {"acquirer_cap_t": -1},
        {"host_share": Fraction(6, 10), "acquirer_share": Fraction(5, 10)},
        {"share_of_proceeds": Fraction(8, 10), "omge_share": Fraction(3, 10)},
    ],
)
def test_impossible_rules_are_refused(changes: dict[str, object]) -> None:
    values: dict[str, object] = {"host_share": Fraction(1, 10), "acquirer_cap_t": 1}
    values.update(changes)
    with pytest.raises(ActionRefused):
        AllocationRules(**values)  # type: ignore[arg-type]


def test_rules_round_trip_as_plain_data() -> None:
    rules = AllocationRules(
        host_share=Fraction(1, 10),
        acquirer_share=Fraction(400, 680),
        acquirer_cap_t=5,
        remainder_to=RemainderTo.HOST,
        omge_share=Fraction(1, 50),
    )
    assert AllocationRules.from_dict(rules.to_dict()) == rules


shares = st.fractions(min_value=0, max_value=1, max_denominator=1000)


@given(
    sizes=st.lists(st.integers(min_value=1, max_value=200_000), min_size=1, max_size=12),
    host=shares,
    acquirer=st.one_of(st.none(), shares),
    cap=st.integers(min_value=0, max_value=1_000_000),
    sop=st.fractions(min_value=0, max_value=Fraction(1, 10), max_denominator=100),
    omge=st.fractions(min_value=0, max_value=Fraction(1, 10), max_denominator=100),
    remainder=st.sampled_from(RemainderTo),
)
def test_no_tonne_is_lost_or_created(
    sizes: list[int],
    host: Fraction,
    acquirer: Fraction | None,
    cap: int,
    sop: Fraction,
    omge: Fraction,
    remainder: RemainderTo,
) -> None:
    if acquirer is not None and host + acquirer > 1:
        acquirer = 1 - host
    rules = AllocationRules(
        host_share=host,
        acquirer_share=acquirer,
        acquirer_cap_t=cap,
        share_of_proceeds=sop,
        omge_share=omge,
        remainder_to=remainder,
    )
    per_issuance, totals = run(rules, sizes)
    for parts, quantity in zip(per_issuance, sizes, strict=True):
        assert sum(parts.values()) == quantity
        assert all(part >= 0 for part in parts.values())
    assert totals.get(Recipient.ACQUIRER, 0) <= cap
    total = sum(sizes)
    assert totals[Recipient.ADAPTATION_FUND] == total * sop.numerator // sop.denominator
    # OMGE may wait for a later issuance when both shares round up on a small one,
    # never by more than a tonne, and never ahead of its entitlement.
    omge_due = total * omge.numerator // omge.denominator
    assert omge_due - 1 <= totals[Recipient.OMGE] <= omge_due


def test_shares_rounding_up_together_never_take_tonnes_that_do_not_exist() -> None:
    rules = AllocationRules(
        host_share=Fraction(1, 10),
        acquirer_cap_t=400_000,
        share_of_proceeds=Fraction(5, 100),
        omge_share=Fraction(2, 100),
    )
    # At 100 t cumulated, 5 % and 2 % both reach a new whole tonne: a 1 t
    # issuance can carry only one of them, so OMGE takes its tonne next time.
    per_issuance, totals = run(rules, [99, 1, 1])
    assert per_issuance[1] == {
        Recipient.ADAPTATION_FUND: 1,
        Recipient.OMGE: 0,
        Recipient.HOST: 0,
        Recipient.ACQUIRER: 0,
        Recipient.REMAINDER: 0,
    }
    assert per_issuance[2][Recipient.OMGE] == 1
    assert totals[Recipient.ADAPTATION_FUND] == 5 and totals[Recipient.OMGE] == 2
    assert sum(totals.values()) == 101
