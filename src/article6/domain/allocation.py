"""Allocation of each issuance by the rules of the agreement, to the tonne.

Rules are evaluated in order on every issuance: share of proceeds to the
Adaptation Fund, cancellation for overall mitigation (OMGE), the host's share
(stays in the host Party, never an ITMO), the acquiring Party's tranche until
its cumulative cap, and the remainder to the developer or the host, as the rules say.

Shares are exact fractions applied to cumulative totals: each recipient's
cumulative allocation is floor(cumulative base × share), so rounding never
drifts across vintages, the shares converge exactly, and the remainder takes
whatever whole tonnes are left. Nothing is lost or created: the parts always
add up to the issuance.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from math import floor

from article6.domain.errors import ActionRefused, InvariantViolation, RejectionCode


class Recipient(StrEnum):
    ADAPTATION_FUND = "adaptation_fund"
    OMGE = "omge"
    HOST = "host"
    ACQUIRER = "acquirer"
    REMAINDER = "remainder"


class RemainderTo(StrEnum):
    DEVELOPER = "developer"
    HOST = "host"


@dataclass(frozen=True)
class AllocationRules:
    host_share: Fraction
    acquirer_cap_t: int
    acquirer_share: Fraction | None = None  # None: all that is left after the host, to the cap
    remainder_to: RemainderTo = RemainderTo.DEVELOPER
    share_of_proceeds: Fraction = Fraction(0)
    omge_share: Fraction = Fraction(0)

    def __post_init__(self) -> None:
        for name in ("host_share", "share_of_proceeds", "omge_share", "acquirer_share"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 1:
                raise ActionRefused(
                    RejectionCode.INVALID_ALLOCATION, f"{name} {value} must be between 0 and 1"
                )
        if self.share_of_proceeds + self.omge_share > 1:
            raise ActionRefused(
                RejectionCode.INVALID_ALLOCATION, "share of proceeds and OMGE exceed the issuance"
            )
        if self.host_share + (self.acquirer_share or 0) > 1:
            raise ActionRefused(
                RejectionCode.INVALID_ALLOCATION, "host and acquirer shares exceed 100 %"
            )
        if self.acquirer_cap_t < 0:
            raise ActionRefused(RejectionCode.INVALID_ALLOCATION, "acquirer cap must be >= 0")

    def to_dict(self) -> dict[str, object]:
        return {
            "host_share": str(self.host_share),
            "acquirer_cap_t": self.acquirer_cap_t,
            "acquirer_share": None if self.acquirer_share is None else str(self.acquirer_share),
            "remainder_to": self.remainder_to.value,
            "share_of_proceeds": str(self.share_of_proceeds),
            "omge_share": str(self.omge_share),
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> AllocationRules:
        acquirer_share = data.get("acquirer_share")
        return cls(
            host_share=Fraction(str(data["host_share"])),
            acquirer_cap_t=int(str(data["acquirer_cap_t"])),
            acquirer_share=None if acquirer_share is None else Fraction(str(acquirer_share)),
            remainder_to=RemainderTo(str(data.get("remainder_to", "developer"))),
            share_of_proceeds=Fraction(str(data.get("share_of_proceeds", "0"))),
            omge_share=Fraction(str(data.get("omge_share", "0"))),
        )


def allocate(
    rules: AllocationRules, quantity_t: int, before: dict[Recipient, int]
) -> dict[Recipient, int]:
    """Split one issuance, given what each recipient received from earlier issuances."""
    if quantity_t <= 0:
        raise ActionRefused(RejectionCode.INVALID_QUANTITY, "an issuance must be > 0 t")
    issued_before = sum(before.values())
    issued_after = issued_before + quantity_t

    def cumulative(share: Fraction, base: int) -> int:
        return floor(base * share)

    # Each share catches up on its cumulative entitlement, in the order of the
    # rules and never beyond what this issuance holds: when the share of
    # proceeds and OMGE both round up on a small issuance, OMGE waits for the
    # next one instead of taking tonnes that do not exist.
    parts: dict[Recipient, int] = {}
    proceeds_due = cumulative(rules.share_of_proceeds, issued_after) - before.get(
        Recipient.ADAPTATION_FUND, 0
    )
    parts[Recipient.ADAPTATION_FUND] = min(max(proceeds_due, 0), quantity_t)
    omge_due = cumulative(rules.omge_share, issued_after) - before.get(Recipient.OMGE, 0)
    parts[Recipient.OMGE] = min(max(omge_due, 0), quantity_t - parts[Recipient.ADAPTATION_FUND])
    net_after = (
        issued_after
        - cumulative(rules.share_of_proceeds, issued_after)
        - cumulative(rules.omge_share, issued_after)
    )
    net_now = quantity_t - parts[Recipient.ADAPTATION_FUND] - parts[Recipient.OMGE]
    host_now = min(
        max(cumulative(rules.host_share, net_after) - before.get(Recipient.HOST, 0), 0), net_now
    )
    available = net_now - host_now
    acquired_before = before.get(Recipient.ACQUIRER, 0)
    room = max(rules.acquirer_cap_t - acquired_before, 0)
    if rules.acquirer_share is None:
        wanted = available
    else:
        wanted = max(cumulative(rules.acquirer_share, net_after) - acquired_before, 0)
    parts[Recipient.ACQUIRER] = min(wanted, room, available)
    rest = available - parts[Recipient.ACQUIRER]
    parts[Recipient.HOST] = host_now
    parts[Recipient.REMAINDER] = rest
    check_allocation(parts, quantity_t)
    return parts


def check_allocation(parts: dict[Recipient, int], quantity_t: int) -> None:
    if any(q < 0 for q in parts.values()) or sum(parts.values()) != quantity_t:
        raise InvariantViolation(f"allocation {parts} does not add up to {quantity_t} t")
