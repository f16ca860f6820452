"""Monitoring periods, verification and the issuance that allocates units.

A period carries the reductions the developer reports per vintage (later tied
to a frozen MRV calculation run by its id and input hash), the verifier's
statement, and after issuance the allocation of every vintage. Issuance runs
the registry actions of the allocation inside one transaction: nothing is
issued unless all of it is allocated.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from sqlalchemy import Engine, insert, update

from article6.domain.allocation import Recipient, RemainderTo, allocate
from article6.domain.errors import ActionRefused, RejectionCode
from article6.domain.permissions import Actor, Command, authorize
from article6.domain.projects import PeriodAction, PeriodState, ProjectState, next_period_state
from article6.services import actions, finance
from article6.services.commands import Receipt
from article6.services.projects import (
    ProjectView,
    developer_account,
    project_target,
    run_project_command,
)
from article6.store import workflow_tables as w
from article6.store.ledger_store import LedgerTransaction


def _period(project: ProjectView, period: int) -> dict[str, Any]:
    if period not in project.periods:
        raise ActionRefused(
            RejectionCode.UNKNOWN_ENTITY,
            f"project {project.project_id} has no monitoring period {period}",
        )
    return project.periods[period]


def _advance(
    tx: LedgerTransaction,
    project: ProjectView,
    period: int,
    action: PeriodAction,
    event: str,
    data_changes: dict[str, Any],
    verifier: str | None = None,
) -> dict[str, Any]:
    current = _period(project, period)
    new_state = next_period_state(PeriodState(current["state"]), action)
    data = {k: v for k, v in current.items() if k not in {"state", "verifier"}} | data_changes
    appended = tx.append(
        event,
        None,
        {"project_id": project.project_id, "period": period, "to": new_state.value, **data_changes},
    )
    values: dict[str, Any] = {
        "state": new_state.value,
        "data": json.dumps(data),
        "updated_seq": appended.seq,
    }
    if verifier is not None:
        values["verifier"] = verifier
    tx.connection.execute(
        update(w.monitoring_periods)
        .where(
            w.monitoring_periods.c.project_id == project.project_id,
            w.monitoring_periods.c.period == period,
        )
        .values(**values)
    )
    return {"project_id": project.project_id, "period": period, "state": new_state.value}


def _vintage_table(values: dict[int, int], project: ProjectView) -> dict[str, int]:
    first, last = project.proposal.vintages
    for vintage, quantity in values.items():
        if not first <= vintage <= last:
            raise ActionRefused(
                RejectionCode.VINTAGE_OUTSIDE_AUTHORIZED_TIMEFRAME,
                f"vintage {vintage} is outside the crediting period {first}-{last}",
            )
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
            raise ActionRefused(
                RejectionCode.INVALID_QUANTITY,
                f"reductions for {vintage} must be whole tonnes >= 0",
            )
    return {str(v): q for v, q in sorted(values.items())}


def submit_monitoring_report(
    engine: Engine,
    *,
    actor: Actor,
    project_id: str,
    period: int,
    start: date,
    end: date,
    reductions_t: dict[int, int],
    calculation_run_id: str | None = None,
    input_hash: str | None = None,
    params_hash: str | None = None,
    idempotency_key: str | None = None,
) -> Receipt:
    def step(tx: LedgerTransaction, project: ProjectView) -> dict[str, Any]:
        authorize(actor, Command.SUBMIT_MONITORING_REPORT, project_target(project))
        if project.state is not ProjectState.REGISTERED:
            raise ActionRefused(
                RejectionCode.INVALID_TRANSITION,
                f"monitoring needs a registered project; it is {project.state.value}",
            )
        if period in project.periods:
            raise ActionRefused(
                RejectionCode.ALREADY_EXISTS, f"period {period} was already submitted"
            )
        if end < start:
            raise ActionRefused(RejectionCode.INVALID_QUANTITY, "the period ends before it starts")
        data = {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "reported_t": _vintage_table(reductions_t, project),
            "calculation_run_id": calculation_run_id,
            "input_hash": input_hash,
            "params_hash": params_hash,
        }
        event = tx.append(
            "MonitoringReportSubmitted", None, {"project_id": project_id, "period": period, **data}
        )
        tx.connection.execute(
            insert(w.monitoring_periods).values(
                project_id=project_id,
                period=period,
                state=PeriodState.SUBMITTED.value,
                verifier=None,
                data=json.dumps(data),
                updated_seq=event.seq,
            )
        )
        return {"project_id": project_id, "period": period, "state": PeriodState.SUBMITTED.value}

    request = {
        "period": period,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "reductions_t": {str(k): v for k, v in reductions_t.items()},
        "calculation_run_id": calculation_run_id,
    }
    return run_project_command(
        engine,
        actor,
        "SubmitMonitoringReport",
        project_id,
        request,
        step,
        idempotency_key=idempotency_key,
    )


def assign_verifier(
    engine: Engine,
    *,
    actor: Actor,
    project_id: str,
    period: int,
    verifier: str,
    idempotency_key: str | None = None,
) -> Receipt:
    def step(tx: LedgerTransaction, project: ProjectView) -> dict[str, Any]:
        authorize(actor, Command.ASSIGN_VERIFIER, project_target(project))
        if verifier == project.developer:
            raise ActionRefused(
                RejectionCode.PERMISSION_DENIED,
                "the developer cannot verify its own monitoring report",
            )
        return _advance(
            tx,
            project,
            period,
            PeriodAction.ASSIGN_VERIFIER,
            "VerifierAssigned",
            {"verifier_assigned": verifier},
            verifier=verifier,
        )

    return run_project_command(
        engine,
        actor,
        "AssignVerifier",
        project_id,
        {"period": period, "verifier": verifier},
        step,
        idempotency_key=idempotency_key,
    )


def verify_period(
    engine: Engine,
    *,
    actor: Actor,
    project_id: str,
    period: int,
    verified_t: dict[int, int],
    opinion: str,
    idempotency_key: str | None = None,
) -> Receipt:
    """The assigned verifier's statement: verified reductions per vintage, never above reported."""

    def step(tx: LedgerTransaction, project: ProjectView) -> dict[str, Any]:
        current = _period(project, period)
        assigned = frozenset({current["verifier"]} if current["verifier"] else set())
        authorize(actor, Command.VERIFY_PERIOD, project_target(project, assigned))
        verified = _vintage_table(verified_t, project)
        for vintage, quantity in verified.items():
            reported = current["reported_t"].get(vintage, 0)
            if quantity > reported:
                raise ActionRefused(
                    RejectionCode.INVALID_QUANTITY,
                    f"verified {quantity} t for {vintage} exceeds the reported {reported} t",
                )
        if not opinion.strip():
            raise ActionRefused(RejectionCode.INVALID_REVIEW, "the verification statement is empty")
        return _advance(
            tx,
            project,
            period,
            PeriodAction.VERIFY,
            "PeriodVerified",
            {"verified_t": verified, "opinion": opinion, "verified_by": actor.user_id},
        )

    request = {
        "period": period,
        "verified_t": {str(k): v for k, v in verified_t.items()},
        "opinion": opinion,
    }
    return run_project_command(
        engine, actor, "VerifyPeriod", project_id, request, step, idempotency_key=idempotency_key
    )


def request_issuance(
    engine: Engine,
    *,
    actor: Actor,
    project_id: str,
    period: int,
    idempotency_key: str | None = None,
) -> Receipt:
    def step(tx: LedgerTransaction, project: ProjectView) -> dict[str, Any]:
        authorize(actor, Command.REQUEST_ISSUANCE, project_target(project))
        return _advance(tx, project, period, PeriodAction.REQUEST_ISSUANCE, "IssuanceRequested", {})

    return run_project_command(
        engine,
        actor,
        "RequestIssuance",
        project_id,
        {"period": period},
        step,
        idempotency_key=idempotency_key,
    )


def allocated_so_far(project: ProjectView) -> dict[Recipient, int]:
    totals: dict[Recipient, int] = {}
    for data in project.periods.values():
        for parts in data.get("allocation", {}).values():
            for recipient, quantity in parts.items():
                totals[Recipient(recipient)] = totals.get(Recipient(recipient), 0) + quantity
    return totals


def perform_issuance(
    engine: Engine,
    *,
    actor: Actor,
    project_id: str,
    period: int,
    registry_id: str,
    acquirer_account: str,
    action_date: date,
    idempotency_key: str | None = None,
) -> Receipt:
    """Issue the verified reductions of a period and allocate every vintage by the rules."""

    def step(tx: LedgerTransaction, project: ProjectView) -> dict[str, Any]:
        authorize(actor, Command.PERFORM_ISSUANCE, project_target(project))
        current = _period(project, period)
        if project.state is not ProjectState.REGISTERED or project.authorization_id is None:
            raise ActionRefused(
                RejectionCode.INVALID_TRANSITION,
                f"issuance needs a registered, authorized project ({project.state.value})",
            )
        next_period_state(PeriodState(current["state"]), PeriodAction.ISSUE)
        before = allocated_so_far(project)
        allocation: dict[str, dict[str, int]] = {}
        for vintage_text, quantity in sorted(current["verified_t"].items()):
            if quantity == 0:
                continue
            parts = allocate(project.proposal.allocation, quantity, before)
            _issue_and_allocate(
                tx,
                actor,
                project,
                int(vintage_text),
                parts,
                registry_id,
                acquirer_account,
                action_date,
            )
            for recipient, part in parts.items():
                before[recipient] = before.get(recipient, 0) + part
            allocation[vintage_text] = {r.value: q for r, q in parts.items()}
        tx.append(
            "IssuanceAllocated",
            registry_id,
            {"project_id": project_id, "period": period, "allocation": allocation},
        )
        return _advance(
            tx,
            project,
            period,
            PeriodAction.ISSUE,
            "IssuanceAllocated",
            {"allocation": allocation, "issued_on": action_date.isoformat()},
        ) | {"allocation": allocation}

    request = {
        "period": period,
        "registry_id": registry_id,
        "acquirer_account": acquirer_account,
        "action_date": action_date.isoformat(),
    }
    return run_project_command(
        engine, actor, "PerformIssuance", project_id, request, step, idempotency_key=idempotency_key
    )


def _issue_and_allocate(
    tx: LedgerTransaction,
    actor: Actor,
    project: ProjectView,
    vintage: int,
    parts: dict[Recipient, int],
    registry_id: str,
    acquirer_account: str,
    action_date: date,
) -> None:
    """Two issuances: the host's part is never authorized; the rest is and moves by serials."""
    rules = project.proposal.allocation
    remainder_home = rules.remainder_to is RemainderTo.HOST
    host_t = parts[Recipient.HOST] + (parts[Recipient.REMAINDER] if remainder_home else 0)
    approach = project.approach_id
    common: dict[str, Any] = {
        "actor": actor,
        "approach_id": approach,
        "registry_id": registry_id,
        "vintage": vintage,
        "action_date": action_date,
    }
    if host_t:
        actions.prepare_issue_units(
            **common, quantity_t=host_t, to_account=f"{registry_id}-HOLDING"
        ).handler(tx)
    steps = [
        (Recipient.ADAPTATION_FUND, "transfer", f"{registry_id}-ADAPTATION"),
        (Recipient.OMGE, "cancel", ""),
        (Recipient.ACQUIRER, "first_transfer", acquirer_account),
        (Recipient.REMAINDER, "transfer", developer_account(project, registry_id)),
    ]
    authorized_t = sum(
        parts[r] for r, _, _ in steps if not (r is Recipient.REMAINDER and remainder_home)
    )
    if not authorized_t:
        return
    issued = actions.prepare_issue_units(
        **common, quantity_t=authorized_t, authorization_id=project.authorization_id
    ).handler(tx)
    serial = int(issued["first_serial"])
    for recipient, kind, account in steps:
        quantity = parts[recipient]
        if quantity == 0 or (recipient is Recipient.REMAINDER and remainder_home):
            continue
        selection = actions.Selection(approach, vintage, quantity, serial)
        moving: dict[str, Any] = {
            "actor": actor,
            "from_account": f"{registry_id}-PENDING",
            "selection": selection,
            "action_date": action_date,
        }
        if kind == "transfer":
            actions.prepare_transfer(**moving, to_account=account).handler(tx)
        elif kind == "cancel":
            actions.prepare_cancel_units(**moving, kind="omge", reason="allocation: OMGE").handler(
                tx
            )
        else:
            actions.prepare_first_transfer(
                **moving, to_account=account, authorization_id=str(project.authorization_id)
            ).handler(tx)
            # The financier whose agreement is repaid into this account is credited now.
            finance.recover_from_allocation(
                tx,
                approach_id=approach,
                vintage=vintage,
                quantity_t=quantity,
                account_id=account,
                delivery_date=action_date,
                reference=f"{project.project_id} issuance of vintage {vintage}",
            )
        serial += quantity
