"""`article6 report` and `article6 accounting` on the reference case, and the
demo's reports."""

from __future__ import annotations

import json
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import Engine
from typer.testing import CliRunner

from article6.cli.main import app
from article6.domain.permissions import Role
from article6.services import identity, reference_case
from article6.services.identity import Organisation
from article6.services.regular_information import write_demo_reports
from article6.store.database import make_engine
from article6.store.migrate import upgrade

DATA = Path(__file__).resolve().parents[2] / "data"
PASSWORD = "correct horse battery"
USERS = {
    "khm-registry": ("KHM-MOE", Role.REGISTRY_ADMINISTRATOR),
    "khm-coordinator": ("KHM-MOE", Role.HOST_COORDINATOR),
    "khm-chair": ("KHM-MOE", Role.HOST_CHAIR),
    "kor-motie": ("KOR-MOTIE", Role.ACQUIRING_AUTHORITY),
}


def reference_database(tmp_path: Path) -> tuple[str, Engine]:
    """The reference case (issuance, first transfer, use in 2026) and its users."""
    url = f"sqlite:///{tmp_path / 'report.db'}"
    engine = make_engine(url)
    upgrade(engine)
    identity.bootstrap_administrator(engine, user_id="root", name="Root", password=PASSWORD)
    root = identity.load_actor(engine, "root")
    for organisation, party in (("KHM-MOE", "KHM"), ("KOR-MOTIE", "KOR")):
        identity.register_organisation(
            engine,
            actor=root,
            organisation=Organisation(organisation, organisation, party, "ministry"),
        )
    for user_id, (organisation, role) in USERS.items():
        identity.register_user(
            engine,
            actor=root,
            user_id=user_id,
            organisation_id=organisation,
            name=user_id,
            password=PASSWORD,
            roles=frozenset({role}),
        )
    reference_case.load_setup(engine, tmp_path / "keys")
    reference_case.load_reference_flows(engine)
    return url, engine


def invoke(url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*args, "--database-url", url])
    return result.exit_code, result.output


def test_report_and_accounting_commands(tmp_path: Path) -> None:
    database_url, engine = reference_database(tmp_path)
    engine.dispose()
    year = ["--party", "KHM", "--year", "2026"]

    code, out = invoke(database_url, "report", "check", *year, "--date", "2027-04-01", "--json")
    assert code == 1
    rules = {f["rule"] for f in json.loads(out)["failures"]}
    assert rules == {"holdings.frozen", "accounting.ndc"}

    for party, user in (("KHM", "khm-coordinator"), ("KOR", "kor-motie")):
        code, out = invoke(
            database_url,
            "accounting",
            "record-ndc",
            "--file",
            str(DATA / "ndc" / f"{party}.toml"),
            "--user",
            user,
            "--json",
        )
        assert code == 0, out
    code, out = invoke(
        database_url,
        "accounting",
        "import-inventory",
        "--party",
        "KOR",
        "--file",
        str(DATA / "inventory" / "KOR.csv"),
        "--user",
        "kor-motie",
    )
    assert code == 0, out
    bad = tmp_path / "bad.csv"
    bad.write_text("year,emissions_tco2e\n2030,lots\n")
    code, out = invoke(
        database_url,
        "accounting",
        "import-inventory",
        "--party",
        "KOR",
        "--file",
        str(bad),
        "--user",
        "kor-motie",
        "--json",
    )
    assert code == 2 and "bad.csv, row 2, column emissions_tco2e" in out

    code, out = invoke(
        database_url,
        "report",
        "freeze-holdings",
        *year,
        "--date",
        "2026-12-31",
        "--user",
        "khm-registry",
        "--json",
    )
    assert code == 2 and "invalid_transition" in out
    code, out = invoke(
        database_url,
        "report",
        "freeze-holdings",
        *year,
        "--date",
        "2027-01-04",
        "--user",
        "khm-chair",
        "--json",
    )
    assert code == 2 and "permission_denied" in out
    code, out = invoke(
        database_url,
        "report",
        "freeze-holdings",
        *year,
        "--date",
        "2027-01-04",
        "--user",
        "khm-registry",
        "--json",
    )
    assert code == 0 and json.loads(out)["details"]["year"] == 2026

    code, out = invoke(database_url, "report", "check", *year, "--date", "2027-04-01")
    assert code == 0, out
    assert "every consistency check passes" in out

    workbook = tmp_path / "aef.xlsx"
    code, out = invoke(
        database_url,
        "report",
        "aef",
        *year,
        "--out",
        str(workbook),
        "--date",
        "2027-04-01",
        "--user",
        "khm-registry",
        "--json",
    )
    assert code == 0, out
    summary = json.loads(out)
    assert summary["version"] == "1.0" and summary["rows"]["table3"] == 2
    assert summary["consistency_failures"] == 0
    sheet = load_workbook(workbook)["Table 1 Submission"]
    assert [c.value for c in sheet[2]][:4] == ["KHM", "1.0", 2026, "01/04/2027"]
    code, out = invoke(
        database_url,
        "report",
        "aef",
        *year,
        "--out",
        str(tmp_path / "a.json"),
        "--format",
        "json",
        "--user",
        "khm-registry",
        "--date",
        "2027-04-01",
    )
    assert code == 0 and "version 1.0" in out

    code, out = invoke(
        database_url, "accounting", "balance", "--party", "KOR", "--year", "2030", "--json"
    )
    assert code == 0, out
    figures = json.loads(out)["figures"]
    assert figures["method"] == "trajectory"
    row_2030 = next(r for r in figures["years"] if r["year"] == 2030)
    assert (row_2030["uses_t"], row_2030["trajectory_t"]) == (10_000, 436_600_000)
    code, out = invoke(database_url, "accounting", "balance", "--party", "KHM", "--year", "2026")
    assert code == 0 and "k = 6" in out
    code, out = invoke(database_url, "accounting", "balance", "--party", "JPN", "--year", "2026")
    assert code == 2

    code, out = invoke(
        database_url,
        "report",
        "regular",
        "--party",
        "KOR",
        "--year",
        "2026",
        "--out-dir",
        str(tmp_path / "regular"),
        "--json",
    )
    assert code == 0, out
    assert (tmp_path / "regular" / "balance_KOR_2026.png").read_bytes()[:4] == b"\x89PNG"


def test_demo_reports(tmp_path: Path) -> None:
    _, engine = reference_database(tmp_path)
    paths = write_demo_reports(engine, tmp_path / "out")
    names = sorted(p.name for p in paths)
    assert "AEF_KHM_2026_v1.0.xlsx" in names and "AEF_KOR_2026_v1.0.xlsx" in names
    assert all(p.stat().st_size > 0 for p in paths)
    info = json.loads((tmp_path / "out" / "regular_information_KHM_2026.json").read_text())
    cumulative = {r["Year"]: r for r in info["tables"]["Cumulative"]}
    assert cumulative[2026]["Cumulative first transfers (t CO2 eq)"] == 40_000
    assert info["tables"]["Averaging"][0]["Elapsed years (k)"] == 6
    # Run twice, the demo changes nothing and keeps version 1.0.
    again = write_demo_reports(engine, tmp_path / "out")
    assert sorted(p.name for p in again) == names
