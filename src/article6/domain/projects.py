"""The life of a project and of its monitoring periods, as explicit state machines.

A project goes draft → submitted → in review → reviewed → authorized (the LoA)
→ registered; a review that requests changes sends it back to the developer,
who resubmits. It can be rejected or withdrawn before it is authorized. Each
monitoring period goes submitted → verifier assigned → verified → issuance
requested → issued. Any other move is refused with the state it was in.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from article6.domain.errors import ActionRefused, RejectionCode


class ProjectState(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    IN_REVIEW = "in_review"
    CHANGES_REQUESTED = "changes_requested"
    REVIEWED = "reviewed"
    AUTHORIZED = "authorized"
    REGISTERED = "registered"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    REVOKED = "revoked"


class ProjectAction(StrEnum):
    SUBMIT = "submit"
    START_REVIEW = "start_review"
    REQUEST_CHANGES = "request_changes"
    COMPLETE_REVIEW = "complete_review"
    ISSUE_LOA = "issue_loa"
    REGISTER = "register"
    REJECT = "reject"
    WITHDRAW = "withdraw"
    REVOKE = "revoke"


P, A = ProjectState, ProjectAction
PROJECT_TRANSITIONS: dict[tuple[ProjectState, ProjectAction], ProjectState] = {
    (P.DRAFT, A.SUBMIT): P.SUBMITTED,
    (P.CHANGES_REQUESTED, A.SUBMIT): P.SUBMITTED,
    (P.SUBMITTED, A.START_REVIEW): P.IN_REVIEW,
    (P.IN_REVIEW, A.REQUEST_CHANGES): P.CHANGES_REQUESTED,
    (P.IN_REVIEW, A.COMPLETE_REVIEW): P.REVIEWED,
    (P.REVIEWED, A.ISSUE_LOA): P.AUTHORIZED,
    (P.AUTHORIZED, A.REGISTER): P.REGISTERED,
    (P.AUTHORIZED, A.REVOKE): P.REVOKED,
    (P.REGISTERED, A.REVOKE): P.REVOKED,
    **{(s, A.REJECT): P.REJECTED for s in (P.SUBMITTED, P.IN_REVIEW, P.REVIEWED)},
    **{
        (s, A.WITHDRAW): P.WITHDRAWN
        for s in (P.DRAFT, P.SUBMITTED, P.IN_REVIEW, P.CHANGES_REQUESTED, P.REVIEWED)
    },
}


class PeriodState(StrEnum):
    SUBMITTED = "submitted"
    VERIFIER_ASSIGNED = "verifier_assigned"
    VERIFIED = "verified"
    ISSUANCE_REQUESTED = "issuance_requested"
    ISSUED = "issued"


class PeriodAction(StrEnum):
    ASSIGN_VERIFIER = "assign_verifier"
    VERIFY = "verify"
    REQUEST_ISSUANCE = "request_issuance"
    ISSUE = "issue"


S, PA = PeriodState, PeriodAction
PERIOD_TRANSITIONS: dict[tuple[PeriodState, PeriodAction], PeriodState] = {
    (S.SUBMITTED, PA.ASSIGN_VERIFIER): S.VERIFIER_ASSIGNED,
    (S.VERIFIER_ASSIGNED, PA.ASSIGN_VERIFIER): S.VERIFIER_ASSIGNED,
    (S.VERIFIER_ASSIGNED, PA.VERIFY): S.VERIFIED,
    (S.VERIFIED, PA.REQUEST_ISSUANCE): S.ISSUANCE_REQUESTED,
    (S.ISSUANCE_REQUESTED, PA.ISSUE): S.ISSUED,
}


def next_project_state(state: ProjectState, action: ProjectAction) -> ProjectState:
    new = PROJECT_TRANSITIONS.get((state, action))
    if new is None:
        allowed = sorted(a.value for (s, a) in PROJECT_TRANSITIONS if s is state) or ["none"]
        raise ActionRefused(
            RejectionCode.INVALID_TRANSITION,
            f"a project that is {state.value} cannot {action.value.replace('_', ' ')} "
            f"(possible: {', '.join(allowed)})",
        )
    return new


def next_period_state(state: PeriodState, action: PeriodAction) -> PeriodState:
    new = PERIOD_TRANSITIONS.get((state, action))
    if new is None:
        raise ActionRefused(
            RejectionCode.INVALID_TRANSITION,
            f"a monitoring period that is {state.value} cannot {action.value.replace('_', ' ')}",
        )
    return new


class Verdict(StrEnum):
    APPROVE = "approve"
    REQUEST_CHANGES = "request_changes"


REVIEW_QUESTIONS = ("methodology", "total_reductions", "allocation_ratios")


@dataclass(frozen=True)
class Review:
    """One working-group member's answer on the three questions of the review."""

    organisation_id: str
    user_id: str
    verdicts: dict[str, Verdict]
    comment: str = ""

    @property
    def approves(self) -> bool:
        return all(self.verdicts.get(q) is Verdict.APPROVE for q in REVIEW_QUESTIONS)


def check_review(review: Review, members: frozenset[str], already: frozenset[str]) -> None:
    if review.organisation_id not in members:
        raise ActionRefused(
            RejectionCode.PERMISSION_DENIED,
            f"{review.organisation_id} is not a member of this approach's working group",
        )
    if review.organisation_id in already:
        raise ActionRefused(
            RejectionCode.ALREADY_EXISTS,
            f"{review.organisation_id} has already reviewed this round",
        )
    missing = [q for q in REVIEW_QUESTIONS if q not in review.verdicts]
    if missing:
        raise ActionRefused(
            RejectionCode.INVALID_REVIEW, f"the review does not answer: {', '.join(missing)}"
        )
    if not review.approves and not review.comment.strip():
        raise ActionRefused(
            RejectionCode.INVALID_REVIEW, "a request for changes must say what to change"
        )


def review_outcome(reviews: list[Review], members: frozenset[str]) -> ProjectAction | None:
    """REQUEST_CHANGES as soon as one member asks; COMPLETE_REVIEW when all approved."""
    if any(not r.approves for r in reviews):
        return ProjectAction.REQUEST_CHANGES
    if {r.organisation_id for r in reviews} >= members:
        return ProjectAction.COMPLETE_REVIEW
    return None
