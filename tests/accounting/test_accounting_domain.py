"""Pure accounting rules: NDC validation, trajectories, methods, inventory files."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from accounting_scenario import reference_ndc
from openpyxl import Workbook

from article6.domain.accounting import (
    FirstTransferFlow,
    Method,
    NdcError,
    UseFlow,
    compute_balance,
    linear_trajectory,
    ndc_from_dict,
    ndc_to_dict,
    validate_ndc,
)
from article6.domain.aef import next_version, parse_aef_date
from article6.domain.inventory import InventoryRejected
from article6.services.accounting import load_ndc_file, read_inventory_file

DATA = Path(__file__).resolve().parents[2] / "data"


def test_korean_trajectory_is_the_linear_one_to_the_tonne() -> None:
    line = linear_trajectory(2018, 727_600_000, 2030, 436_600_000, range(2018, 2031))
    assert all(line[t] == 727_600_000 - 24_250_000 * (t - 2018) for t in line)
    ndc = reference_ndc("KOR")
    assert ndc.trajectory_t[2030] == ndc.target_value_t == 436_600_000
    assert ndc_from_dict(ndc_to_dict(ndc)) == ndc


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"period_start": 2031}, "reversed"),
        ({"target_year": 2035}, "outside the implementation period"),
        ({"metric": "CO2"}, "metric"),
        ({"method": Method.MULTI_YEAR}, "multi-year NDCs only"),
        ({"trajectory_t": {2021: 1}}, "needs a trajectory value"),
        ({"method": Method.BUDGET}, "needs a budget"),
        ({"party": "Korea"}, "alpha-3"),
    ],
)
def test_invalid_ndcs_are_refused(change: dict[str, object], message: str) -> None:
    with pytest.raises(NdcError, match=message):
        validate_ndc(replace(reference_ndc("KOR"), **change))  # type: ignore[arg-type]


def test_multi_year_budget_and_averaging_without_inventory() -> None:
    ndc = replace(
        reference_ndc("KOR"),
        single_year=False,
        method=Method.MULTI_YEAR,
        period_start=2026,
        period_end=2027,
        target_year=2027,
        trajectory_t={2026: 100, 2027: 90},
        budget_t=190,
    )
    validate_ndc(ndc)
    flows = [FirstTransferFlow(2026, 2027, 20, "NDC", 1)]
    uses = [UseFlow(2027, 2027, 5, 2)]
    balance = compute_balance(ndc, {2026: 95, 2027: 80}, flows, uses, 2027)
    assert [r.balance_t for r in balance.years] == [115, 75]
    assert balance.period_balance_t == 190 and balance.achieved is True
    short = compute_balance(ndc, {2026: 95}, flows, uses, 2027)
    assert short.period_balance_t is None and short.achieved is None
    # Actions after the year a report covers are left out when asked.
    assert (
        compute_balance(ndc, {}, flows, uses, 2026, known_by_year=2026).year(2026).first_transfers_t
        == 0
    )

    averaging = replace(reference_ndc("KHM"))
    interim = compute_balance(averaging, {}, [FirstTransferFlow(2025, 2026, 7, "NDC", 1)], [], 2023)
    assert interim.elapsed_years == 3 and interim.average_first_transfers_t == Decimal(0)
    assert interim.target_year_balance_t is None and interim.achieved is None


def test_non_ghg_indicator_flips_the_adjustment() -> None:
    base = replace(
        reference_ndc("KOR"),
        metric="non-GHG",
        more_is_better=True,
        conversion_factor_t=Decimal("0.5"),
        method=Method.TRAJECTORY,
    )
    validate_ndc(base)
    with pytest.raises(NdcError, match="conversion factor"):
        validate_ndc(replace(base, conversion_factor_t=None))
    flows = [FirstTransferFlow(2030, 2030, 30, "NDC", 1)]
    uses = [UseFlow(2030, 2030, 10, 2)]
    balance = compute_balance(base, {2030: 1_000}, flows, uses, 2030)
    assert balance.year(2030).balance_t == 1_000 - 30 + 10
    assert ndc_from_dict(ndc_to_dict(base)) == base


def test_inventory_csv_and_xlsx(tmp_path: Path) -> None:
    csv_file = tmp_path / "inv.csv"
    csv_file.write_text("year,emissions_mtco2e,source\n2018,727.6,NIR\n2019,701.4,NIR\n")
    records = read_inventory_file(csv_file)
    assert [(r.year, r.emissions_t, r.row) for r in records] == [
        (2018, 727_600_000, 2),
        (2019, 701_400_000, 3),
    ]
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["year", "emissions_tco2e"])
    sheet.append([2030, 90_000_000])
    workbook.save(tmp_path / "inv.xlsx")
    assert read_inventory_file(tmp_path / "inv.xlsx")[0].emissions_t == 90_000_000
    assert read_inventory_file(DATA / "inventory" / "KOR.csv")[0].emissions_t == 727_600_000


def test_inventory_errors_name_file_row_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("year,emissions_tco2e\n2018,abc\n1850,5\n2019,1.5\n2019,7\n2019,8\n")
    with pytest.raises(InventoryRejected) as rejected:
        read_inventory_file(bad)
    issues = [(i.row, i.column) for i in rejected.value.issues]
    assert issues == [
        (2, "emissions_tco2e"),
        (3, "year"),
        (4, "emissions_tco2e"),
        (6, "year"),
    ]
    assert str(rejected.value.issues[0]).startswith("bad.csv, row 2, column emissions_tco2e")
    header = tmp_path / "header.csv"
    header.write_text("yr,emissions\n2018,5\n")
    with pytest.raises(InventoryRejected) as no_header:
        read_inventory_file(header)
    assert {i.column for i in no_header.value.issues} == {"year", "emissions_tco2e"}


def test_ndc_file_errors_and_versions(tmp_path: Path) -> None:
    broken = tmp_path / "X.toml"
    broken.write_text('party = "KHM"\n')
    with pytest.raises(NdcError, match=r"X\.toml"):
        load_ndc_file(broken)
    assert next_version([]) == "1.0"
    assert next_version(["1.0", "1.1"]) == "1.2"
    assert parse_aef_date("31/12/2026") is not None
    assert parse_aef_date("2026-12-31") is None and parse_aef_date("31/02/2026") is None
