"""Regular information for the biennial transparency report, and the demo's reports.

Every two years a Party annexes to its BTR the emissions balance per year and
the annual and cumulative first transfers, uses and holdings. These tables
come from the same balance and journal as the AEF; holdings are the frozen
31 December snapshots, so a year not yet frozen shows no holdings rather
than today's.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

from rich.console import Console
from sqlalchemy import Engine

from article6.domain.accounting import Method, whole_tonnes
from article6.domain.inventory import InventoryRejected
from article6.services import accounting, reporting
from article6.services.accounting import KOR_AUTHORITY, balance_statement, journal_view
from article6.services.reference_case import KHM_COORDINATOR, KHM_REGISTRY, KOR_REGISTRY
from article6.services.report_files import write_aef, write_balance_chart, write_regular_information

DATA_DIR = Path(__file__).resolve().parents[3] / "data"


def regular_information(engine: Engine, party: str, year: int) -> dict[str, Any]:
    """Balance per year and cumulative flows and holdings, as known for `year`."""
    statement = balance_statement(engine, party, year)
    balance = statement.computed
    with engine.connect() as connection:
        view = journal_view(connection)
        holdings = reporting.all_frozen(connection, party)
    first_by_year: dict[int, int] = defaultdict(int)
    for flow in view.first_transfers.get(party, []):
        first_by_year[flow.action_year] += flow.quantity_t
    used_by_year: dict[int, int] = defaultdict(int)
    for use in view.uses.get(party, []):
        used_by_year[use.action_year] += use.quantity_t
    per_year = [
        {
            "Year": r.year,
            "Emissions (t CO2 eq)": r.emissions_t,
            "First transfers (t CO2 eq)": r.first_transfers_t,
            "Uses (t CO2 eq)": r.uses_t,
            "Emissions balance (t CO2 eq)": r.balance_t,
            "Indicative trajectory (t CO2 eq)": r.trajectory_t,
        }
        for r in balance.years
    ]
    cumulative = []
    total_first = total_used = 0
    for y in range(balance.years[0].year, year + 1):
        total_first += first_by_year.get(y, 0)
        total_used += used_by_year.get(y, 0)
        frozen = holdings.get(y)
        cumulative.append(
            {
                "Year": y,
                "First transfers in the year (t CO2 eq)": first_by_year.get(y, 0),
                "Cumulative first transfers (t CO2 eq)": total_first,
                "Uses in the year (t CO2 eq)": used_by_year.get(y, 0),
                "Cumulative uses (t CO2 eq)": total_used,
                "Holdings on 31 December (t CO2 eq)": (
                    None if frozen is None else sum(int(r["Quantity (t CO2 eq)"]) for r in frozen)
                ),
            }
        )
    tables: dict[str, list[dict[str, Any]]] = {
        "Emissions balance": per_year,
        "Cumulative": cumulative,
    }
    if balance.method is Method.AVERAGING:
        tables["Averaging"] = [
            {
                "Elapsed years (k)": balance.elapsed_years,
                "Average first transfers (t CO2 eq)": _text(balance.average_first_transfers_t),
                "Average uses (t CO2 eq)": _text(balance.average_uses_t),
                "Target-year balance (t CO2 eq)": _text(balance.target_year_balance_t),
            }
        ]
    return {
        "party": party,
        "reported_year": year,
        "method": balance.method.value,
        "attribution": balance.attribution.value,
        "status": statement.status,
        "target_t": balance.target_t,
        "achieved": balance.achieved,
        "tables": tables,
    }


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def balance_lines(engine: Engine, party: str, year: int) -> list[str]:
    """The balance of `party` in words, as the demo and the CLI print it."""
    balance = balance_statement(engine, party, year).computed
    lines = [f"{party} {balance.method.value} method, NDC target {balance.target_t:,} t"]
    for r in balance.years:
        if r.first_transfers_t or r.uses_t or r.emissions_t is not None:
            eb = "awaiting inventory" if r.balance_t is None else f"{r.balance_t:,} t"
            lines.append(
                f"  {r.year}: E {'—' if r.emissions_t is None else f'{r.emissions_t:,}'} "
                f"+ FT {r.first_transfers_t:,} - U {r.uses_t:,} = EB {eb}"
            )
    if balance.average_first_transfers_t is not None and balance.average_uses_t is not None:
        lines.append(
            f"  averages over k = {balance.elapsed_years}: FT "
            f"{whole_tonnes(balance.average_first_transfers_t):,} t, U "
            f"{whole_tonnes(balance.average_uses_t):,} t"
        )
    return lines


def write_demo_reports(
    engine: Engine,
    out_dir: Path,
    year: int = 2026,
    submitted_on: date = date(2027, 4, 1),
    data_dir: Path = DATA_DIR,
    console: Console | None = None,
) -> list[Path]:
    """Both Parties' NDCs and inventories, frozen holdings, AEF workbooks, regular
    information and balance charts for the reference case, then the balances printed.

    The reference flows happen in 2026, so the demo reports 2026 as it would be
    filed on `submitted_on` (before 15 April 2027).
    """
    console = console or Console()
    authorities = {"KHM": KHM_COORDINATOR, "KOR": KOR_AUTHORITY}
    registries = {"KHM": KHM_REGISTRY, "KOR": KOR_REGISTRY}
    written: list[Path] = []
    for party in ("KHM", "KOR"):
        with engine.connect() as connection:
            recorded = accounting.ndc_versions(connection, party)
        if not recorded:
            ndc = accounting.load_ndc_file(data_dir / "ndc" / f"{party}.toml")
            accounting.record_ndc(engine, actor=authorities[party], ndc=ndc)
        inventory_file = data_dir / "inventory" / f"{party}.csv"
        if inventory_file.exists():
            try:
                accounting.import_inventory_file(
                    engine,
                    actor=authorities[party],
                    party=party,
                    path=inventory_file,
                    idempotency_key=f"demo-inventory-{party}",
                )
            except InventoryRejected as rejected:
                console.print(f"[red]{party} inventory rejected[/red]: {rejected}")
        reporting.freeze_holdings(
            engine,
            actor=registries[party],
            party=party,
            year=year,
            on=submitted_on,
            idempotency_key=f"demo-freeze-{party}-{year}",
        )
        report, _ = reporting.generate_aef(
            engine,
            actor=registries[party],
            party=party,
            year=year,
            submitted_on=submitted_on,
            idempotency_key=f"demo-aef-{party}-{year}",
        )
        written += write_aef(report, out_dir / f"AEF_{party}_{year}_v{report.version}.xlsx")
        info = regular_information(engine, party, year)
        written += write_regular_information(
            info,
            out_dir / f"regular_information_{party}_{year}.xlsx",
            out_dir / f"regular_information_{party}_{year}.json",
        )
        written.append(write_balance_chart(info, out_dir / f"balance_{party}_{year}.png"))
        failures = reporting.check_report(engine, party, year, submitted_on)
        console.rule(f"{party} annual information {year}, version {report.version}")
        for line in balance_lines(engine, party, year):
            console.print(line)
        console.print(
            f"  AEF: {len(report.table3)} actions, {len(report.table4)} blocks held; "
            f"consistency checks: {'clean' if not failures else f'{len(failures)} failures'}"
        )
    return written
