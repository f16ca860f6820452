"""Who may run which command on which object: one table, read by every service.

A permission is a role plus a scope rule: `ANY` (any object), `OWN_PARTY` (the
object belongs to the actor's Party: its registry, its approaches as host, its
NDC), `OWN_ORGANISATION` (the actor's organisation owns the object, e.g. a
developer's project or a financier's agreement), `ASSIGNED` (the actor is
assigned to the object, e.g. a verifier to a monitoring period or a
working-group member to an approach's review). Services call `authorize`
before they change anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from article6.domain.errors import ActionRefused, RejectionCode


class Role(StrEnum):
    HOST_CHAIR = "host_chair"  # signs Letters of Authorization
    HOST_COORDINATOR = "host_coordinator"
    HOST_TECHNICAL_REVIEWER = "host_technical_reviewer"
    REGISTRY_ADMINISTRATOR = "registry_administrator"
    ACQUIRING_AUTHORITY = "acquiring_authority"
    WORKING_GROUP_MEMBER = "working_group_member"
    PROJECT_DEVELOPER = "project_developer"
    VERIFIER = "verifier"
    FINANCIER = "financier"
    OBSERVER = "observer"
    SYSTEM_ADMINISTRATOR = "system_administrator"


class Scope(StrEnum):
    ANY = "any"
    OWN_PARTY = "own_party"
    OWN_ORGANISATION = "own_organisation"
    ASSIGNED = "assigned"


class Command(StrEnum):
    # Reference data and users
    REGISTER_PARTY = "register_party"
    OPEN_REGISTRY = "open_registry"
    REGISTER_ORGANISATION = "register_organisation"
    REGISTER_USER = "register_user"
    REGISTER_ENTITY = "register_entity"
    OPEN_ACCOUNT = "open_account"
    REGISTER_APPROACH = "register_approach"
    CONFIGURE_WORKING_GROUP = "configure_working_group"
    # Authorization
    ISSUE_LOA = "issue_loa"
    AMEND_LOA = "amend_loa"
    REVOKE_LOA = "revoke_loa"
    # Registry actions
    ISSUE_UNITS = "issue_units"
    FIRST_TRANSFER = "first_transfer"
    TRANSFER = "transfer"
    USE_UNITS = "use_units"
    CANCEL_UNITS = "cancel_units"
    CHECKPOINT = "checkpoint"
    # Project workflow
    CREATE_PROJECT = "create_project"
    SUBMIT_PROJECT = "submit_project"
    WITHDRAW_PROJECT = "withdraw_project"
    START_REVIEW = "start_review"
    REVIEW_PROJECT = "review_project"
    REJECT_PROJECT = "reject_project"
    REGISTER_PROJECT = "register_project"
    SUBMIT_MONITORING_REPORT = "submit_monitoring_report"
    ASSIGN_VERIFIER = "assign_verifier"
    VERIFY_PERIOD = "verify_period"
    REQUEST_ISSUANCE = "request_issuance"
    PERFORM_ISSUANCE = "perform_issuance"
    SET_ALLOCATION_RULES = "set_allocation_rules"
    # Accounting and reporting
    RECORD_NDC = "record_ndc"
    IMPORT_INVENTORY = "import_inventory"
    FREEZE_HOLDINGS = "freeze_holdings"
    FINALISE_BALANCE = "finalise_balance"
    CORRECT_BALANCE = "correct_balance"
    GENERATE_AEF = "generate_aef"
    # Finance
    RECORD_FINANCING_AGREEMENT = "record_financing_agreement"
    AMEND_FINANCING_AGREEMENT = "amend_financing_agreement"
    RECORD_DISBURSEMENT = "record_disbursement"
    RECORD_EXCHANGE_RATE = "record_exchange_rate"


@dataclass(frozen=True)
class Actor:
    """A signed-in user: their organisation, its Party (None if international), roles."""

    user_id: str
    organisation_id: str
    party: str | None
    roles: frozenset[Role] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Target:
    """The object a command acts on, as far as permissions care."""

    party: str | None = None
    organisation_id: str | None = None
    assigned: frozenset[str] = frozenset()  # user or organisation ids assigned to it


class PermissionDenied(ActionRefused):
    def __init__(self, message: str) -> None:
        super().__init__(RejectionCode.PERMISSION_DENIED, message)


C, R, S = Command, Role, Scope
_HOST = (R.HOST_COORDINATOR, S.OWN_PARTY)
_REGISTRY = (R.REGISTRY_ADMINISTRATOR, S.OWN_PARTY)
_ACQUIRER = (R.ACQUIRING_AUTHORITY, S.OWN_PARTY)

PERMISSIONS: dict[Command, tuple[tuple[Role, Scope], ...]] = {
    C.REGISTER_PARTY: ((R.SYSTEM_ADMINISTRATOR, S.ANY),),
    C.OPEN_REGISTRY: ((R.SYSTEM_ADMINISTRATOR, S.ANY),),
    C.REGISTER_ORGANISATION: ((R.SYSTEM_ADMINISTRATOR, S.ANY),),
    C.REGISTER_USER: ((R.SYSTEM_ADMINISTRATOR, S.ANY),),
    C.REGISTER_ENTITY: (_REGISTRY, _HOST),
    C.OPEN_ACCOUNT: (_REGISTRY,),
    C.REGISTER_APPROACH: (_HOST,),
    C.CONFIGURE_WORKING_GROUP: (_HOST,),
    C.ISSUE_LOA: ((R.HOST_CHAIR, S.OWN_PARTY),),
    C.AMEND_LOA: ((R.HOST_CHAIR, S.OWN_PARTY),),
    C.REVOKE_LOA: ((R.HOST_CHAIR, S.OWN_PARTY),),
    C.ISSUE_UNITS: (_REGISTRY,),
    C.FIRST_TRANSFER: (_REGISTRY,),
    C.TRANSFER: (_REGISTRY,),
    C.USE_UNITS: (_REGISTRY, _ACQUIRER),
    C.CANCEL_UNITS: (_REGISTRY,),
    C.CHECKPOINT: (_REGISTRY,),
    C.CREATE_PROJECT: ((R.PROJECT_DEVELOPER, S.OWN_ORGANISATION),),
    C.SUBMIT_PROJECT: ((R.PROJECT_DEVELOPER, S.OWN_ORGANISATION),),
    C.WITHDRAW_PROJECT: ((R.PROJECT_DEVELOPER, S.OWN_ORGANISATION),),
    C.START_REVIEW: (_HOST,),
    C.REVIEW_PROJECT: ((R.WORKING_GROUP_MEMBER, S.ASSIGNED),),
    C.REJECT_PROJECT: (_HOST, (R.HOST_CHAIR, S.OWN_PARTY)),
    C.REGISTER_PROJECT: (_HOST,),
    C.SUBMIT_MONITORING_REPORT: ((R.PROJECT_DEVELOPER, S.OWN_ORGANISATION),),
    C.ASSIGN_VERIFIER: (_HOST,),
    C.VERIFY_PERIOD: ((R.VERIFIER, S.ASSIGNED),),
    C.REQUEST_ISSUANCE: ((R.PROJECT_DEVELOPER, S.OWN_ORGANISATION),),
    C.PERFORM_ISSUANCE: (_REGISTRY,),
    C.SET_ALLOCATION_RULES: (_HOST,),
    C.RECORD_NDC: (_HOST, _ACQUIRER),
    C.IMPORT_INVENTORY: (_HOST, _ACQUIRER),
    C.FREEZE_HOLDINGS: (_REGISTRY,),
    C.FINALISE_BALANCE: (_HOST, _ACQUIRER),
    C.CORRECT_BALANCE: (_HOST, _ACQUIRER),
    C.GENERATE_AEF: (_HOST, _ACQUIRER, _REGISTRY),
    C.RECORD_FINANCING_AGREEMENT: ((R.FINANCIER, S.OWN_ORGANISATION),),
    C.AMEND_FINANCING_AGREEMENT: ((R.FINANCIER, S.OWN_ORGANISATION),),
    C.RECORD_DISBURSEMENT: ((R.FINANCIER, S.OWN_ORGANISATION),),
    C.RECORD_EXCHANGE_RATE: ((R.FINANCIER, S.ANY),),
}


def allowed(actor: Actor, command: Command, target: Target) -> bool:
    for role, scope in PERMISSIONS[command]:
        if role not in actor.roles:
            continue
        if scope is Scope.ANY:
            return True
        if scope is Scope.OWN_PARTY and target.party is not None and target.party == actor.party:
            return True
        if scope is Scope.OWN_ORGANISATION and target.organisation_id == actor.organisation_id:
            return True
        if scope is Scope.ASSIGNED and (
            actor.user_id in target.assigned or actor.organisation_id in target.assigned
        ):
            return True
    return False


def authorize(actor: Actor, command: Command, target: Target) -> None:
    """Raise PermissionDenied unless the table lets `actor` run `command` on `target`."""
    if not allowed(actor, command, target):
        roles = ", ".join(sorted(r.value for r in actor.roles)) or "no role"
        needed = " or ".join(f"{r.value} ({s.value})" for r, s in PERMISSIONS[command])
        raise PermissionDenied(
            f"{actor.user_id} ({roles}) may not {command.value.replace('_', ' ')} here; "
            f"needs {needed}"
        )
