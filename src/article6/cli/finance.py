"""`article6 finance`: financing agreements, recovery in credits, delivery risk.

For the fund manager: record and amend agreements (TOML files), disbursements
and exchange rates; read an agreement's status and recovery ledger, the
portfolio, the delivery risk from the MRV Monte Carlo, an export (workbook and
charts), and a replay check of the finance journal. For the registry: record a
delivery, or catch up units already received. `load-reference` records the
reference agreement into a database that holds the reference case.
"""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from article6.cli.common import (
    DatabaseOption,
    JsonOption,
    UserOption,
    act,
    acting,
    console,
    engine_for,
    errors,
    print_json,
    refusals_as_exit,
    run,
)
from article6.domain import finance_codec as fc
from article6.domain.finance import Disbursement
from article6.domain.finance_analysis import DEFAULT_WARNING_SHARE
from article6.domain.finance_money import ExchangeRate, Money, parse_decimal
from article6.mrv.params import ParameterError, load_parameter_set
from article6.mrv.rollout_plan import PlanError, load_plan

if TYPE_CHECKING:
    from article6.services.commands import Receipt
    from article6.services.finance_risk import DeliveryRisk
    from article6.services.finance_status import AgreementReport

# The finance services are imported inside the functions that use them: the command
# line starts without loading the database, numerical and charting libraries.

app = typer.Typer(
    help="Financing agreements: recovery in credits, portfolio, delivery risk.",
    no_args_is_help=True,
)

AgreementOption = typer.Option(..., "--agreement", help="Financing agreement ID.")
AsOfOption = typer.Option(None, "--as-of", help="Report date, YYYY-MM-DD (default: today).")
ThroughOption = typer.Option(
    None, "--through-vintage", help="Last vintage due (default: latest delivered)."
)
WarningOption = typer.Option(
    str(DEFAULT_WARNING_SHARE),
    "--warning-share",
    help="Warn when delivery is behind plan by more than this share (0.10 = 10 %).",
)
PlanOption = typer.Option(None, "--plan", help="Rollout plan (TOML) for the delivery risk.")
ParamsOption = typer.Option(None, "--params", help="Parameter set (TOML) for the delivery risk.")
RunsOption = typer.Option(2_000, "--runs", min=1, help="Monte Carlo runs.")
SeedOption = typer.Option(0, "--seed", help="Monte Carlo seed.")
ShareOption = typer.Option(
    None, "--share", help="Financier's share of each issuance (default: from the agreement)."
)


def _as_of(value: str | None) -> date:
    if value is None:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        errors.print(f"[red]--as-of[/red]: {value!r} is not a date (YYYY-MM-DD)")
        raise typer.Exit(2) from exc


def _report(
    database_url: str | None,
    agreement: str,
    as_of: str | None,
    through_vintage: int | None,
    warning_share: str,
) -> AgreementReport:
    from article6.services.finance_status import agreement_report

    return agreement_report(
        engine_for(database_url),
        agreement,
        _as_of(as_of),
        through_vintage,
        parse_decimal(warning_share, "--warning-share"),
    )


def _risk(
    database_url: str | None,
    report: AgreementReport,
    plan: Path,
    params: Path,
    runs: int,
    seed: int,
    share: str | None,
    warning_share: str,
) -> DeliveryRisk:
    from article6.services.finance_risk import delivery_risk

    try:
        rollout = load_plan(plan)
        parameters = load_parameter_set(params)
    except (PlanError, ParameterError) as exc:
        errors.print(f"[red]Cannot project[/red]: {exc}")
        raise typer.Exit(2) from exc
    return delivery_risk(
        engine_for(database_url),
        report,
        rollout,
        parameters,
        runs=runs,
        seed=seed,
        share=None if share is None else parse_decimal(share, "--share"),
        warning_share=parse_decimal(warning_share, "--warning-share"),
    )


@app.command()
def status(
    agreement: str = AgreementOption,
    as_of: str | None = AsOfOption,
    through_vintage: int | None = ThroughOption,
    warning_share: str = WarningOption,
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """Recovery status of one agreement: ledger per vintage, NPV, IRR, warning."""
    with refusals_as_exit(as_json):
        report = _report(database_url, agreement, as_of, through_vintage, warning_share)
    if as_json:
        print_json(report.to_dict())
        return
    for line in report.lines():
        console.print(line, highlight=False, markup=False)


@app.command("portfolio")
def portfolio_command(
    as_of: str | None = AsOfOption,
    currency: str = typer.Option("KRW", "--currency", help="Reporting currency."),
    discount_rate: str | None = typer.Option(
        None, "--discount-rate", help="Yearly rate for the programme's NPV, e.g. 0.035."
    ),
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """Totals across agreements by host Party, sector and status; pipeline vs delivered;
    the programme's NPV and IRR."""
    from article6.services.finance_status import portfolio

    with refusals_as_exit(as_json):
        rate = None if discount_rate is None else parse_decimal(discount_rate, "--discount-rate")
        result = portfolio(engine_for(database_url), _as_of(as_of), currency, rate)
    if as_json:
        print_json(result.to_dict())
        return
    table = Table(title=f"Financing portfolio as of {result.as_of.isoformat()} ({currency})")
    for column in (
        "By",
        "Key",
        "Agreements",
        "Contracted t",
        "Delivered t",
        "Pipeline t",
        "Committed",
        "Disbursed",
        "Recovered",
        "Outstanding",
        "Behind plan",
    ):
        table.add_column(column, justify="left" if column in ("By", "Key") else "right")
    for row in result.totals:
        table.add_row(
            row.dimension,
            row.key,
            str(row.agreements),
            f"{row.contracted_t:,}",
            f"{row.delivered_t:,}",
            f"{row.pipeline_t:,}",
            f"{row.committed.amount:,}",
            f"{row.disbursed.amount:,}",
            f"{row.recovered.amount:,}",
            f"{row.outstanding.amount:,}",
            str(row.behind_plan),
        )
    console.print(table)
    programme = "  Programme IRR: " + (
        "none (no sign change)" if result.irr is None else f"{result.irr * 100:.4f} %"
    )
    if result.npv is not None:
        programme += f"; NPV at {result.discount_rate} a year: {result.npv}"
    console.print(programme, highlight=False, markup=False)


@app.command()
def risk(
    agreement: str = AgreementOption,
    plan: Path = typer.Option(..., "--plan", help="Rollout plan (TOML)."),
    params: Path = typer.Option(..., "--params", help="Parameter set (TOML)."),
    runs: int = RunsOption,
    seed: int = SeedOption,
    share: str | None = ShareOption,
    as_of: str | None = AsOfOption,
    warning_share: str = WarningOption,
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """Probability of full recovery, expected shortfall, P10/P50/P90 delivery curves."""
    with refusals_as_exit(as_json):
        report = _report(database_url, agreement, as_of, None, warning_share)
        result = _risk(database_url, report, plan, params, runs, seed, share, warning_share)
    if as_json:
        print_json(result.to_dict())
        return
    for line in result.lines():
        console.print(line, highlight=False, markup=False)


@app.command()
def export(
    agreement: str = AgreementOption,
    out: Path = typer.Option(Path("finance-report"), "--out", help="Output folder."),
    plan: Path | None = PlanOption,
    params: Path | None = ParamsOption,
    runs: int = RunsOption,
    seed: int = SeedOption,
    share: str | None = ShareOption,
    as_of: str | None = AsOfOption,
    currency: str = typer.Option("KRW", "--currency", help="Portfolio reporting currency."),
    warning_share: str = WarningOption,
    database_url: str | None = DatabaseOption,
) -> None:
    """Write the agreement's workbook (XLSX) and charts (PNG)."""
    from article6.services.finance_reports import write_finance_reports
    from article6.services.finance_status import portfolio

    with refusals_as_exit(False):
        report = _report(database_url, agreement, as_of, None, warning_share)
        risk_result = None
        if plan is not None and params is not None:
            risk_result = _risk(
                database_url, report, plan, params, runs, seed, share, warning_share
            )
        elif (plan is None) != (params is None):
            errors.print("[red]Give both --plan and --params for the delivery risk[/red]")
            raise typer.Exit(2)
        book = portfolio(engine_for(database_url), report.as_of, currency)
        files = write_finance_reports(out, report, risk_result, book)
    console.print(f"Workbook: {files.workbook}")
    for chart in files.charts:
        console.print(f"Chart: {chart}")


@app.command("load-reference")
def load_reference(
    deliveries: bool = typer.Option(
        True,
        "--deliveries/--no-deliveries",
        help="Record units already in KOR01-HOLDING as recovery deliveries.",
    ),
    database_url: str | None = DatabaseOption,
) -> None:
    """Record the reference agreement (400,000 t at 14,864 KRW/t) and its disbursements."""
    from article6.services import finance_reference

    with refusals_as_exit(False):
        loaded = finance_reference.load_reference_agreement(
            engine_for(database_url), record_deliveries=deliveries
        )
    console.print(f"Recorded financing agreement {loaded.agreement_id} v{loaded.version}")


@app.command("verify")
def verify_command(
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """Replay the finance events: re-validate, recompute recoveries, compare the tables."""
    from article6.services.finance_verify import verify_finance

    report = verify_finance(engine_for(database_url))
    if as_json:
        print_json(report.to_dict())
    elif report.ok:
        for check in report.checks:
            console.print(f"[green]OK[/green] {check}")
    else:
        errors.print(f"[red]Finance journal does not check out[/red]: {report.problem}")
    if not report.ok:
        raise typer.Exit(1)


KeyOption = typer.Option(
    None, "--idempotency-key", help="A repeat with the same key changes nothing."
)


def _date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        errors.print(f"[red]{option}[/red]: {value!r} is not a date (YYYY-MM-DD)")
        raise typer.Exit(2) from exc


def _agreement_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            raw = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        errors.print(f"[red]Cannot read {path}[/red]: {exc}")
        raise typer.Exit(2) from exc
    table = raw.get("agreement")
    if not isinstance(table, dict):
        errors.print(f"[red]{path}[/red]: needs an [agreement] table")
        raise typer.Exit(2)
    return table


def _show_receipt(receipt: Receipt) -> None:
    console.print(f"Journal event {receipt.seq}: {receipt.details}", highlight=False)


@app.command()
def record(
    file: Path = typer.Option(..., "--file", help="Agreement (TOML, an [agreement] table)."),
    user: str = UserOption,
    idempotency_key: str | None = KeyOption,
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """Record version 1 of a financing agreement (the financier's own organisation)."""
    from article6.services import finance

    table = _agreement_file(file)
    act(
        as_json,
        database_url,
        user,
        lambda engine, actor: finance.record_agreement(
            engine,
            actor=actor,
            agreement=fc.agreement_from_dict(table),
            idempotency_key=idempotency_key,
        ),
        _show_receipt,
    )


@app.command()
def amend(
    file: Path = typer.Option(..., "--file", help="The next version (TOML, [agreement])."),
    user: str = UserOption,
    idempotency_key: str | None = KeyOption,
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """Record the next version of an agreement; earlier versions stay as they were."""
    from article6.services import finance

    table = _agreement_file(file)
    act(
        as_json,
        database_url,
        user,
        lambda engine, actor: finance.amend_agreement(
            engine,
            actor=actor,
            agreement=fc.agreement_from_dict(table),
            idempotency_key=idempotency_key,
        ),
        _show_receipt,
    )


@app.command()
def disburse(
    agreement: str = AgreementOption,
    disbursement_id: str = typer.Option(..., "--id", help="Disbursement ID."),
    on: str = typer.Option(..., "--date", help="Payment date, YYYY-MM-DD."),
    amount: str = typer.Option(..., "--amount", help="Amount in the agreement's currency."),
    note: str = typer.Option("", "--note"),
    user: str = UserOption,
    idempotency_key: str | None = KeyOption,
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """Record money paid out under an agreement."""
    from article6.services import finance
    from article6.store.database import read_connection

    def action() -> Receipt:
        engine = engine_for(database_url)
        with read_connection(engine) as connection:
            currency = finance.latest_version(connection, agreement).currency
        return finance.record_disbursement(
            engine,
            actor=acting(database_url, user),
            disbursement=Disbursement(
                disbursement_id, agreement, _date(on, "--date"), Money.of(amount, currency), note
            ),
            idempotency_key=idempotency_key,
        )

    run(as_json, action, _show_receipt)


@app.command()
def rate(
    base: str = typer.Option(..., "--base", help="Currency of one unit, e.g. USD."),
    quote: str = typer.Option(..., "--quote", help="Currency it is worth, e.g. KRW."),
    on: str = typer.Option(..., "--date", help="Date of the rate, YYYY-MM-DD."),
    value: str = typer.Option(..., "--rate", help="Units of quote per unit of base."),
    source: str = typer.Option("", "--source"),
    user: str = UserOption,
    idempotency_key: str | None = KeyOption,
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """Add a dated exchange rate (rates are never edited; add a later one)."""
    from article6.services import finance

    act(
        as_json,
        database_url,
        user,
        lambda engine, actor: finance.record_exchange_rate(
            engine,
            actor=actor,
            rate=ExchangeRate(
                base, quote, _date(on, "--date"), parse_decimal(value, "--rate"), source
            ),
            idempotency_key=idempotency_key,
        ),
        _show_receipt,
    )


@app.command()
def deliver(
    agreement: str = AgreementOption,
    vintage: int = typer.Option(..., "--vintage"),
    quantity: int = typer.Option(..., "--quantity", help="Whole tonnes."),
    on: str = typer.Option(..., "--date", help="Delivery date, YYYY-MM-DD."),
    reference: str = typer.Option(..., "--reference", help="Issuance or transfer reference."),
    user: str = UserOption,
    idempotency_key: str | None = KeyOption,
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """Record credits delivered to the financier (units must be in its account)."""
    from article6.services import finance

    act(
        as_json,
        database_url,
        user,
        lambda engine, actor: finance.record_delivery(
            engine,
            actor=actor,
            agreement_id=agreement,
            vintage=vintage,
            quantity_t=quantity,
            delivery_date=_date(on, "--date"),
            reference=reference,
            idempotency_key=idempotency_key,
        ),
        _show_receipt,
    )


@app.command("recover-received")
def recover_received(
    agreement: str = AgreementOption,
    user: str = UserOption,
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """Record as recovery the units already in the delivery account but not yet recorded."""
    from article6.services import finance

    run(
        as_json,
        lambda: finance.recover_received_units(
            engine_for(database_url), actor=acting(database_url, user), agreement_id=agreement
        ),
        _show_receipt,
    )
