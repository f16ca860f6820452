"""`article6 finance` commands, the delivery risk and the workbook with its charts."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine
from typer.testing import CliRunner

from article6.cli.main import app
from article6.services import reference_case

ROOT = Path(__file__).resolve().parents[2]
PLAN = ROOT / "plans" / "khm-emoto-rollout.toml"
PARAMS = ROOT / "plans" / "khm-emoto-exante-params.toml"
AGREEMENT = "KOR-ISP-2025-001"


@pytest.fixture
def loaded(engine: Engine, key_dir: Path, database_url: str) -> str:
    reference_case.load_setup(engine, key_dir)
    reference_case.load_reference_flows(engine)
    result = invoke(["load-reference"], database_url)
    assert "Recorded financing agreement KOR-ISP-2025-001 v1" in result
    return database_url


def invoke(args: list[str], database_url: str, exit_code: int = 0) -> str:
    result = CliRunner().invoke(app, ["finance", *args, "--database-url", database_url])
    assert result.exit_code == exit_code, result.output
    return result.output


def as_json(args: list[str], database_url: str) -> Any:
    return json.loads(invoke([*args, "--json"], database_url))


def test_status_and_portfolio(loaded: str) -> None:
    status = as_json(["status", "--agreement", AGREEMENT, "--as-of", "2026-06-30"], loaded)
    assert status["status"] == "delivering"
    assert status["recovered"] == {"amount": "594560000", "currency": "KRW"}
    assert status["outstanding_balance"] == {"amount": "5351040000", "currency": "KRW"}
    assert status["projected_completion_year"] == 2034
    assert status["ledger"][0]["state"] == "delivered"
    assert status["ledger"][1]["state"] == "pending"
    text = invoke(["status", "--agreement", AGREEMENT, "--as-of", "2026-06-30"], loaded)
    assert "Financing agreement KOR-ISP-2025-001 v1 (delivering)" in text
    # Through 2026 with nothing delivered for 2026: 40,000 of 80,000 t, an early warning
    late = as_json(
        ["status", "--agreement", AGREEMENT, "--as-of", "2027-06-30", "--through-vintage", "2026"],
        loaded,
    )
    assert late["ledger"][1]["state"] == "missed"
    assert late["early_warning"].startswith("40,000 t delivered through vintage 2026")
    relaxed = as_json(
        [
            "status",
            "--agreement",
            AGREEMENT,
            "--as-of",
            "2027-06-30",
            "--through-vintage",
            "2026",
            "--warning-share",
            "0.6",
        ],
        loaded,
    )
    assert relaxed["early_warning"] is None
    output = invoke(["status", "--agreement", "NOPE"], loaded, exit_code=2)
    assert "'NOPE' does not exist" in " ".join(output.split())
    invoke(["status", "--agreement", AGREEMENT, "--as-of", "June"], loaded, exit_code=2)

    result = as_json(["portfolio", "--as-of", "2026-06-30"], loaded)
    overall = result["totals"][0]
    assert (overall["dimension"], overall["agreements"]) == ("all", 1)
    assert (overall["contracted_t"], overall["delivered_t"], overall["pipeline_t"]) == (
        400_000,
        40_000,
        360_000,
    )
    assert overall["committed"] == "5945600000"
    assert result["programme_irr"] is not None and Decimal(result["programme_irr"]) == 0
    text = invoke(["portfolio", "--as-of", "2026-06-30", "--discount-rate", "0.035"], loaded)
    assert "Programme IRR: 0.0000 %; NPV at 0.035 a year: -929," in text
    keys = {(row["dimension"], row["key"]) for row in result["totals"]}
    assert {("host_party", "KHM"), ("sector", "Transport"), ("status", "delivering")} <= keys


def test_delivery_risk_is_deterministic_and_consistent(loaded: str) -> None:
    args = ["risk", "--agreement", AGREEMENT, "--plan", str(PLAN), "--params", str(PARAMS)]
    args += ["--runs", "200", "--seed", "3", "--as-of", "2026-06-30"]
    first = as_json(args, loaded)
    assert first == as_json(args, loaded)
    assert first["owed_t"] == 400_000
    assert first["share_of_issuance"].startswith("0.59")  # 400,000 t of a 676,834 t central case
    assert 0 <= first["probability_full_recovery"] <= 1
    assert first["tail_shortfall_t"] >= first["expected_shortfall_t"] >= 0
    rows = first["vintages"]
    for row in rows:
        assert row["p10_cumulative_t"] <= row["p50_cumulative_t"] <= row["p90_cumulative_t"]
        assert row["p90_cumulative_t"] <= 400_000
    assert [r["p50_cumulative_t"] for r in rows] == sorted(r["p50_cumulative_t"] for r in rows)
    assert first["p50_warning"] is not None  # the even plan runs ahead of the fleet's ramp-up
    everything = as_json([*args, "--share", "1"], loaded)
    assert everything["probability_full_recovery"] > first["probability_full_recovery"]
    assert everything["expected_shortfall_t"] < first["expected_shortfall_t"]


def test_export_writes_workbook_and_charts(loaded: str, tmp_path: Path) -> None:
    out = tmp_path / "report"
    output = invoke(
        [
            "export",
            "--agreement",
            AGREEMENT,
            "--out",
            str(out),
            "--as-of",
            "2026-06-30",
            "--plan",
            str(PLAN),
            "--params",
            str(PARAMS),
            "--runs",
            "100",
        ],
        loaded,
    )
    assert "Workbook:" in output
    workbook = load_workbook(out / f"{AGREEMENT}-finance.xlsx")
    assert workbook.sheetnames == [
        "Summary",
        "Recovery ledger",
        "Deliveries",
        "Disbursements",
        "Cash flows",
        "Delivery risk",
        "Portfolio",
        "Charts",
    ]
    ledger = workbook["Recovery ledger"]
    assert [cell.value for cell in ledger[2]] == [
        2025,
        40000,
        40000,
        0,
        594560000,
        40000,
        594560000,
        5351040000,
        "delivered",
    ]
    assert ledger.max_row == 11  # header and ten vintages
    assert workbook["Deliveries"]["C2"].value == 40000
    assert workbook["Disbursements"]["C2"].value == 2972800000
    assert len(workbook["Charts"]._images) == 2
    for name in ("deliveries", "recovery"):
        assert (out / f"{AGREEMENT}-{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    invoke(["export", "--agreement", AGREEMENT, "--plan", str(PLAN)], loaded, exit_code=2)


def test_load_reference_records_units_already_delivered(engine: Engine, key_dir: Path) -> None:
    reference_case.load_setup(engine, key_dir)
    url = engine.url.render_as_string(hide_password=False)
    refused = invoke(["status", "--agreement", AGREEMENT], url, exit_code=2)
    assert "does not exist" in " ".join(refused.split())  # the error console wraps lines
    invoke(["load-reference"], url)
    status = as_json(["status", "--agreement", AGREEMENT, "--as-of", "2026-06-30"], url)
    assert (status["status"], status["delivered_t"]) == ("authorized", 0)
    reference_case.load_reference_flows(engine)  # 40,000 t of 2025 reach KOR01-HOLDING
    invoke(["load-reference"], url)  # the agreement is already there: only the catch-up
    status = as_json(["status", "--agreement", AGREEMENT, "--as-of", "2026-06-30"], url)
    assert (status["status"], status["delivered_t"]) == ("delivering", 40_000)
    invoke(["load-reference", "--no-deliveries"], url)
