"""`article6 accounting`: NDCs, inventories and the emissions balance.

`balance` prints E, FT, U and the balance per year under the Party's method
(with the averages for the averaging method); `record-ndc` and
`import-inventory` feed it; `finalise` and `correct` close an NDC period and
change it afterwards only with a journaled reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from article6.cli.common import (
    DatabaseOption,
    JsonOption,
    UserOption,
    acting,
    console,
    engine_for,
    errors,
    print_json,
    refusals_as_exit,
    run,
)
from article6.domain.accounting import Attribution, NdcError, whole_tonnes
from article6.domain.inventory import InventoryRejected

if TYPE_CHECKING:
    from article6.services.commands import Receipt

# The accounting service is imported inside each command: the command line starts
# without loading the database and spreadsheet libraries.

app = typer.Typer(help="NDCs, inventories and emissions balances.", no_args_is_help=True)

PartyOption = typer.Option(..., "--party", help="ISO alpha-3 code of the Party.")


def _show_receipt(receipt: Receipt) -> None:
    console.print(f"{receipt.command}: {receipt.details} (journal event {receipt.seq})")


@app.command("balance")
def balance(
    party: str = PartyOption,
    year: int = typer.Option(..., "--year", help="The year the balance is reported for."),
    attribution: Attribution | None = typer.Option(
        None, "--attribution", help="Override the NDC's attribution of first transfers."
    ),
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """E, FT, U and the emissions balance of the NDC period covering the year."""
    from article6.services import accounting

    with refusals_as_exit(as_json):
        statement = accounting.balance_statement(engine_for(database_url), party, year, attribution)
    if as_json:
        print_json(statement.to_dict())
        return
    figures = statement.figures
    table = Table(
        title=f"{party} emissions balance, {figures['method']} method "
        f"({statement.status}, FT by {figures['attribution']})"
    )
    for column in ("Year", "E (t)", "FT (t)", "U (t)", "EB = E + FT - U (t)", "Trajectory (t)"):
        table.add_column(column, justify="right")
    for row in figures["years"]:
        table.add_row(
            str(row["year"]),
            _t(row["emissions_t"]),
            _t(row["first_transfers_t"]),
            _t(row["uses_t"]),
            _t(row["balance_t"]),
            _t(row["trajectory_t"]),
        )
    console.print(table)
    computed = statement.computed
    if computed.average_first_transfers_t is not None and computed.average_uses_t is not None:
        console.print(
            f"Averaging over k = {computed.elapsed_years} elapsed years: avgFT "
            f"{whole_tonnes(computed.average_first_transfers_t):,} t, avgU "
            f"{whole_tonnes(computed.average_uses_t):,} t"
        )
    target_balance = figures["target_year_balance_t"]
    console.print(
        f"Target-year balance: {'awaiting inventory' if target_balance is None else target_balance}"
        f"; NDC target {figures['target_t']:,} t; achieved: {figures['achieved']}"
    )
    if statement.differs:
        errors.print("[yellow]The journal now gives other figures: record a correction.[/yellow]")


def _t(value: object) -> str:
    return "—" if value is None else f"{int(str(value)):,}"


@app.command("record-ndc")
def record_ndc(
    file: Path = typer.Option(..., "--file", exists=True, help="NDC definition (TOML)."),
    user: str = UserOption,
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """Record a new version of a Party's NDC from a TOML file."""
    from article6.services import accounting

    actor = acting(database_url, user)
    try:
        ndc = accounting.load_ndc_file(file)
    except NdcError as exc:
        errors.print(f"[red]Invalid NDC[/red]: {exc}")
        raise typer.Exit(2) from exc
    run(
        as_json,
        lambda: accounting.record_ndc(engine_for(database_url), actor=actor, ndc=ndc),
        _show_receipt,
    )


@app.command("import-inventory")
def import_inventory(
    party: str = PartyOption,
    file: Path = typer.Option(..., "--file", exists=True, help="CSV or XLSX inventory."),
    user: str = UserOption,
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """Import inventory emissions per year; every problem is named by file, row and column."""
    from article6.services import accounting

    actor = acting(database_url, user)
    try:
        records = accounting.read_inventory_file(file)
    except InventoryRejected as rejected:
        if as_json:
            print_json({"ok": False, "issues": [str(i) for i in rejected.issues]})
        else:
            for issue in rejected.issues:
                errors.print(f"[red]{issue}[/red]")
        raise typer.Exit(2) from rejected
    run(
        as_json,
        lambda: accounting.import_inventory(
            engine_for(database_url), actor=actor, party=party, records=records
        ),
        _show_receipt,
    )


@app.command("finalise")
def finalise(
    party: str = PartyOption,
    period_end: int = typer.Option(..., "--period-end", help="Last year of the NDC period."),
    user: str = UserOption,
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """Finalise the balance of an NDC period; later changes need a correction."""
    from article6.services import accounting

    actor = acting(database_url, user)
    run(
        as_json,
        lambda: accounting.finalise_balance(
            engine_for(database_url), actor=actor, party=party, period_end=period_end
        ),
        _show_receipt,
    )


@app.command("correct")
def correct(
    party: str = PartyOption,
    period_end: int = typer.Option(..., "--period-end", help="Last year of the NDC period."),
    reason: str = typer.Option(..., "--reason", help="Why the final figures change."),
    user: str = UserOption,
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """Replace a finalised balance by the recomputed one, with the reason on the journal."""
    from article6.services import accounting

    actor = acting(database_url, user)
    run(
        as_json,
        lambda: accounting.correct_balance(
            engine_for(database_url),
            actor=actor,
            party=party,
            period_end=period_end,
            reason=reason,
        ),
        _show_receipt,
    )
