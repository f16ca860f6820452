"""Checks of each action against the authorization version in force.

Each function raises `ActionRefused` with the first rule that fails, in the
order of `RejectionCode`, or returns quietly. They are pure: the service layer
loads what they need and calls them before it changes anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

from article6.domain.errors import ActionRefused, RejectionCode
from article6.domain.model import AuthorizationVersion, Block, FirstTransferDefinition, Purpose


def version_in_force(versions: Iterable[AuthorizationVersion], on: date) -> AuthorizationVersion:
    """The latest version whose `effective_from` is on or before `on`."""
    candidates = [v for v in versions if v.effective_from <= on]
    if not candidates:
        raise ActionRefused(
            RejectionCode.AUTHORIZATION_NOT_IN_FORCE, f"no authorization version in force on {on}"
        )
    return max(candidates, key=lambda v: v.version)


def check_new_version(
    previous: AuthorizationVersion | None,
    new: AuthorizationVersion,
    already_first_transferred_t: int,
) -> None:
    """A new version must follow the last one and keep what was already first transferred."""
    expected = 1 if previous is None else previous.version + 1
    if new.version != expected:
        raise ActionRefused(
            RejectionCode.VERSION_NOT_INCREASING,
            f"authorization {new.authorization_id} version {new.version} given, "
            f"{expected} expected",
        )
    if previous is not None:
        if new.approach_id != previous.approach_id:
            raise ActionRefused(
                RejectionCode.AUTHORIZATION_APPROACH_MISMATCH,
                f"version {new.version} names approach {new.approach_id}, "
                f"earlier versions {previous.approach_id}",
            )
        if new.effective_from < previous.effective_from:
            raise ActionRefused(
                RejectionCode.VERSION_NOT_INCREASING,
                f"version {new.version} takes effect {new.effective_from}, "
                f"before version {previous.version} ({previous.effective_from})",
            )
    if new.quantity_cap_t < 0 or any(c < 0 for c in new.purpose_caps_t.values()):
        raise ActionRefused(RejectionCode.INVALID_QUANTITY, "authorized quantities must be >= 0")
    if new.vintage_from > new.vintage_to or new.use_from > new.use_to:
        raise ActionRefused(
            RejectionCode.VINTAGE_OUTSIDE_AUTHORIZED_TIMEFRAME, "authorized timeframe is empty"
        )
    if Purpose.OIMP in new.purposes and new.oimp_first_transfer is None:
        raise ActionRefused(
            RejectionCode.OIMP_FIRST_TRANSFER_DEFINITION,
            "an authorization for OIMP must define the first transfer "
            "(Authorization, Issuance or Use or cancellation)",
        )
    if not new.revoked and new.quantity_cap_t < already_first_transferred_t:
        raise ActionRefused(
            RejectionCode.AUTHORIZED_QUANTITY_EXCEEDED,
            f"cap {new.quantity_cap_t} t is below the {already_first_transferred_t} t "
            "already first transferred; a new version cannot undo a first transfer",
        )


def check_issuance(
    authorization: AuthorizationVersion | None, approach_id: str, vintage: int
) -> None:
    if authorization is None:
        return
    _check_live(authorization, approach_id)
    _check_vintage(authorization, vintage)


def check_first_transfer(
    authorization: AuthorizationVersion,
    block: Block,
    purpose: Purpose,
    acquiring_party: str | None,
    entity: str | None,
    usage_t: Mapping[Purpose, int],
    quantity_t: int,
) -> None:
    """Rules for making units ITMOs: purpose, vintage, acquirer, entity, caps.

    `usage_t` holds what was already first transferred under the authorization,
    per purpose, before this action.
    """
    _check_live(authorization, block.approach_id)
    _check_purpose(authorization, purpose)
    _check_vintage(authorization, block.vintage)
    if acquiring_party is not None and acquiring_party not in authorization.acquiring_parties:
        raise ActionRefused(
            RejectionCode.ACQUIRING_PARTY_NOT_AUTHORIZED,
            f"Party {acquiring_party} is not an authorized acquiring Party of "
            f"{authorization.authorization_id} v{authorization.version}",
        )
    _check_entity(authorization, entity)
    purpose_cap = authorization.purpose_caps_t.get(purpose, 0)
    used_for_purpose = usage_t.get(purpose, 0)
    if used_for_purpose + quantity_t > purpose_cap:
        raise ActionRefused(
            RejectionCode.AUTHORIZED_QUANTITY_EXCEEDED,
            f"first transfer of {quantity_t} t for {purpose} would exceed the authorized "
            f"{purpose_cap} t ({used_for_purpose} t already first transferred)",
        )
    total = sum(usage_t.values())
    if total + quantity_t > authorization.quantity_cap_t:
        raise ActionRefused(
            RejectionCode.AUTHORIZED_QUANTITY_EXCEEDED,
            f"first transfer of {quantity_t} t would exceed the authorized quantity "
            f"{authorization.quantity_cap_t} t ({total} t already first transferred)",
        )


def check_oimp_first_transfer_event(
    authorization: AuthorizationVersion, event: FirstTransferDefinition
) -> None:
    if authorization.oimp_first_transfer is not event:
        raise ActionRefused(
            RejectionCode.OIMP_FIRST_TRANSFER_DEFINITION,
            f"authorization {authorization.authorization_id} defines the OIMP first transfer as "
            f"{authorization.oimp_first_transfer}, not {event.value}",
        )


def check_use(
    authorization: AuthorizationVersion,
    block: Block,
    purpose: Purpose,
    use_year: int | None,
    using_party: str,
    entity: str | None,
) -> None:
    """Rules for using ITMOs: purpose, use timeframe, using Party, entity.

    Revocation does not stop the use of units first transferred before it.
    """
    if authorization.approach_id != block.approach_id:
        raise ActionRefused(
            RejectionCode.AUTHORIZATION_APPROACH_MISMATCH,
            f"units of {block.approach_id} cannot be used under {authorization.approach_id}",
        )
    _check_purpose(authorization, purpose)
    if use_year is not None and not authorization.use_from <= use_year <= authorization.use_to:
        raise ActionRefused(
            RejectionCode.USE_OUTSIDE_AUTHORIZED_TIMEFRAME,
            f"use for {use_year} is outside the authorized use timeframe "
            f"{authorization.use_from}-{authorization.use_to}",
        )
    if purpose is Purpose.NDC and using_party not in authorization.acquiring_parties:
        raise ActionRefused(
            RejectionCode.ACQUIRING_PARTY_NOT_AUTHORIZED,
            f"Party {using_party} is not authorized to use these ITMOs towards its NDC",
        )
    _check_entity(authorization, entity)


def _check_live(authorization: AuthorizationVersion, approach_id: str) -> None:
    if authorization.approach_id != approach_id:
        raise ActionRefused(
            RejectionCode.AUTHORIZATION_APPROACH_MISMATCH,
            f"authorization {authorization.authorization_id} is for {authorization.approach_id}, "
            f"not {approach_id}",
        )
    if authorization.revoked:
        raise ActionRefused(
            RejectionCode.AUTHORIZATION_REVOKED,
            f"authorization {authorization.authorization_id} was revoked in version "
            f"{authorization.version}",
        )


def _check_purpose(authorization: AuthorizationVersion, purpose: Purpose) -> None:
    if purpose not in authorization.purposes:
        allowed = ", ".join(p.value for p in authorization.purposes) or "none"
        raise ActionRefused(
            RejectionCode.PURPOSE_NOT_AUTHORIZED,
            f"purpose {purpose.value} is not authorized by {authorization.authorization_id} "
            f"v{authorization.version} (authorized: {allowed})",
        )


def _check_vintage(authorization: AuthorizationVersion, vintage: int) -> None:
    if not authorization.vintage_from <= vintage <= authorization.vintage_to:
        raise ActionRefused(
            RejectionCode.VINTAGE_OUTSIDE_AUTHORIZED_TIMEFRAME,
            f"vintage {vintage} is outside the authorized timeframe "
            f"{authorization.vintage_from}-{authorization.vintage_to}",
        )


def _check_entity(authorization: AuthorizationVersion, entity: str | None) -> None:
    if entity is not None and entity not in authorization.entities:
        raise ActionRefused(
            RejectionCode.ENTITY_NOT_AUTHORIZED,
            f"entity {entity} is not authorized by {authorization.authorization_id} "
            f"v{authorization.version}",
        )
