"""`article6 report`: the annual information (AEF) of a Party and its checks.

`freeze-holdings` stores 31 December holdings once the year is over; `aef`
writes the Tables 1-5 workbook (or CSV, JSON) from the journal and that
snapshot; `check` runs the pre-submission consistency checks and exits 1
when any fails; `regular` writes the regular-information tables and chart.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer
from rich.table import Table

from article6.cli.common import (
    DatabaseOption,
    JsonOption,
    UserOption,
    acting,
    console,
    engine_for,
    print_json,
    refusals_as_exit,
)

# The reporting services are imported inside each command: the command line starts
# without loading the database, spreadsheet and charting libraries.

app = typer.Typer(help="Annual information (AEF) and its consistency checks.", no_args_is_help=True)

PartyOption = typer.Option(..., "--party", help="ISO alpha-3 code of the reporting Party.")
YearOption = typer.Option(..., "--year", help="The reported calendar year.")
DateOption = typer.Option(
    None, "--date", help="Date of submission or of the command, YYYY-MM-DD (default: today)."
)


def _day(value: str | None) -> date:
    return date.fromisoformat(value) if value else date.today()


@app.command("freeze-holdings")
def freeze_holdings(
    party: str = PartyOption,
    year: int = YearOption,
    on: str | None = DateOption,
    user: str = UserOption,
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """Freeze the Party's holdings as of 31 December of the year (once, after the year)."""
    from article6.services import reporting

    actor = acting(database_url, user)
    with refusals_as_exit(as_json):
        receipt = reporting.freeze_holdings(
            engine_for(database_url), actor=actor, party=party, year=year, on=_day(on)
        )
    if as_json:
        print_json(receipt.to_dict())
    else:
        d = receipt.details
        console.print(
            f"Holdings of {party} on 31/12/{year} frozen: {d['blocks']} blocks, "
            f"{d['quantity_t']:,} t (journal event {receipt.seq})"
        )


@app.command("aef")
def aef(
    party: str = PartyOption,
    year: int = YearOption,
    out: Path = typer.Option(..., "--out", help="File to write."),
    file_format: str = typer.Option("xlsx", "--format", help="xlsx, csv or json."),
    submitted: str | None = DateOption,
    user: str = UserOption,
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """Generate the AEF Tables 1-5 of a Party for a year and record its version."""
    from article6.services import reporting
    from article6.services.report_files import FORMATS, write_aef

    if file_format not in FORMATS:
        raise typer.BadParameter(f"--format must be one of {', '.join(FORMATS)}")
    actor = acting(database_url, user)
    with refusals_as_exit(as_json):
        report, receipt = reporting.generate_aef(
            engine_for(database_url),
            actor=actor,
            party=party,
            year=year,
            submitted_on=_day(submitted),
        )
    paths = write_aef(report, out, file_format)
    failures = reporting.check_report(engine_for(database_url), party, year, _day(submitted))
    summary = {
        "party": party,
        "year": year,
        "version": report.version,
        "new_version": receipt.details.get("new_version", False),
        "files": [str(p) for p in paths],
        "rows": {key: len(rows) for key, rows in report.tables().items()},
        "consistency_failures": len(failures),
    }
    if as_json:
        print_json(summary)
    else:
        console.print(
            f"AEF of {party} for {year}, version {report.version}: "
            + ", ".join(f"{k} {v} rows" for k, v in summary["rows"].items())
        )
        for path in paths:
            console.print(f"  wrote {path}")
        if failures:
            console.print(
                f"[yellow]{len(failures)} consistency checks fail: run `article6 report check`"
                "[/yellow]"
            )


@app.command("check")
def check(
    party: str = PartyOption,
    year: int = YearOption,
    submitted: str | None = DateOption,
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """Run the pre-submission consistency checks; exit 1 if any fails."""
    from article6.services import reporting

    with refusals_as_exit(as_json):
        failures = reporting.check_report(engine_for(database_url), party, year, _day(submitted))
    if as_json:
        print_json(
            {
                "party": party,
                "year": year,
                "ok": not failures,
                "failures": [f.to_dict() for f in failures],
            }
        )
    elif not failures:
        console.print(f"AEF of {party} for {year}: every consistency check passes")
    else:
        table = Table(title=f"AEF of {party} for {year}: {len(failures)} failures")
        for column in ("Table", "Row", "Rule", "Problem"):
            table.add_column(column)
        for failure in failures:
            table.add_row(failure.table, str(failure.row or "-"), failure.rule, failure.message)
        console.print(table)
    if failures:
        raise typer.Exit(1)


@app.command("regular")
def regular(
    party: str = PartyOption,
    year: int = YearOption,
    out_dir: Path = typer.Option(..., "--out-dir", help="Folder for XLSX, JSON and PNG."),
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """Regular information: balance per year, cumulative flows and holdings, and a chart."""
    from article6.services import regular_information
    from article6.services.report_files import write_balance_chart, write_regular_information

    with refusals_as_exit(as_json):
        info = regular_information.regular_information(engine_for(database_url), party, year)
    paths = write_regular_information(
        info,
        out_dir / f"regular_information_{party}_{year}.xlsx",
        out_dir / f"regular_information_{party}_{year}.json",
    )
    paths.append(write_balance_chart(info, out_dir / f"balance_{party}_{year}.png"))
    if as_json:
        print_json({"files": [str(p) for p in paths], **info})
    else:
        for path in paths:
            console.print(f"wrote {path}")
