"""Typed refusals and invariant violations.

A refused action names the rule it broke with a `RejectionCode`; codes are
listed in the order in which the rules are checked, so the same bad request
always gets the same answer. `InvariantViolation` is different: it means the
ledger itself is inconsistent, which must never happen and is never caught to
carry on.
"""

from __future__ import annotations

from enum import StrEnum


class RejectionCode(StrEnum):
    PERMISSION_DENIED = "permission_denied"
    INVALID_TRANSITION = "invalid_transition"
    INVALID_REVIEW = "invalid_review"
    INVALID_ALLOCATION = "invalid_allocation"
    AUTHENTICATION_FAILED = "authentication_failed"
    # Identity and reference checks
    INVALID_IDENTIFIER = "invalid_identifier"
    INVALID_QUANTITY = "invalid_quantity"
    UNKNOWN_PARTY = "unknown_party"
    UNKNOWN_REGISTRY = "unknown_registry"
    UNKNOWN_ACCOUNT = "unknown_account"
    UNKNOWN_APPROACH = "unknown_approach"
    UNKNOWN_AUTHORIZATION = "unknown_authorization"
    UNKNOWN_ENTITY = "unknown_entity"
    ALREADY_EXISTS = "already_exists"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    # Account checks
    ACCOUNT_KIND_NOT_ALLOWED = "account_kind_not_allowed"
    ACCOUNT_REGISTRY_MISMATCH = "account_registry_mismatch"
    SAME_ACCOUNT = "same_account"
    # Authorization checks, in the order they are applied
    AUTHORIZATION_APPROACH_MISMATCH = "authorization_approach_mismatch"
    AUTHORIZATION_NOT_IN_FORCE = "authorization_not_in_force"
    AUTHORIZATION_REVOKED = "authorization_revoked"
    PURPOSE_NOT_AUTHORIZED = "purpose_not_authorized"
    VINTAGE_OUTSIDE_AUTHORIZED_TIMEFRAME = "vintage_outside_authorized_timeframe"
    USE_OUTSIDE_AUTHORIZED_TIMEFRAME = "use_outside_authorized_timeframe"
    ACQUIRING_PARTY_NOT_AUTHORIZED = "acquiring_party_not_authorized"
    ENTITY_NOT_AUTHORIZED = "entity_not_authorized"
    AUTHORIZED_QUANTITY_EXCEEDED = "authorized_quantity_exceeded"
    OIMP_FIRST_TRANSFER_DEFINITION = "oimp_first_transfer_definition"
    VERSION_NOT_INCREASING = "version_not_increasing"
    # Unit state checks
    NOT_FIRST_TRANSFERRED = "not_first_transferred"
    ALREADY_FIRST_TRANSFERRED = "already_first_transferred"
    NOT_AUTHORIZED_UNITS = "not_authorized_units"
    INSUFFICIENT_UNITS = "insufficient_units"
    UNITS_RETIRED = "units_retired"
    SERIAL_RANGE_INVALID = "serial_range_invalid"
    UNDERLYING_RANGE_MISMATCH = "underlying_range_mismatch"


class ActionRefused(Exception):
    """A command broke a rule; nothing was changed."""

    def __init__(self, code: RejectionCode, message: str) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message


class InvariantViolation(Exception):
    """The ledger's state broke an invariant: a bug or tampering, never user error."""
