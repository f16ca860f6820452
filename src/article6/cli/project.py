"""`article6 project`: the project workflow from submission to issued, allocated units."""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from article6.cli.common import (
    DatabaseOption,
    JsonOption,
    UserOption,
    act,
    console,
    engine_for,
    errors,
    run,
)
from article6.domain.allocation import AllocationRules
from article6.domain.errors import ActionRefused, RejectionCode
from article6.domain.model import Entity, Purpose
from article6.domain.projects import REVIEW_QUESTIONS, Verdict

if TYPE_CHECKING:
    from article6.services import projects
    from article6.services.commands import Receipt

# The project services are imported inside each command: the command line starts
# without loading the database and document libraries.

app = typer.Typer(
    help="Projects: submission, review, LoA, monitoring, issuance.", no_args_is_help=True
)

PROJECT_KEYS = {
    "title",
    "description",
    "methodology",
    "methodology_version",
    "host_party",
    "acquiring_party",
    "use_from",
    "use_to",
    "documents",
    "sectors",
}


def load_proposal(path: Path) -> projects.Proposal:
    """Read a proposal file; unknown or missing keys are errors that name the key."""
    from article6.services import projects

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ActionRefused(RejectionCode.INVALID_IDENTIFIER, f"{path}: {exc}") from exc
    for table in ("project", "ex_ante_t", "allocation"):
        if table not in data:
            raise ActionRefused(
                RejectionCode.INVALID_IDENTIFIER, f"{path}: missing table [{table}]"
            )
    unknown = set(data) - {"project", "ex_ante_t", "allocation"} | (
        set(data["project"]) - PROJECT_KEYS
    )
    if unknown:
        raise ActionRefused(
            RejectionCode.INVALID_IDENTIFIER, f"{path}: unknown keys {sorted(unknown)}"
        )
    missing = PROJECT_KEYS - {"documents", "sectors"} - set(data["project"])
    if missing:
        raise ActionRefused(
            RejectionCode.INVALID_IDENTIFIER, f"{path}: [project] lacks {sorted(missing)}"
        )
    try:
        ex_ante = {int(k): int(v) for k, v in data["ex_ante_t"].items()}
        allocation = AllocationRules.from_dict(data["allocation"])
    except (KeyError, ValueError, ZeroDivisionError) as exc:
        raise ActionRefused(RejectionCode.INVALID_ALLOCATION, f"{path}: {exc!r}") from exc
    project: dict[str, Any] = dict(data["project"])
    project["documents"] = tuple(project.get("documents", ()))
    project["sectors"] = tuple(project.get("sectors", ("Transportation",)))
    return projects.Proposal(**project, ex_ante_t=ex_ante, allocation=allocation)


def _show(receipt: Receipt) -> None:
    details = receipt.details
    state = details.get("state", "")
    console.print(f"[green]{receipt.command}[/green] (event {receipt.seq}) {state}")
    for key, value in details.items():
        if key not in {"state", "project_id"}:
            console.print(f"  {key}: {value}")


def _vintages(values: list[str]) -> dict[int, int]:
    """Parse `2025=68000` pairs."""
    parsed: dict[int, int] = {}
    for value in values:
        vintage, _, quantity = value.partition("=")
        if not vintage.isdigit() or not quantity.isdigit():
            errors.print(f"[red]{value!r} is not VINTAGE=TONNES[/red]")
            raise typer.Exit(2)
        parsed[int(vintage)] = int(quantity)
    return parsed


ProjectOption = typer.Option(..., "--project", help="Project ID.")


@app.command()
def create(
    project_id: str = typer.Option(..., "--id"),
    approach: str = typer.Option(...),
    proposal: Path = typer.Option(..., exists=True, dir_okay=False),
    user: str = UserOption,
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """Create a draft project from a proposal file (TOML)."""
    from article6.services import projects

    act(
        as_json,
        database_url,
        user,
        lambda engine, actor: projects.create_project(
            engine,
            actor=actor,
            project_id=project_id,
            approach_id=approach,
            proposal=load_proposal(proposal),
        ),
        _show,
    )


@app.command()
def submit(
    project_id: str = ProjectOption,
    proposal: Path | None = typer.Option(None, exists=True, dir_okay=False),
    user: str = UserOption,
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """Submit the project (again, with a revised proposal, after requested changes)."""
    from article6.services import projects

    act(
        as_json,
        database_url,
        user,
        lambda engine, actor: projects.submit_project(
            engine,
            actor=actor,
            project_id=project_id,
            proposal=load_proposal(proposal) if proposal else None,
        ),
        _show,
    )


@app.command("start-review")
def start_review(
    project_id: str = ProjectOption,
    user: str = UserOption,
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """Open the working group's review."""
    from article6.services import projects

    act(
        as_json,
        database_url,
        user,
        lambda engine, actor: projects.start_review(engine, actor=actor, project_id=project_id),
        _show,
    )


@app.command()
def review(
    project_id: str = ProjectOption,
    methodology: Verdict = typer.Option(...),
    total_reductions: Verdict = typer.Option(...),
    allocation_ratios: Verdict = typer.Option(...),
    comment: str = typer.Option(""),
    user: str = UserOption,
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """A working-group member approves or requests changes on the three questions."""
    from article6.services import projects

    verdicts = dict(
        zip(REVIEW_QUESTIONS, (methodology, total_reductions, allocation_ratios), strict=True)
    )
    act(
        as_json,
        database_url,
        user,
        lambda engine, actor: projects.review_project(
            engine,
            actor=actor,
            project_id=project_id,
            verdicts=verdicts,
            comment=comment,
        ),
        _show,
    )


@app.command()
def reject(
    project_id: str = ProjectOption,
    reason: str = typer.Option(...),
    user: str = UserOption,
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """Reject the project, with the reason."""
    from article6.services import projects

    act(
        as_json,
        database_url,
        user,
        lambda engine, actor: projects.reject_project(
            engine,
            actor=actor,
            project_id=project_id,
            reason=reason,
        ),
        _show,
    )


@app.command()
def withdraw(
    project_id: str = ProjectOption,
    reason: str = typer.Option(""),
    user: str = UserOption,
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """The developer withdraws the project."""
    from article6.services import projects

    act(
        as_json,
        database_url,
        user,
        lambda engine, actor: projects.withdraw_project(
            engine,
            actor=actor,
            project_id=project_id,
            reason=reason,
        ),
        _show,
    )


@app.command("issue-loa")
def issue_loa(
    project_id: str = ProjectOption,
    authorization_id: str = typer.Option(..., "--authorization"),
    on: str = typer.Option(..., "--date", help="Date of the LoA, YYYY-MM-DD."),
    entity_id: str = typer.Option(..., "--entity"),
    entity_name: str = typer.Option(..., "--entity-name"),
    entity_country: str = typer.Option(..., "--entity-country"),
    entity_number: str = typer.Option(..., "--entity-number"),
    terms: str = typer.Option(""),
    user: str = UserOption,
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """The host's chair issues the Letter of Authorization (authorization version 1)."""
    from article6.services import projects

    entity = Entity(entity_id, entity_name, entity_country, entity_number)
    act(
        as_json,
        database_url,
        user,
        lambda engine, actor: projects.issue_loa(
            engine,
            actor=actor,
            project_id=project_id,
            authorization_id=authorization_id,
            authorization_date=date.fromisoformat(on),
            developer_entity=entity,
            terms=terms,
        ),
        _show,
    )


@app.command("amend-loa")
def amend_loa(
    project_id: str = ProjectOption,
    effective: str = typer.Option(..., "--effective", help="YYYY-MM-DD"),
    reason: str = typer.Option(...),
    cap: int | None = typer.Option(None, help="New authorized quantity for NDC use."),
    revoke: bool = typer.Option(False, help="Revoke the authorization."),
    user: str = UserOption,
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """A new version of the LoA (not retroactive), or its revocation."""
    from article6.services import projects

    changes: dict[str, Any] = {}
    if cap is not None:
        changes = {"quantity_cap_t": cap, "purpose_caps_t": {Purpose.NDC: cap}}
    act(
        as_json,
        database_url,
        user,
        lambda engine, actor: projects.amend_loa(
            engine,
            actor=actor,
            project_id=project_id,
            effective_from=date.fromisoformat(effective),
            reason=reason,
            revoke=revoke,
            **changes,
        ),
        _show,
    )


@app.command()
def register(
    project_id: str = ProjectOption,
    registry: str = typer.Option(..., help="Host registry, e.g. KHM01."),
    user: str = UserOption,
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """Register the authorized project; opens the developer's account."""
    from article6.services import projects

    act(
        as_json,
        database_url,
        user,
        lambda engine, actor: projects.register_project(
            engine,
            actor=actor,
            project_id=project_id,
            registry_id=registry,
        ),
        _show,
    )


@app.command("submit-period")
def submit_period(
    project_id: str = ProjectOption,
    period: int = typer.Option(...),
    start: str = typer.Option(...),
    end: str = typer.Option(...),
    reductions: list[str] = typer.Option(..., "--reductions", help="VINTAGE=TONNES, repeatable."),
    run_id: str | None = typer.Option(None, "--run", help="Frozen MRV calculation run."),
    input_hash: str | None = typer.Option(None),
    user: str = UserOption,
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """Submit a monitoring report: reductions per vintage."""
    from article6.services import monitoring

    act(
        as_json,
        database_url,
        user,
        lambda engine, actor: monitoring.submit_monitoring_report(
            engine,
            actor=actor,
            project_id=project_id,
            period=period,
            start=date.fromisoformat(start),
            end=date.fromisoformat(end),
            reductions_t=_vintages(reductions),
            calculation_run_id=run_id,
            input_hash=input_hash,
        ),
        _show,
    )


@app.command("assign-verifier")
def assign_verifier(
    project_id: str = ProjectOption,
    period: int = typer.Option(...),
    verifier: str = typer.Option(..., help="Verifier organisation ID."),
    user: str = UserOption,
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """Assign an independent verifier to a monitoring period."""
    from article6.services import monitoring

    act(
        as_json,
        database_url,
        user,
        lambda engine, actor: monitoring.assign_verifier(
            engine,
            actor=actor,
            project_id=project_id,
            period=period,
            verifier=verifier,
        ),
        _show,
    )


@app.command("verify-period")
def verify_period(
    project_id: str = ProjectOption,
    period: int = typer.Option(...),
    verified: list[str] = typer.Option(..., "--verified", help="VINTAGE=TONNES, repeatable."),
    opinion: str = typer.Option(...),
    user: str = UserOption,
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """The assigned verifier's statement."""
    from article6.services import monitoring

    act(
        as_json,
        database_url,
        user,
        lambda engine, actor: monitoring.verify_period(
            engine,
            actor=actor,
            project_id=project_id,
            period=period,
            verified_t=_vintages(verified),
            opinion=opinion,
        ),
        _show,
    )


@app.command("request-issuance")
def request_issuance(
    project_id: str = ProjectOption,
    period: int = typer.Option(...),
    user: str = UserOption,
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """The developer requests issuance of a verified period."""
    from article6.services import monitoring

    act(
        as_json,
        database_url,
        user,
        lambda engine, actor: monitoring.request_issuance(
            engine,
            actor=actor,
            project_id=project_id,
            period=period,
        ),
        _show,
    )


@app.command("issue")
def perform_issuance(
    project_id: str = ProjectOption,
    period: int = typer.Option(...),
    registry: str = typer.Option(...),
    acquirer_account: str = typer.Option(..., help="e.g. KOR01-HOLDING"),
    on: str | None = typer.Option(None, "--date"),
    user: str = UserOption,
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """The host registry issues the period's units and allocates them."""
    from article6.services import monitoring

    act(
        as_json,
        database_url,
        user,
        lambda engine, actor: monitoring.perform_issuance(
            engine,
            actor=actor,
            project_id=project_id,
            period=period,
            registry_id=registry,
            acquirer_account=acquirer_account,
            action_date=date.fromisoformat(on) if on else date.today(),
        ),
        _show,
    )


@app.command("loa-pdf")
def loa_pdf(
    authorization_id: str = typer.Option(..., "--authorization"),
    out: Path = typer.Option(..., "--out"),
    version: int | None = typer.Option(None, help="Default: the latest version."),
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """Render the Letter of Authorization (or an amendment) as PDF, with its hash."""
    from article6.services import documents

    run(
        as_json,
        lambda: {
            "pdf": str(
                documents.render_loa(engine_for(database_url), authorization_id, out, version)
            )
        },
        lambda r: console.print(f"LoA written to {r['pdf']}"),
    )


@app.command("certificate")
def certificate(
    project_id: str = ProjectOption,
    period: int = typer.Option(...),
    out: Path = typer.Option(..., "--out"),
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """Render the issuance certificate of a monitoring period as PDF."""
    from article6.services import documents

    run(
        as_json,
        lambda: {
            "pdf": str(
                documents.render_issuance_certificate(
                    engine_for(database_url), project_id, period, out
                )
            )
        },
        lambda r: console.print(f"Certificate written to {r['pdf']}"),
    )
