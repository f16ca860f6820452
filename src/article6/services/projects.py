"""The project workflow: from a developer's draft to issued, allocated units.

Every step is one command: permission check against the table, the state
machine's next state, the journal event and the projection, in one
transaction. The LoA creates authorization version 1 from the reviewed
proposal; the issuance of a verified period issues the units and allocates
them by the agreed rules with real registry actions, in the same transaction.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update

from article6.domain import identifiers
from article6.domain.allocation import AllocationRules
from article6.domain.errors import ActionRefused, RejectionCode
from article6.domain.model import (
    Account,
    AccountKind,
    AuthorizationVersion,
    Entity,
    Purpose,
)
from article6.domain.permissions import Actor, Command, Target, authorize
from article6.domain.projects import (
    ProjectAction,
    ProjectState,
    Review,
    Verdict,
    check_review,
    next_project_state,
    review_outcome,
)
from article6.services import setup
from article6.services.commands import Receipt, execute
from article6.store import workflow_tables as w
from article6.store.ledger_store import LedgerTransaction


@dataclass(frozen=True)
class Proposal:
    """What the developer submits and the working group reviews."""

    title: str
    description: str
    methodology: str
    methodology_version: str
    host_party: str
    acquiring_party: str
    ex_ante_t: dict[int, int]  # expected reductions per vintage
    allocation: AllocationRules
    use_from: int
    use_to: int
    documents: tuple[str, ...] = ()  # names with their SHA-256, e.g. "PDD.pdf sha256:…"
    sectors: tuple[str, ...] = ("Transportation",)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["allocation"] = self.allocation.to_dict()
        data["ex_ante_t"] = {str(k): v for k, v in sorted(self.ex_ante_t.items())}
        data["documents"] = list(self.documents)
        data["sectors"] = list(self.sectors)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Proposal:
        return cls(
            **{
                **data,
                "allocation": AllocationRules.from_dict(data["allocation"]),
                "ex_ante_t": {int(k): int(v) for k, v in data["ex_ante_t"].items()},
                "documents": tuple(data["documents"]),
                "sectors": tuple(data["sectors"]),
            }
        )

    @property
    def vintages(self) -> tuple[int, int]:
        return min(self.ex_ante_t), max(self.ex_ante_t)


@dataclass(frozen=True)
class ProjectView:
    project_id: str
    approach_id: str
    developer: str
    state: ProjectState
    review_round: int
    authorization_id: str | None
    proposal: Proposal
    periods: dict[int, dict[str, Any]] = field(default_factory=dict)


# --- reading state inside a transaction -----------------------------------------


def _project(tx: LedgerTransaction, project_id: str) -> ProjectView:
    row = tx.connection.execute(
        select(w.projects).where(w.projects.c.project_id == project_id)
    ).first()
    if row is None:
        raise ActionRefused(RejectionCode.UNKNOWN_ENTITY, f"project {project_id} does not exist")
    periods = {
        r.period: {**json.loads(r.data), "state": r.state, "verifier": r.verifier}
        for r in tx.connection.execute(
            select(w.monitoring_periods).where(w.monitoring_periods.c.project_id == project_id)
        )
    }
    return ProjectView(
        row.project_id,
        row.approach_id,
        row.developer,
        ProjectState(row.state),
        row.review_round,
        row.authorization_id,
        Proposal.from_dict(json.loads(row.data)),
        periods,
    )


def _members(tx: LedgerTransaction, approach_id: str) -> frozenset[str]:
    rows = tx.connection.execute(
        select(w.working_group_members.c.organisation_id).where(
            w.working_group_members.c.approach_id == approach_id
        )
    )
    return frozenset(r.organisation_id for r in rows)


def project_target(project: ProjectView, assigned: frozenset[str] = frozenset()) -> Target:
    """What permissions look at: the host Party, the developer, who is assigned."""
    return Target(
        party=project.proposal.host_party, organisation_id=project.developer, assigned=assigned
    )


def _move(
    tx: LedgerTransaction, project: ProjectView, action: ProjectAction, reason: str, **extra: Any
) -> dict[str, Any]:
    new_state = next_project_state(project.state, action)
    event_name = {
        ProjectAction.SUBMIT: "ProjectSubmitted",
        ProjectAction.START_REVIEW: "ReviewStarted",
        ProjectAction.REQUEST_CHANGES: "ProjectReviewed",
        ProjectAction.COMPLETE_REVIEW: "ProjectReviewed",
        ProjectAction.ISSUE_LOA: "LetterOfAuthorizationIssued",
        ProjectAction.REGISTER: "ProjectRegistered",
        ProjectAction.REJECT: "ProjectRejected",
        ProjectAction.WITHDRAW: "ProjectWithdrawn",
        ProjectAction.REVOKE: "LetterOfAuthorizationRevoked",
    }[action]
    event = tx.append(
        event_name,
        None,
        {
            "project_id": project.project_id,
            "from": project.state.value,
            "to": new_state.value,
            "reason": reason,
            **extra,
        },
    )
    values: dict[str, Any] = {"state": new_state.value, "updated_seq": event.seq}
    values.update(
        {k: v for k, v in extra.items() if k in {"review_round", "authorization_id", "data"}}
    )
    tx.connection.execute(
        update(w.projects).where(w.projects.c.project_id == project.project_id).values(**values)
    )
    return {"project_id": project.project_id, "state": new_state.value, "seq": event.seq}


# --- commands ---------------------------------------------------------------------


def configure_working_group(
    engine: Engine,
    *,
    actor: Actor,
    approach_id: str,
    organisations: list[str],
    idempotency_key: str | None = None,
) -> Receipt:
    """Name the organisations whose members review projects under an approach."""

    def handle(tx: LedgerTransaction) -> dict[str, Any]:
        approach = tx.approach(identifiers.approach_id(approach_id))
        if approach is None:
            raise ActionRefused(
                RejectionCode.UNKNOWN_APPROACH, f"approach {approach_id} is unknown"
            )
        authorize(actor, Command.CONFIGURE_WORKING_GROUP, Target(party=approach.host_party))
        known = {r.organisation_id for r in tx.connection.execute(select(w.organisations))}
        unknown = sorted(set(organisations) - known)
        if unknown or not organisations:
            raise ActionRefused(
                RejectionCode.UNKNOWN_ENTITY,
                f"working group needs known organisations; unknown: {unknown}",
            )
        tx.connection.execute(
            delete(w.working_group_members).where(
                w.working_group_members.c.approach_id == approach_id
            )
        )
        tx.connection.execute(
            insert(w.working_group_members),
            [
                {"approach_id": approach_id, "organisation_id": o}
                for o in sorted(set(organisations))
            ],
        )
        tx.append(
            "WorkingGroupConfigured",
            None,
            {"approach_id": approach_id, "organisations": sorted(set(organisations))},
        )
        return {"approach_id": approach_id, "members": sorted(set(organisations))}

    request = {"approach_id": approach_id, "organisations": sorted(organisations)}
    return execute(engine, actor, "ConfigureWorkingGroup", request, idempotency_key, handle)


def create_project(
    engine: Engine,
    *,
    actor: Actor,
    project_id: str,
    approach_id: str,
    proposal: Proposal,
    idempotency_key: str | None = None,
) -> Receipt:
    identifiers.entity_id(project_id)

    def handle(tx: LedgerTransaction) -> dict[str, Any]:
        authorize(actor, Command.CREATE_PROJECT, Target(organisation_id=actor.organisation_id))
        approach = tx.approach(identifiers.approach_id(approach_id))
        if approach is None:
            raise ActionRefused(
                RejectionCode.UNKNOWN_APPROACH, f"approach {approach_id} is unknown"
            )
        if approach.host_party != proposal.host_party:
            raise ActionRefused(
                RejectionCode.AUTHORIZATION_APPROACH_MISMATCH,
                f"{approach_id} is hosted by {approach.host_party}",
            )
        if tx.connection.execute(
            select(w.projects.c.project_id).where(w.projects.c.project_id == project_id)
        ).first():
            raise ActionRefused(RejectionCode.ALREADY_EXISTS, f"project {project_id} exists")
        event = tx.append(
            "ProjectCreated",
            None,
            {
                "project_id": project_id,
                "approach_id": approach_id,
                "developer": actor.organisation_id,
                "proposal": proposal.to_dict(),
            },
        )
        tx.connection.execute(
            insert(w.projects).values(
                project_id=project_id,
                approach_id=approach_id,
                developer=actor.organisation_id,
                state=ProjectState.DRAFT.value,
                review_round=0,
                authorization_id=None,
                data=json.dumps(proposal.to_dict()),
                updated_seq=event.seq,
            )
        )
        return {"project_id": project_id, "state": ProjectState.DRAFT.value}

    request = {"project_id": project_id, "approach_id": approach_id, "proposal": proposal.to_dict()}
    return execute(engine, actor, "CreateProject", request, idempotency_key, handle)


def run_project_command(
    engine: Engine,
    actor: Actor,
    name: str,
    project_id: str,
    request: dict[str, Any],
    step: Any,
    idempotency_key: str | None = None,
) -> Receipt:
    def handle(tx: LedgerTransaction) -> dict[str, Any]:
        result: dict[str, Any] = step(tx, _project(tx, project_id))
        return result

    request = {"project_id": project_id, **request}
    return execute(engine, actor, name, request, idempotency_key, handle)


def submit_project(
    engine: Engine,
    *,
    actor: Actor,
    project_id: str,
    proposal: Proposal | None = None,
    reason: str = "",
    idempotency_key: str | None = None,
) -> Receipt:
    """Submit (or resubmit after requested changes), optionally with a revised proposal."""

    def step(tx: LedgerTransaction, project: ProjectView) -> dict[str, Any]:
        authorize(actor, Command.SUBMIT_PROJECT, project_target(project))
        extra: dict[str, Any] = {}
        if proposal is not None:
            extra["data"] = json.dumps(proposal.to_dict())
        return _move(tx, project, ProjectAction.SUBMIT, reason, **extra)

    request = {"proposal": proposal.to_dict() if proposal else None, "reason": reason}
    return run_project_command(
        engine, actor, "SubmitProject", project_id, request, step, idempotency_key=idempotency_key
    )


def start_review(
    engine: Engine, *, actor: Actor, project_id: str, idempotency_key: str | None = None
) -> Receipt:
    def step(tx: LedgerTransaction, project: ProjectView) -> dict[str, Any]:
        authorize(actor, Command.START_REVIEW, project_target(project))
        if not _members(tx, project.approach_id):
            raise ActionRefused(
                RejectionCode.INVALID_REVIEW, f"approach {project.approach_id} has no working group"
            )
        return _move(
            tx, project, ProjectAction.START_REVIEW, "", review_round=project.review_round + 1
        )

    return run_project_command(
        engine, actor, "StartReview", project_id, {}, step, idempotency_key=idempotency_key
    )


def review_project(
    engine: Engine,
    *,
    actor: Actor,
    project_id: str,
    verdicts: dict[str, Verdict],
    comment: str = "",
    idempotency_key: str | None = None,
) -> Receipt:
    """A working-group member's sign-off (or request for changes) on the three questions."""

    def step(tx: LedgerTransaction, project: ProjectView) -> dict[str, Any]:
        members = _members(tx, project.approach_id)
        authorize(actor, Command.REVIEW_PROJECT, project_target(project, members))
        if project.state is not ProjectState.IN_REVIEW:
            next_project_state(project.state, ProjectAction.COMPLETE_REVIEW)
        rows = tx.connection.execute(
            select(w.reviews).where(
                w.reviews.c.project_id == project_id,
                w.reviews.c.review_round == project.review_round,
            )
        )
        earlier = [
            Review(
                r.organisation_id,
                r.user_id,
                {q: Verdict(v) for q, v in json.loads(r.data)["verdicts"].items()},
                json.loads(r.data)["comment"],
            )
            for r in rows
        ]
        review = Review(actor.organisation_id, actor.user_id, verdicts, comment)
        check_review(review, members, frozenset(r.organisation_id for r in earlier))
        data = {"verdicts": {q: v.value for q, v in verdicts.items()}, "comment": comment}
        event = tx.append(
            "ProjectReviewed",
            None,
            {
                "project_id": project_id,
                "round": project.review_round,
                "organisation_id": actor.organisation_id,
                **data,
            },
        )
        tx.connection.execute(
            insert(w.reviews).values(
                project_id=project_id,
                review_round=project.review_round,
                organisation_id=actor.organisation_id,
                user_id=actor.user_id,
                data=json.dumps(data),
                seq=event.seq,
            )
        )
        outcome = review_outcome([*earlier, review], members)
        if outcome is None:
            return {
                "project_id": project_id,
                "state": project.state.value,
                "waiting_for": sorted(members - {r.organisation_id for r in [*earlier, review]}),
            }
        return _move(tx, project, outcome, comment)

    request = {"verdicts": {q: v.value for q, v in verdicts.items()}, "comment": comment}
    return run_project_command(
        engine, actor, "ReviewProject", project_id, request, step, idempotency_key=idempotency_key
    )


def reject_project(
    engine: Engine,
    *,
    actor: Actor,
    project_id: str,
    reason: str,
    idempotency_key: str | None = None,
) -> Receipt:
    def step(tx: LedgerTransaction, project: ProjectView) -> dict[str, Any]:
        authorize(actor, Command.REJECT_PROJECT, project_target(project))
        if not reason.strip():
            raise ActionRefused(RejectionCode.INVALID_REVIEW, "a rejection must give its reason")
        return _move(tx, project, ProjectAction.REJECT, reason)

    return run_project_command(
        engine,
        actor,
        "RejectProject",
        project_id,
        {"reason": reason},
        step,
        idempotency_key=idempotency_key,
    )


def withdraw_project(
    engine: Engine,
    *,
    actor: Actor,
    project_id: str,
    reason: str = "",
    idempotency_key: str | None = None,
) -> Receipt:
    def step(tx: LedgerTransaction, project: ProjectView) -> dict[str, Any]:
        authorize(actor, Command.WITHDRAW_PROJECT, project_target(project))
        return _move(tx, project, ProjectAction.WITHDRAW, reason)

    return run_project_command(
        engine,
        actor,
        "WithdrawProject",
        project_id,
        {"reason": reason},
        step,
        idempotency_key=idempotency_key,
    )


def issue_loa(
    engine: Engine,
    *,
    actor: Actor,
    project_id: str,
    authorization_id: str,
    authorization_date: date,
    developer_entity: Entity,
    terms: str = "",
    idempotency_key: str | None = None,
) -> Receipt:
    """The host's chair signs the LoA: authorization version 1 from the reviewed proposal."""

    def step(tx: LedgerTransaction, project: ProjectView) -> dict[str, Any]:
        authorize(actor, Command.ISSUE_LOA, project_target(project))
        next_project_state(project.state, ProjectAction.ISSUE_LOA)
        p = project.proposal
        if tx.entity(developer_entity.entity_id) is None:
            setup.register_entity_in(tx, developer_entity)
        cap = p.allocation.acquirer_cap_t
        version = AuthorizationVersion(
            authorization_id=authorization_id,
            version=1,
            approach_id=project.approach_id,
            authorizing_party=p.host_party,
            authorization_date=authorization_date,
            effective_from=authorization_date,
            quantity_cap_t=cap,
            purpose_caps_t={Purpose.NDC: cap},
            acquiring_parties=(p.acquiring_party,),
            entities=(developer_entity.entity_id,),
            vintage_from=p.vintages[0],
            vintage_to=p.vintages[1],
            use_from=p.use_from,
            use_to=p.use_to,
            terms=terms,
        )
        setup.record_authorization_in(tx, actor, version)
        return _move(
            tx, project, ProjectAction.ISSUE_LOA, "", authorization_id=authorization_id, version=1
        )

    request = {
        "authorization_id": authorization_id,
        "date": authorization_date.isoformat(),
        "entity": developer_entity.entity_id,
        "terms": terms,
    }
    return run_project_command(
        engine, actor, "IssueLoa", project_id, request, step, idempotency_key=idempotency_key
    )


def amend_loa(
    engine: Engine,
    *,
    actor: Actor,
    project_id: str,
    effective_from: date,
    reason: str,
    revoke: bool = False,
    idempotency_key: str | None = None,
    **changes: Any,
) -> Receipt:
    """A new authorization version (never retroactive), or a revocation when `revoke`."""

    def step(tx: LedgerTransaction, project: ProjectView) -> dict[str, Any]:
        if project.authorization_id is None:
            raise ActionRefused(RejectionCode.UNKNOWN_AUTHORIZATION, "the project has no LoA yet")
        versions = tx.authorization_versions(project.authorization_id)
        new = replace(
            versions[-1],
            version=versions[-1].version + 1,
            effective_from=effective_from,
            revoked=revoke,
            reason=reason,
            **changes,
        )
        result = setup.record_authorization_in(tx, actor, new)
        if revoke:
            return _move(tx, project, ProjectAction.REVOKE, reason)
        tx.append(
            "LetterOfAuthorizationAmended",
            None,
            {
                "project_id": project_id,
                "authorization_id": project.authorization_id,
                "version": new.version,
                "reason": reason,
            },
        )
        return {"project_id": project_id, **result}

    request = {
        "effective_from": effective_from.isoformat(),
        "reason": reason,
        "revoke": revoke,
        "changes": {k: str(v) for k, v in changes.items()},
    }
    return run_project_command(
        engine, actor, "AmendLoa", project_id, request, step, idempotency_key=idempotency_key
    )


def developer_account(project: ProjectView, registry_id: str) -> str:
    return f"{registry_id}-{project.developer}"[:50]


def register_project(
    engine: Engine,
    *,
    actor: Actor,
    project_id: str,
    registry_id: str,
    idempotency_key: str | None = None,
) -> Receipt:
    """Register the authorized project and open the developer's account in the host registry."""

    def step(tx: LedgerTransaction, project: ProjectView) -> dict[str, Any]:
        authorize(actor, Command.REGISTER_PROJECT, project_target(project))
        next_project_state(project.state, ProjectAction.REGISTER)
        account_id = developer_account(project, registry_id)
        # An authorized project has its LoA; the account holder is the authorized entity.
        loa = tx.authorization_versions(str(project.authorization_id))[0]
        if tx.account(account_id) is None:
            holding = Account(
                account_id,
                registry_id,
                AccountKind.HOLDING,
                loa.entities[0],
                f"{project.developer} holding",
            )
            setup.open_account_in(tx, holding)
        return _move(
            tx,
            project,
            ProjectAction.REGISTER,
            "",
            registry_id=registry_id,
            developer_account=account_id,
        )

    return run_project_command(
        engine,
        actor,
        "RegisterProject",
        project_id,
        {"registry_id": registry_id},
        step,
        idempotency_key=idempotency_key,
    )
