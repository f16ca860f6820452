"""Plain, immutable records of the registry.

Everything the ledger knows is one of these frozen dataclasses; a change is a
new value made with `dataclasses.replace`, never a mutation. The database
tables mirror them, and the journal's payloads are built from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class AccountKind(StrEnum):
    HOLDING = "holding"
    PENDING = "pending"  # mitigation outcomes issued but not yet first transferred
    NDC_USE = "ndc_use"
    OIMP_USE = "oimp_use"
    VOLUNTARY_CANCELLATION = "voluntary_cancellation"
    OMGE_CANCELLATION = "omge_cancellation"
    OTHER_CANCELLATION = "other_cancellation"
    ADAPTATION_FUND = "adaptation_fund"


RETIREMENT_KINDS = frozenset(
    {
        AccountKind.NDC_USE,
        AccountKind.OIMP_USE,
        AccountKind.VOLUNTARY_CANCELLATION,
        AccountKind.OMGE_CANCELLATION,
        AccountKind.OTHER_CANCELLATION,
    }
)


class Purpose(StrEnum):
    NDC = "NDC"
    OIMP = "OIMP"
    IMP = "IMP"
    OP = "OP"


class FirstTransferDefinition(StrEnum):
    """When units authorized for other international mitigation purposes become ITMOs."""

    AUTHORIZATION = "Authorization"
    ISSUANCE = "Issuance"
    USE_OR_CANCELLATION = "Use or cancellation"


class BlockState(StrEnum):
    HELD = "held"
    USED = "used"
    CANCELLED = "cancelled"
    SPLIT = "split"  # replaced by two children; kept for lineage


class Metric(StrEnum):
    GHG = "GHG"
    NON_GHG = "non-GHG"


class MitigationType(StrEnum):
    EMISSION_REDUCTIONS = "Emission reductions"
    REMOVALS = "Removals"
    BOTH = "Emission reductions and removals"


@dataclass(frozen=True)
class Party:
    code: str
    name: str


@dataclass(frozen=True)
class Registry:
    registry_id: str
    party: str
    name: str
    public_key_hex: str


@dataclass(frozen=True)
class Entity:
    entity_id: str
    name: str
    country: str
    identification_number: str


@dataclass(frozen=True)
class Account:
    account_id: str
    registry_id: str
    kind: AccountKind
    holder: str  # a Party code or an entity ID
    name: str


@dataclass(frozen=True)
class Approach:
    approach_id: str
    name: str
    host_party: str
    participating_parties: tuple[str, ...]
    sectors: tuple[str, ...] = ("Transportation",)
    activity_types: tuple[str, ...] = ("Transport",)
    mitigation_type: MitigationType = MitigationType.EMISSION_REDUCTIONS


@dataclass(frozen=True)
class AuthorizationVersion:
    """One version of a Letter of Authorization, in force from `effective_from`.

    `purpose_caps_t` limits first transfers per purpose; `quantity_cap_t` limits
    them all together. A new version never undoes what an earlier one allowed
    to be first transferred.
    """

    authorization_id: str
    version: int
    approach_id: str
    authorizing_party: str
    authorization_date: date
    effective_from: date
    quantity_cap_t: int
    purpose_caps_t: dict[Purpose, int]
    acquiring_parties: tuple[str, ...]
    entities: tuple[str, ...]
    vintage_from: int
    vintage_to: int
    use_from: int
    use_to: int
    metric: Metric = Metric.GHG
    gwp: str = "AR5 GWP100"
    oimp_named: str = ""
    oimp_first_transfer: FirstTransferDefinition | None = None
    terms: str = ""
    revoked: bool = False
    reason: str = ""

    @property
    def purposes(self) -> tuple[Purpose, ...]:
        """The purposes authorized: those with a cap."""
        return tuple(sorted(self.purpose_caps_t))


@dataclass(frozen=True)
class Issuance:
    issuance_id: int
    approach_id: str
    registry_id: str
    vintage: int
    quantity_t: int
    first_serial: int
    last_serial: int
    authorization_id: str | None
    underlying_registry: str | None = None
    underlying_first: int | None = None


@dataclass(frozen=True)
class Block:
    """A contiguous range of serials `[first, last]` that share every attribute.

    The ITMO attributes of the identifier (approach, originating registry, first
    transferring Party, vintage) never change; state, account and first-transfer
    facts change by replacing the block.
    """

    block_id: int
    issuance_id: int
    parent_id: int | None
    first: int
    last: int
    account_id: str
    state: BlockState
    approach_id: str
    originating_registry: str
    first_transferring_party: str
    vintage: int
    metric: Metric
    mitigation_type: MitigationType
    authorization_id: str | None
    authorization_version: int | None
    first_transferred: bool
    purpose: Purpose | None = None
    use_year: int | None = None
    underlying_registry: str | None = None
    underlying_first: int | None = None

    @property
    def quantity_t(self) -> int:
        return self.last - self.first + 1

    @property
    def underlying_last(self) -> int | None:
        if self.underlying_first is None:
            return None
        return self.underlying_first + self.quantity_t - 1
