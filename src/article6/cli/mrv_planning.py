"""`article6 mrv simulate | project | report`: synthetic data, ex-ante projection, reports.

These commands plan and present rather than credit: `simulate` writes a
realistic monitoring data set (with injected faults on request), `project`
turns a rollout plan into expected reductions with their uncertainty, and
`report` renders a frozen calculation run as PDF and XLSX for verifiers. They join
the `article6 mrv` group through `register`.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from article6.cli.common import console, errors, print_json
from article6.mrv.params import ParameterError, load_parameter_set
from article6.mrv.rollout_plan import DEFAULT_KOREA_T, DEFAULT_TARGET_T, PlanError, load_plan
from article6.settings import DEFAULT_RUNS_DIR

# The simulation, projection and report modules are imported inside each command: the
# command line starts without loading NumPy, Arrow, DuckDB and the PDF and XLSX writers.


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=errors,
        disable=not enabled,
        transient=True,
    )


def simulate(
    vehicles: int = typer.Option(..., "--vehicles", min=1, help="Fleet size."),
    start: str = typer.Option(..., "--start", help="First simulated day, YYYY-MM-DD (local)."),
    days: int = typer.Option(..., "--days", min=1, help="Number of days."),
    out: Path = typer.Option(..., "--out", help="Folder for the record files and manifest."),
    gps: bool = typer.Option(False, "--gps", help="Also write GPS pings (high volume)."),
    fault_rate: float = typer.Option(0.0, "--fault-rate", help="Share of vehicles with a fault."),
    seed: int = typer.Option(0, "--seed", help="Random seed; same seed, same data."),
    output_format: str = typer.Option("parquet", "--format", help="csv or parquet."),
    ping_interval_s: int = typer.Option(30, "--ping-interval-s", help="Seconds between pings."),
    untracked_share: float = typer.Option(
        0.0,
        "--untracked-share",
        help="Share of all vehicles sold without telematics (taken from private sales, "
        "mostly Siem Reap); a sample of them gets manual odometer surveys. Default 0: "
        "every vehicle has a device.",
    ),
    undersample: list[str] | None = typer.Option(
        None,
        "--undersample",
        help="Category (e_scooter, e_motorcycle) whose survey sample is deliberately too "
        "small for the (E9) precision; repeatable.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Write a synthetic monitoring data set for Phnom Penh and Siem Reap.

    Vehicles without telematics (`--untracked-share`) still swap and charge;
    their distance can only come from the odometer surveys of (E9). The
    manifest lists injected faults, survey sample sizes and the true distance
    of every untracked vehicle per year.
    """
    from article6.mrv.simulator import SimulationConfig, simulate_fleet

    try:
        config = SimulationConfig(
            vehicles=vehicles,
            start=date.fromisoformat(start),
            days=days,
            out_dir=out,
            seed=seed,
            gps=gps,
            fault_rate=fault_rate,
            output_format=output_format,  # type: ignore[arg-type]
            ping_interval_s=ping_interval_s,
            untracked_share=untracked_share,
            undersampled=tuple(undersample or ()),
        )
        config.check()
        with _progress(not as_json) as bar:
            task = bar.add_task("vehicles", total=vehicles)
            summary = simulate_fleet(config, lambda done, _total: bar.update(task, completed=done))
    except ValueError as exc:
        errors.print(f"[red]Cannot simulate[/red]: {exc}")
        raise typer.Exit(2) from exc
    if as_json:
        print_json(summary.as_json())
        return
    table = Table(title=f"Simulated data set in {out}")
    table.add_column("record type")
    table.add_column("rows", justify="right")
    for record_type, rows in summary.rows.items():
        table.add_row(record_type, f"{rows:,}")
    console.print(table)
    faults = summary.as_json()["faults"]
    if faults:
        console.print(f"Injected faults ({sum(faults.values())}), listed in manifest.json:")
        for kind, count in sorted(faults.items()):
            console.print(f"  {kind}: {count}")


def project(
    plan_file: Path = typer.Option(..., "--plan", help="Rollout plan (TOML)."),
    params_file: Path = typer.Option(..., "--params", help="Parameter set (TOML)."),
    runs: int = typer.Option(10_000, "--runs", min=1, help="Monte Carlo runs."),
    seed: int = typer.Option(0, "--seed", help="Random seed of the Monte Carlo."),
    target_t: float = typer.Option(DEFAULT_TARGET_T, "--target-t", help="Promised total, t."),
    korea_t: float = typer.Option(DEFAULT_KOREA_T, "--korea-t", help="Volume for Korea, t."),
    korea_share: float | None = typer.Option(
        None, "--korea-share", help="Korea's share of each issuance (default korea/target)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Expected reductions per vintage, sensitivity and Monte Carlo of a rollout plan."""
    from article6.mrv.projection import central_case, monte_carlo, sensitivity

    try:
        plan = load_plan(plan_file)
        params = load_parameter_set(params_file)
        vintages = central_case(plan, params)
        rows = sensitivity(plan, params)
        with _progress(not as_json) as bar:
            task = bar.add_task("Monte Carlo runs", total=runs)
            result = monte_carlo(
                plan,
                params,
                runs,
                seed,
                target_t=target_t,
                korea_t=korea_t,
                korea_share=korea_share,
                progress=lambda done, _total: bar.update(task, completed=done),
            )
    except (PlanError, ParameterError, ValueError) as exc:
        errors.print(f"[red]Cannot project[/red]: {exc}")
        raise typer.Exit(2) from exc
    central_total = sum(v.issued_t for v in vintages)
    document: dict[str, Any] = {
        "plan": plan.plan_id,
        "parameter_set": f"{params.set_id} v{params.version}",
        "parameter_set_hash": params.hash(),
        "central": {
            "total_t": central_total,
            "vintages": [v.__dict__ for v in vintages],
        },
        "sensitivity": [{**row.__dict__, "swing_t": row.swing_t} for row in rows],
        "monte_carlo": {
            "runs": result.runs,
            "seed": result.seed,
            "p10_t": result.total_p10_t,
            "p50_t": result.total_p50_t,
            "p90_t": result.total_p90_t,
            "target_t": result.target_t,
            "korea_t": result.korea_t,
            "korea_share": result.korea_share,
            "probability_target": result.probability_target,
            "probability_korea": result.probability_korea,
            "vintages": [
                {
                    "vintage": int(year),
                    **{
                        f"issued_p{round(level * 100)}_t": float(result.curves.issued_t[i, col])
                        for i, level in enumerate(result.curves.levels)
                    },
                    **{
                        f"korea_cumulative_p{round(level * 100)}_t": float(
                            result.curves.korea_cumulative_t[i, col]
                        )
                        for i, level in enumerate(result.curves.levels)
                    },
                }
                for col, year in enumerate(result.curves.vintages)
            ],
        },
    }
    if as_json:
        print_json(document)
        return
    _show_projection(document)


def _show_projection(document: dict[str, Any]) -> None:
    table = Table(title=f"Central case: {document['plan']} ({document['parameter_set']})")
    for name in ("vintage", "vehicles", "distance Mkm", "BE t", "PE t", "issued t"):
        table.add_column(name, justify="right")
    for v in document["central"]["vintages"]:
        table.add_row(
            str(v["vintage"]),
            f"{v['vehicles_year_end']:,.0f}",
            f"{v['distance_km'] / 1e6:,.1f}",
            f"{v['be_t']:,.0f}",
            f"{v['pe_t']:,.0f}",
            f"{v['issued_t']:,}",
        )
    table.add_row("total", "", "", "", "", f"{document['central']['total_t']:,}")
    console.print(table)
    sens = Table(title="Sensitivity of the total (one driver at a time)")
    for name in ("driver", "low ×", "high ×", "total at low t", "total at high t", "swing t"):
        sens.add_column(name, justify="right")
    for row in document["sensitivity"]:
        sens.add_row(
            row["driver"],
            f"{row['low_multiplier']:.2f}",
            f"{row['high_multiplier']:.2f}",
            f"{row['total_at_low_t']:,}",
            f"{row['total_at_high_t']:,}",
            f"{row['swing_t']:,}",
        )
    console.print(sens)
    mc = document["monte_carlo"]
    console.print(
        f"Monte Carlo ({mc['runs']:,} runs, seed {mc['seed']}): "
        f"P10 {mc['p10_t']:,.0f} t, P50 {mc['p50_t']:,.0f} t, P90 {mc['p90_t']:,.0f} t"
    )
    console.print(
        f"P(total >= {mc['target_t']:,.0f} t) = {mc['probability_target']:.1%}; "
        f"P(Korea receives {mc['korea_t']:,.0f} t at share {mc['korea_share']:.3f}) = "
        f"{mc['probability_korea']:.1%}"
    )
    curve = Table(title="Cumulative delivery to Korea by vintage")
    for name in ("vintage", "P10 t", "P50 t", "P90 t"):
        curve.add_column(name, justify="right")
    for v in mc["vintages"]:
        curve.add_row(
            str(v["vintage"]),
            f"{v['korea_cumulative_p10_t']:,.0f}",
            f"{v['korea_cumulative_p50_t']:,.0f}",
            f"{v['korea_cumulative_p90_t']:,.0f}",
        )
    console.print(curve)


def report(
    run_id: str = typer.Option(..., "--run", help="Id of a frozen calculation run."),
    out: Path = typer.Option(..., "--out", help="Folder for the PDF and XLSX."),
    runs_dir: Path = typer.Option(
        DEFAULT_RUNS_DIR, "--runs-dir", help="Where frozen runs are stored."
    ),
    data_dir: Path | None = typer.Option(
        None, "--data", help="The run's dataset, for monthly energy from the meters."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Monitoring report of a calculation run: PDF for reading, XLSX for recomputing."""
    from article6.mrv.report import write_report
    from article6.mrv.report_run import report_data_from_run
    from article6.mrv.runs import RunError

    try:
        data = report_data_from_run(run_id, runs_dir, data_dir)
        files = write_report(data, out)
    except (RunError, ParameterError) as exc:
        errors.print(f"[red]Cannot report[/red]: {exc}")
        raise typer.Exit(2) from exc
    document = {
        "run_id": data.run_id,
        "pdf": str(files.pdf),
        "xlsx": str(files.xlsx),
        "issued_t": data.issued_t,
        "vehicles": len(data.vehicles),
        "quarantined_or_flagged": data.quarantined,
    }
    if as_json:
        print_json(document)
        return
    console.print(
        f"Report of run {data.run_id}: {data.issued_t:,} t issued, "
        f"{len(data.vehicles):,} vehicles, {data.quarantined:,} rows quarantined or flagged"
    )
    console.print(f"  {files.pdf}")
    console.print(f"  {files.xlsx}")


def register(app: typer.Typer) -> None:
    """Add `simulate`, `project` and `report` to the `article6 mrv` group."""
    app.command("simulate")(simulate)
    app.command("project")(project)
    app.command("report")(report)
