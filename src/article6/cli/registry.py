"""`article6 registry`: holdings, verification, checkpoints and unit actions."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from article6.cli.common import (
    DatabaseOption,
    JsonOption,
    UserOption,
    act,
    console,
    engine_for,
    errors,
    print_json,
    settings_for,
)
from article6.domain.model import Purpose

if TYPE_CHECKING:
    from article6.services.commands import Receipt
    from article6.services.verify import VerifyReport

# The registry services are imported inside each command: the command line starts
# without loading the database libraries.

app = typer.Typer(help="The ITMO registry: holdings, actions, verification.", no_args_is_help=True)

KeyOption = typer.Option(
    None, "--idempotency-key", help="A repeat with the same key changes nothing."
)
DateOption = typer.Option(None, "--date", help="Action date, YYYY-MM-DD (default: today).")


@app.command()
def holdings(
    registry: str | None = typer.Option(None, "--registry", help="Only this registry, e.g. KHM01."),
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """List blocks with their first and last ITMO identifiers."""
    from article6.services import queries

    rows = queries.holdings(engine_for(database_url), registry)
    if as_json:
        print_json([r.to_dict() for r in rows])
        return
    table = Table(title=f"Holdings{' of ' + registry if registry else ''}")
    for column in ("Account", "First ID", "Last ID", "Quantity (t)", "State", "Authorization"):
        table.add_column(column, justify="right" if column.startswith("Quantity") else "left")
    for r in rows:
        state = r.state + (f" for {r.use_year}" if r.use_year else "")
        if r.state == "held" and not r.first_transferred:
            state += " (not first transferred)"
        table.add_row(
            r.account_id,
            r.first_id,
            r.last_id,
            f"{r.quantity_t:,}",
            state,
            r.authorization or "none",
        )
    console.print(table)


@app.command("verify")
def verify_command(
    checkpoint: Path | None = typer.Option(None, "--checkpoint", help="A signed checkpoint file."),
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """Replay the journal, check the chain, every invariant and the projections."""
    from article6.services.verify import verify

    data = json.loads(checkpoint.read_text()) if checkpoint else None
    report = verify(engine_for(database_url), data)
    if as_json:
        print_json(report.to_dict())
    else:
        _show_report(report)
    if not report.ok:
        raise typer.Exit(1)


def _show_report(report: VerifyReport) -> None:
    if report.ok:
        console.print(
            f"[green]Verified[/green]: {report.events} events, head {report.head_hash[:16]}…; "
            + "; ".join(report.checks)
        )
    else:
        errors.print(f"[red]Verification failed[/red]: {report.problem}")


@app.command("checkpoint")
def checkpoint_command(
    out: Path = typer.Option(..., "--out", help="Where to write the signed checkpoint (JSON)."),
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """Write a checkpoint (journal length, head hash, holdings digest) signed by each registry."""
    from article6.services.verify import BrokenJournal, make_checkpoint

    settings = settings_for(database_url)
    try:
        data = make_checkpoint(engine_for(database_url), settings.key_dir)
    except BrokenJournal as broken:
        errors.print(f"[red]{broken}[/red]")
        raise typer.Exit(1) from broken
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2) + "\n")
    if as_json:
        print_json(data)
    else:
        console.print(f"Checkpoint at event {data['journal_length']} written to {out}")


def _show_receipt(receipt: Receipt) -> None:
    note = " (already done: nothing changed)" if receipt.replayed else ""
    console.print(f"[green]{receipt.command}[/green] recorded as event {receipt.seq}{note}")
    for block in receipt.details.get("blocks", []):
        console.print(f"  block {block['block_id']}: serials {block['first']}–{block['last']}")


def _today(value: str | None) -> date:
    return date.fromisoformat(value) if value else date.today()


@app.command()
def issue(
    approach: str = typer.Option(..., help="Cooperative approach ID, e.g. CA0001."),
    registry: str = typer.Option(..., help="Host registry, e.g. KHM01."),
    vintage: int = typer.Option(...),
    quantity: int = typer.Option(..., help="Whole tonnes."),
    authorization: str | None = typer.Option(None, help="Authorization ID, if authorized."),
    action_date: str | None = DateOption,
    user: str = UserOption,
    idempotency_key: str | None = KeyOption,
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """Issue mitigation outcomes of a vintage into the host registry's pending account."""
    from article6.services import actions

    act(
        as_json,
        database_url,
        user,
        lambda engine, actor: actions.issue_units(
            engine,
            actor=actor,
            approach_id=approach,
            registry_id=registry,
            vintage=vintage,
            quantity_t=quantity,
            authorization_id=authorization,
            action_date=_today(action_date),
            idempotency_key=idempotency_key,
        ),
        _show_receipt,
    )


@app.command("first-transfer")
def first_transfer(
    from_account: str = typer.Option(..., "--from"),
    to_account: str = typer.Option(..., "--to"),
    approach: str = typer.Option(...),
    vintage: int = typer.Option(...),
    quantity: int = typer.Option(...),
    authorization: str = typer.Option(...),
    action_date: str | None = DateOption,
    user: str = UserOption,
    idempotency_key: str | None = KeyOption,
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """First transfer authorized units to another Party's registry (they become ITMOs)."""
    from article6.services import actions

    act(
        as_json,
        database_url,
        user,
        lambda engine, actor: actions.first_transfer(
            engine,
            actor=actor,
            from_account=from_account,
            to_account=to_account,
            selection=actions.Selection(approach, vintage, quantity),
            authorization_id=authorization,
            action_date=_today(action_date),
            idempotency_key=idempotency_key,
        ),
        _show_receipt,
    )


@app.command()
def transfer(
    from_account: str = typer.Option(..., "--from"),
    to_account: str = typer.Option(..., "--to"),
    approach: str = typer.Option(...),
    vintage: int = typer.Option(...),
    quantity: int = typer.Option(...),
    action_date: str | None = DateOption,
    user: str = UserOption,
    idempotency_key: str | None = KeyOption,
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """Transfer units between accounts or registries."""
    from article6.services import actions

    act(
        as_json,
        database_url,
        user,
        lambda engine, actor: actions.transfer(
            engine,
            actor=actor,
            from_account=from_account,
            to_account=to_account,
            selection=actions.Selection(approach, vintage, quantity),
            action_date=_today(action_date),
            idempotency_key=idempotency_key,
        ),
        _show_receipt,
    )


@app.command()
def use(
    from_account: str = typer.Option(..., "--from"),
    approach: str = typer.Option(...),
    vintage: int = typer.Option(...),
    quantity: int = typer.Option(...),
    purpose: Purpose = typer.Option(Purpose.NDC),
    use_year: int | None = typer.Option(None, "--use-year", help="Calendar year of NDC use."),
    action_date: str | None = DateOption,
    user: str = UserOption,
    idempotency_key: str | None = KeyOption,
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """Use ITMOs towards the NDC or for OIMP."""
    from article6.services import actions

    act(
        as_json,
        database_url,
        user,
        lambda engine, actor: actions.use_units(
            engine,
            actor=actor,
            from_account=from_account,
            selection=actions.Selection(approach, vintage, quantity),
            purpose=purpose,
            use_year=use_year,
            action_date=_today(action_date),
            idempotency_key=idempotency_key,
        ),
        _show_receipt,
    )


@app.command()
def cancel(
    from_account: str = typer.Option(..., "--from"),
    approach: str = typer.Option(...),
    vintage: int = typer.Option(...),
    quantity: int = typer.Option(...),
    kind: str = typer.Option("voluntary", help="voluntary, omge or other."),
    action_date: str | None = DateOption,
    user: str = UserOption,
    idempotency_key: str | None = KeyOption,
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """Cancel units (voluntary, OMGE or other)."""
    from article6.services import actions

    act(
        as_json,
        database_url,
        user,
        lambda engine, actor: actions.cancel_units(
            engine,
            actor=actor,
            from_account=from_account,
            selection=actions.Selection(approach, vintage, quantity),
            kind=kind,
            action_date=_today(action_date),
            idempotency_key=idempotency_key,
        ),
        _show_receipt,
    )
