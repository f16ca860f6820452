"""Authorization checks: each rule refused with its own code, in order."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from article6.domain import rules
from article6.domain.errors import ActionRefused, RejectionCode
from article6.domain.journal import GENESIS_HASH, chain_hash, make_event
from article6.domain.model import FirstTransferDefinition, Purpose
from article6.services.reference_case import REFERENCE_LOA
from tests_support import make_block

LOA = REFERENCE_LOA


def refused(call: object, *args: object) -> RejectionCode:
    with pytest.raises(ActionRefused) as error:
        call(*args)  # type: ignore[operator]
    return error.value.code


def test_version_in_force_is_the_latest_effective_one() -> None:
    v2 = replace(LOA, version=2, effective_from=date(2026, 1, 1), quantity_cap_t=500_000)
    assert rules.version_in_force([LOA, v2], date(2025, 12, 31)).version == 1
    assert rules.version_in_force([LOA, v2], date(2026, 1, 1)).version == 2
    assert refused(rules.version_in_force, [LOA], date(2025, 7, 17)) is (
        RejectionCode.AUTHORIZATION_NOT_IN_FORCE
    )


def test_first_transfer_within_every_limit_passes() -> None:
    rules.check_first_transfer(LOA, make_block(), Purpose.NDC, "KOR", None, {}, 400_000)


@pytest.mark.parametrize(
    ("authorization", "block_changes", "purpose", "party", "entity", "usage", "quantity", "code"),
    [
        (
            replace(LOA, approach_id="CA0002"),
            {},
            Purpose.NDC,
            "KOR",
            None,
            {},
            1,
            RejectionCode.AUTHORIZATION_APPROACH_MISMATCH,
        ),
        (
            replace(LOA, revoked=True),
            {},
            Purpose.NDC,
            "KOR",
            None,
            {},
            1,
            RejectionCode.AUTHORIZATION_REVOKED,
        ),
        (LOA, {}, Purpose.OIMP, "KOR", None, {}, 1, RejectionCode.PURPOSE_NOT_AUTHORIZED),
        (
            LOA,
            {"vintage": 2035},
            Purpose.NDC,
            "KOR",
            None,
            {},
            1,
            RejectionCode.VINTAGE_OUTSIDE_AUTHORIZED_TIMEFRAME,
        ),
        (
            LOA,
            {"vintage": 2024},
            Purpose.NDC,
            "KOR",
            None,
            {},
            1,
            RejectionCode.VINTAGE_OUTSIDE_AUTHORIZED_TIMEFRAME,
        ),
        (LOA, {}, Purpose.NDC, "JPN", None, {}, 1, RejectionCode.ACQUIRING_PARTY_NOT_AUTHORIZED),
        (LOA, {}, Purpose.NDC, "KOR", "OTHERCO", {}, 1, RejectionCode.ENTITY_NOT_AUTHORIZED),
        (
            LOA,
            {},
            Purpose.NDC,
            "KOR",
            None,
            {Purpose.NDC: 399_999},
            2,
            RejectionCode.AUTHORIZED_QUANTITY_EXCEEDED,
        ),
        (
            replace(LOA, quantity_cap_t=10),
            {},
            Purpose.NDC,
            "KOR",
            None,
            {},
            11,
            RejectionCode.AUTHORIZED_QUANTITY_EXCEEDED,
        ),
    ],
)
def test_first_transfer_refusals(
    authorization: object,
    block_changes: dict[str, object],
    purpose: Purpose,
    party: str,
    entity: str | None,
    usage: dict[Purpose, int],
    quantity: int,
    code: RejectionCode,
) -> None:
    block = make_block(**block_changes)
    assert (
        refused(
            rules.check_first_transfer,
            authorization,
            block,
            purpose,
            party,
            entity,
            usage,
            quantity,
        )
        is code
    )


def test_use_checks_use_window_and_using_party() -> None:
    block = make_block(first_transferred=True)
    rules.check_use(LOA, block, Purpose.NDC, 2030, "KOR", None)
    assert refused(rules.check_use, LOA, block, Purpose.NDC, 2036, "KOR", None) is (
        RejectionCode.USE_OUTSIDE_AUTHORIZED_TIMEFRAME
    )
    assert refused(rules.check_use, LOA, block, Purpose.NDC, 2030, "KHM", None) is (
        RejectionCode.ACQUIRING_PARTY_NOT_AUTHORIZED
    )
    # Revocation does not stop the use of units first transferred before it.
    rules.check_use(replace(LOA, revoked=True), block, Purpose.NDC, 2030, "KOR", None)


def test_new_versions_must_follow_and_never_undo_first_transfers() -> None:
    rules.check_new_version(None, LOA, 0)
    assert refused(rules.check_new_version, None, replace(LOA, version=2), 0) is (
        RejectionCode.VERSION_NOT_INCREASING
    )
    lower = replace(LOA, version=2, quantity_cap_t=30_000, purpose_caps_t={Purpose.NDC: 30_000})
    assert refused(rules.check_new_version, LOA, lower, 40_000) is (
        RejectionCode.AUTHORIZED_QUANTITY_EXCEEDED
    )
    rules.check_new_version(LOA, replace(lower, quantity_cap_t=40_000), 40_000)
    oimp = replace(LOA, version=2, purpose_caps_t={Purpose.NDC: 400_000, Purpose.OIMP: 1_000})
    assert refused(rules.check_new_version, LOA, oimp, 0) is (
        RejectionCode.OIMP_FIRST_TRANSFER_DEFINITION
    )
    rules.check_new_version(
        LOA, replace(oimp, oimp_first_transfer=FirstTransferDefinition.ISSUANCE), 0
    )


def test_hash_chain_changes_with_any_byte() -> None:
    first = make_event(
        1, "PartyRegistered", None, "a", "t", {"party": {"code": "KHM"}}, GENESIS_HASH
    )
    second = make_event(
        2, "PartyRegistered", None, "a", "t", {"party": {"code": "KOR"}}, first.hash
    )
    assert chain_hash(GENESIS_HASH, first.body) == first.hash
    tampered = make_event(
        1, "PartyRegistered", None, "a", "t", {"party": {"code": "KHN"}}, GENESIS_HASH
    )
    assert tampered.hash != first.hash
    assert chain_hash(tampered.hash, second.body) != second.hash
