"""Small builders shared by the tests."""

from __future__ import annotations

from article6.domain.model import Block, BlockState, Metric, MitigationType


def make_block(block_id: int = 1, first: int = 1, last: int = 100, **changes: object) -> Block:
    values: dict[str, object] = dict(
        block_id=block_id,
        issuance_id=1,
        parent_id=None,
        first=first,
        last=last,
        account_id="KHM01-PENDING",
        state=BlockState.HELD,
        approach_id="CA0001",
        originating_registry="KHM01",
        first_transferring_party="KHM",
        vintage=2025,
        metric=Metric.GHG,
        mitigation_type=MitigationType.EMISSION_REDUCTIONS,
        authorization_id="LOA-1",
        authorization_version=None,
        first_transferred=False,
        underlying_registry="VCS",
        underlying_first=5001,
    )
    values.update(changes)
    return Block(**values)  # type: ignore[arg-type]
