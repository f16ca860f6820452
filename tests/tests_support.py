"""Small builders shared by the tests."""

from __future__ import annotations

from article6.domain.model import Block, BlockState, Metric, MitigationType
from article6.domain.permissions import Actor, Role


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


def operator_of(party: str) -> Actor:
    """A user of `party` holding every role: for tests about the ledger, not permissions."""
    return Actor(f"{party.lower()}-operator", f"{party}-AUTHORITY", party, frozenset(Role))


OPS = {party: operator_of(party) for party in ("KHM", "KOR")}


def acting_for(kwargs: dict[str, object]) -> Actor:
    """The operator of the Party whose registry an action starts from."""
    source = kwargs.get("from_account") or kwargs.get("registry_id") or "KHM"
    return OPS[str(source)[:3]]
