"""`article6 mrv`: validate monitoring data, calculate and reproduce emission reductions.

`schema` lists the record types a dataset may hold and their columns;
`validate` reads a dataset and reports, per file, rows read, accepted and
quarantined with the reasons; `calculate` runs one vintage on DuckDB or Spark
and can freeze the run; `reproduce` reruns a frozen run and compares every
figure. Planning and reporting commands join this group from
`article6.cli.mrv_planning`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from article6.cli import mrv_planning
from article6.cli.common import console, errors, print_json
from article6.mrv.methodology import MethodologyError
from article6.mrv.params import ParameterError, load_parameter_set
from article6.settings import DEFAULT_RUNS_DIR

if TYPE_CHECKING:
    from article6.mrv.engine import EngineName

# The calculation modules are imported inside each command: the command line starts
# without loading Arrow, Ibis, DuckDB and Numba.

app = typer.Typer(help="Monitoring, reporting and verification of emission reductions.")

STEP_LABELS = {
    "ingest": "Reading and checking the data files",
    "load": "Loading staged tables",
    "identity": "Identity rules",
    "distance": "Daily distance",
    "energy": "Station energy",
    "vehicles": "Vehicle-years",
    "segments": "Segments and emissions",
    "collect": "Collecting results",
}


def _progress(enabled: bool) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("[dim]{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=errors,
        disable=not enabled,
        transient=True,
    )


def _fail(message: str) -> typer.Exit:
    errors.print(f"[red]Error[/red]: {message}")
    return typer.Exit(2)


def _engine(name: str) -> EngineName:
    from article6.mrv.engine import ENGINES

    if name not in ENGINES:
        raise _fail(f"--engine: {name!r} is not one of {', '.join(ENGINES)}")
    return name  # type: ignore[return-value]


@app.command()
def validate(
    data: Path = typer.Option(
        ..., "--data", help="Dataset folder (one file or folder per record)."
    ),
    params: Path | None = typer.Option(
        None, "--params", help="Also run the quality rules with this parameter set."
    ),
    year: int | None = typer.Option(None, "--year", help="Vintage for the quality rules."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Check every file against its schema; count accepted and quarantined rows."""
    from article6.mrv.engine import Engine
    from article6.mrv.ingest import IngestError, ingest_dataset
    from article6.mrv.pipeline import run_pipeline
    from article6.mrv.quality import duplicate_key_counts
    from article6.mrv.schema import SCHEMAS

    document: dict[str, Any] = {}
    try:
        parameter_set = load_parameter_set(params) if params is not None else None
        if parameter_set is not None and year is None:
            raise _fail("--year is required with --params")
        with (
            tempfile.TemporaryDirectory(prefix="article6-validate-") as scratch,
            _progress(not as_json) as bar,
        ):
            task = bar.add_task("Reading rows", total=None)
            report = ingest_dataset(
                data, Path(scratch), lambda _name, rows: bar.advance(task, rows)
            )
            read, accepted, quarantined = report.totals()
            document = {
                "input_hash": report.input_hash,
                "rows_read": read,
                "rows_accepted": accepted,
                "rows_quarantined": quarantined,
                "quarantine_by_reason": dict(report.quarantine_by_reason),
                "sources": [
                    {
                        "record_type": s.record_type,
                        "source_file": s.source_file,
                        "rows_read": s.rows_read,
                        "rows_accepted": s.rows_accepted,
                        "rows_quarantined": s.rows_quarantined,
                    }
                    for s in report.sources
                ],
            }
            bar.update(task, description="Duplicate keys")
            engine = Engine("duckdb")
            try:
                staged = {name: engine.read(Path(scratch) / f"{name}.parquet") for name in SCHEMAS}
                counts = engine.to_arrow(duplicate_key_counts(staged).order_by("record_type"))
            finally:
                engine.close()
            document["duplicate_keys"] = {
                row["record_type"]: int(row["rows"]) for row in counts.to_pylist()
            }
            if parameter_set is not None and year is not None:
                bar.update(task, description="Quality rules")
                result = run_pipeline(Path(scratch), parameter_set, year)
                rules: dict[str, dict[str, int]] = {}
                for row in result.rejected.to_pylist():
                    rules.setdefault(row["record_type"], {})[row["reason"]] = int(row["rows"])
                document["quality_rejections"] = rules
                document["rejected_days"] = {
                    row["reason"]: int(row["days"]) for row in result.rejected_days.to_pylist()
                }
    except (IngestError, ParameterError, MethodologyError) as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        print_json(document)
        return
    table = Table(title=f"Dataset {data}")
    for column in ("record type", "file", "read", "accepted", "quarantined"):
        table.add_column(
            column, justify="right" if column in ("read", "accepted", "quarantined") else "left"
        )
    for source in document["sources"]:
        table.add_row(
            source["record_type"],
            source["source_file"],
            f"{source['rows_read']:,}",
            f"{source['rows_accepted']:,}",
            f"{source['rows_quarantined']:,}",
        )
    console.print(table)
    for reason, count in document["quarantine_by_reason"].items():
        console.print(f"  quarantined [yellow]{reason}[/yellow]: {count:,}")
    for record_type, count in document["duplicate_keys"].items():
        console.print(f"  {record_type} [yellow]duplicate_key[/yellow]: {count:,}")
    for record_type, reasons in document.get("quality_rejections", {}).items():
        for reason, count in reasons.items():
            console.print(f"  rule {record_type} [yellow]{reason}[/yellow]: {count:,}")
    for reason, days in document.get("rejected_days", {}).items():
        console.print(f"  vehicle-days [yellow]{reason}[/yellow]: {days:,}")
    console.print(f"input hash {document['input_hash']}")


@app.command("schema")
def schema_command(
    record: str | None = typer.Option(None, "--record", help="One record type only."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """The record types a dataset may hold: columns, kinds, unique key, allowed codes."""
    from article6.mrv.schema import SCHEMAS

    if record is not None and record not in SCHEMAS:
        raise _fail(f"--record: {record!r} is not one of {', '.join(SCHEMAS)}")
    chosen = [SCHEMAS[record]] if record is not None else list(SCHEMAS.values())
    if as_json:
        print_json(
            [
                {
                    "record_type": schema.name,
                    "required": schema.required,
                    "key": list(schema.key),
                    "columns": [
                        {
                            "name": column.name,
                            "kind": column.kind,
                            "nullable": column.nullable,
                            "optional": column.optional,
                            "allowed": list(column.allowed),
                        }
                        for column in schema.columns
                    ],
                }
                for schema in chosen
            ]
        )
        return
    for schema in chosen:
        need = "required" if schema.required else "optional"
        table = Table(title=f"{schema.name} ({need}; unique key {', '.join(schema.key)})")
        for heading in ("column", "kind", "may be empty", "may be absent", "allowed values"):
            table.add_column(heading)
        for column in schema.columns:
            table.add_row(
                column.name,
                column.kind,
                "yes" if column.nullable else "no",
                "yes" if column.optional else "no",
                ", ".join(column.allowed),
            )
        console.print(table)


@app.command("calculate")
def calculate_command(
    data: Path = typer.Option(..., "--data", help="Dataset folder."),
    params: Path = typer.Option(..., "--params", help="Parameter set (TOML)."),
    year: int = typer.Option(..., "--year", help="Vintage year (local calendar year)."),
    engine: str = typer.Option("duckdb", "--engine", help="duckdb or spark."),
    freeze: bool = typer.Option(False, "--freeze", help="Store the run for verification."),
    runs_dir: Path = typer.Option(DEFAULT_RUNS_DIR, "--runs-dir", help="Where frozen runs go."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Calculate baseline, project and emission reductions of one vintage."""
    from article6.mrv.ingest import IngestError
    from article6.mrv.pipeline import STEPS
    from article6.mrv.runs import RunError, calculate

    engine_name = _engine(engine)
    try:
        with _progress(not as_json) as bar:
            task = bar.add_task("Starting", total=len(STEPS) + 1)

            def on_step(step: str) -> None:
                bar.update(task, description=STEP_LABELS.get(step, step), advance=1)

            run = calculate(
                data,
                params,
                year,
                engine=engine_name,
                freeze=freeze,
                runs_dir=runs_dir,
                on_step=on_step,
            )
    except (IngestError, ParameterError, MethodologyError, RunError) as exc:
        raise _fail(str(exc)) from exc
    document = run.to_json()
    if as_json:
        print_json(document)
        return
    figures = run.figures
    table = Table(title=f"Vintage {figures.year} — run {run.run_id}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = [
        ("vehicles operating", f"{figures.vehicles_operating:,} of {figures.vehicles_eligible:,}"),
        ("distance (km)", f"{figures.distance_km:,.1f}"),
        ("station energy (kWh)", f"{figures.energy_kwh:,.1f}"),
        ("unmetered energy (kWh)", f"{figures.unmetered_energy_kwh:,.1f}"),
        ("baseline emissions BE (t)", f"{figures.be_t:,.3f}"),
        ("project emissions PE (t)", f"{figures.pe_t:,.3f}"),
        ("leakage LE (t)", f"{figures.le_t:,.3f}"),
        ("emission reductions ER (t)", f"{figures.er_t:,.3f}"),
        ("above small-scale cap (t)", f"{figures.cap_excess_t:,.3f}"),
        ("issuable units (t, rounded down)", f"{figures.issued_t:,}"),
        ("telematics coverage", f"{figures.telematics_coverage:.1%}"),
        (
            "credited by survey sampling (E9)",
            f"{figures.sampling_credited_vehicles:,} vehicles, "
            f"{figures.sampling_credited_km:,.1f} km",
        ),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    for code, count in run.flags.items():
        console.print(f"  flag [yellow]{code}[/yellow]: {count:,}")
    console.print(f"input hash {run.input_hash}\nparameter hash {run.params_hash}")
    console.print(f"code {run.code_version} on {run.engine}")
    if run.run_dir is not None:
        console.print(f"[green]Frozen[/green] in {run.run_dir}")


@app.command("reproduce")
def reproduce_command(
    run_id: str = typer.Argument(..., help="Identifier of a frozen run."),
    data: Path = typer.Option(..., "--data", help="The dataset folder the run was made from."),
    runs_dir: Path = typer.Option(DEFAULT_RUNS_DIR, "--runs-dir", help="Where frozen runs are."),
    engine: str = typer.Option("duckdb", "--engine", help="duckdb or spark."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Rerun a frozen run and compare every figure and per-vehicle value to 1e-9."""
    from article6.mrv.ingest import IngestError
    from article6.mrv.runs import RunError, reproduce_run

    engine_name = _engine(engine)
    try:
        outcome = reproduce_run(runs_dir / run_id, data, engine=engine_name)
    except (IngestError, ParameterError, MethodologyError, RunError) as exc:
        raise _fail(str(exc)) from exc
    document = {
        "run_id": outcome.run_id,
        "reproduced": outcome.reproduced,
        "input_hash_matches": outcome.input_hash_matches,
        "code_version_matches": outcome.code_version_matches,
        "differences": list(outcome.differences),
    }
    if as_json:
        print_json(document)
    elif outcome.reproduced:
        console.print(f"[green]Run {outcome.run_id} reproduced[/green] to 1e-9.")
    else:
        console.print(f"[red]Run {outcome.run_id} not reproduced[/red]")
        if not outcome.input_hash_matches:
            console.print("  the data files differ from the frozen input hash")
        for line in outcome.differences[:50]:
            console.print(f"  {line}")
    if not outcome.reproduced:
        raise typer.Exit(1)


mrv_planning.register(app)
