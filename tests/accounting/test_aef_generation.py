"""The AEF from the journal on a real database: frozen holdings, the five
tables, versions, file formats, OIMP first transfers and the checks."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from accounting_scenario import reference_ndc
from openpyxl import load_workbook
from sqlalchemy import Engine

from article6.domain import aef
from article6.domain.errors import ActionRefused, RejectionCode
from article6.domain.model import FirstTransferDefinition, Purpose
from article6.services import accounting, actions, reporting, setup
from article6.services.accounting import KOR_AUTHORITY
from article6.services.reference_case import (
    APPROACH_ID,
    AUTHORIZATION_ID,
    KHM_CHAIR,
    KHM_COORDINATOR,
    KHM_REGISTRY,
    KOR_REGISTRY,
    REFERENCE_LOA,
    load_reference_flows,
    load_setup,
)
from article6.services.report_files import write_aef
from article6.services.verify import verify
from tests_support import OPS

SUBMITTED = date(2027, 4, 1)


@pytest.fixture
def reference(engine: Engine, key_dir: Path) -> Engine:
    """The reference case (all in 2026) with both Parties' NDCs recorded."""
    load_setup(engine, key_dir)
    load_reference_flows(engine)
    accounting.record_ndc(engine, actor=KHM_COORDINATOR, ndc=reference_ndc("KHM"))
    accounting.record_ndc(engine, actor=KOR_AUTHORITY, ndc=reference_ndc("KOR"))
    return engine


def freeze(engine: Engine, party: str, year: int = 2026) -> None:
    actor = KHM_REGISTRY if party == "KHM" else KOR_REGISTRY
    reporting.freeze_holdings(engine, actor=actor, party=party, year=year, on=date(2027, 1, 5))


def test_aef_tables_from_the_journal(reference: Engine, tmp_path: Path) -> None:
    # An action dated 2027 recorded before the freeze must stay out of 2026's holdings.
    actions.transfer(
        reference,
        actor=OPS["KOR"],
        from_account="KOR01-HOLDING",
        to_account="KHM01-HOLDING",
        selection=actions.Selection(APPROACH_ID, 2025, 1_000),
        action_date=date(2027, 1, 3),
    )
    freeze(reference, "KHM")
    freeze(reference, "KOR")
    khm, receipt = reporting.generate_aef(
        reference, actor=KHM_REGISTRY, party="KHM", year=2026, submitted_on=SUBMITTED
    )
    assert khm.version == "1.0" and receipt.details["new_version"]
    assert khm.table1[0]["Date of submission"] == "01/04/2027"
    assert khm.table1[0]["First year of the NDC implementation period"] == 2021
    assert khm.table1[0]["Review status of the initial report"] == ""
    assert [r["Action type"] for r in khm.table3] == ["Authorization", "First transfer"]
    first = khm.table3[1]
    assert first["Action subtype"] == "First transfer to another Party"
    assert first["Action date"] == "16/03/2026"
    assert first["First ID"] == "CA0001-KHM01-KHM-28001-2025"
    assert first["Quantity (t CO2 eq)"] == 40_000
    assert first["Acquiring participating Party ID"] == "KOR"
    assert first["Transferring participating Party ID"] == aef.NA
    assert first["Calendar year for which the ITMOs are used towards the Party's NDC"] == aef.NA
    assert khm.table2[0]["Authorized quantity"] == 400_000
    assert khm.table2[0]["Authorization documentation"] == ""
    assert khm.table5[0]["Identification number"] == "KR-110111-0000000"
    assert [r["Quantity (t CO2 eq)"] for r in khm.table4] == [28_000]

    kor, _ = reporting.generate_aef(
        reference, actor=KOR_REGISTRY, party="KOR", year=2026, submitted_on=SUBMITTED
    )
    assert [r["Action type"] for r in kor.table3] == ["Acquisition", "Use"]
    assert kor.table3[0]["Transferring participating Party ID"] == "KHM"
    assert (
        kor.table3[1]["Calendar year for which the ITMOs are used towards the Party's NDC"] == 2030
    )
    # Frozen as of 31/12/2026: the 2027 transfer back is not in the snapshot.
    assert sum(int(r["Quantity (t CO2 eq)"]) for r in kor.table4) == 30_000
    assert reporting.check_report(reference, "KHM", 2026, SUBMITTED) == []
    assert reporting.check_report(reference, "KOR", 2026, SUBMITTED) == []

    path = write_aef(khm, tmp_path / "khm.xlsx")[0]
    workbook = load_workbook(path)
    assert workbook.sheetnames == [
        "Table 1 Submission",
        "Table 2 Authorizations",
        "Table 3 Actions",
        "Table 4 Holdings",
        "Table 5 Auth. entities",
    ]
    sheet = workbook["Table 3 Actions"]
    assert [c.value for c in sheet[1]] == list(aef.TABLE3)
    assert sheet["A3"].value == "16/03/2026" and sheet["P3"].value == 40_000
    csv_paths = write_aef(khm, tmp_path / "khm.csv", "csv")
    with csv_paths[2].open(encoding="utf-8") as handle:
        assert list(csv.DictReader(handle))[1]["Action type"] == "First transfer"
    json_path = write_aef(khm, tmp_path / "khm.json", "json")[0]
    assert json.loads(json_path.read_text())["sheets"]["Table 1 Submission"][0]["Version"] == "1.0"
    assert verify(reference).ok


def test_versions_and_frozen_snapshot(reference: Engine) -> None:
    with pytest.raises(ActionRefused) as early:
        reporting.freeze_holdings(
            reference, actor=KHM_REGISTRY, party="KHM", year=2026, on=date(2026, 12, 31)
        )
    assert early.value.code is RejectionCode.INVALID_TRANSITION
    with pytest.raises(ActionRefused) as unfrozen:
        reporting.generate_aef(
            reference, actor=KHM_REGISTRY, party="KHM", year=2026, submitted_on=SUBMITTED
        )
    assert unfrozen.value.code is RejectionCode.INVALID_TRANSITION
    freeze(reference, "KHM")
    with pytest.raises(ActionRefused) as twice:
        freeze(reference, "KHM")
    assert twice.value.code is RejectionCode.ALREADY_EXISTS

    first, _ = reporting.generate_aef(
        reference, actor=KHM_REGISTRY, party="KHM", year=2026, submitted_on=SUBMITTED
    )
    same, receipt = reporting.generate_aef(
        reference, actor=KHM_REGISTRY, party="KHM", year=2026, submitted_on=date(2027, 4, 2)
    )
    assert (first.version, same.version, receipt.details["new_version"]) == ("1.0", "1.0", False)
    # A 2026 action recorded late: the corrected report is version 1.1.
    actions.cancel_units(
        reference,
        actor=OPS["KHM"],
        from_account="KHM01-PENDING",
        selection=actions.Selection(APPROACH_ID, 2025, 500),
        action_date=date(2026, 12, 20),
        kind="omge",
    )
    corrected, _ = reporting.generate_aef(
        reference, actor=KHM_REGISTRY, party="KHM", year=2026, submitted_on=SUBMITTED
    )
    assert corrected.version == "1.1"
    assert corrected.table3[-1]["Action subtype"] == "Voluntary cancellation to deliver OMGE"
    # The snapshot was taken before the cancellation: holdings no longer reconcile.
    assert corrected.table4 == first.table4
    rules = {f.rule for f in reporting.check_report(reference, "KHM", 2026, SUBMITTED)}
    assert rules == {"holdings.reconciliation"}
    with pytest.raises(ActionRefused) as denied:
        reporting.generate_aef(
            reference, actor=KHM_CHAIR, party="KHM", year=2026, submitted_on=SUBMITTED
        )
    assert denied.value.code is RejectionCode.PERMISSION_DENIED


def test_oimp_first_transfer_at_issuance(engine: Engine, key_dir: Path) -> None:
    load_setup(engine, key_dir)
    oimp = replace(
        REFERENCE_LOA,
        authorization_id="KHM-LOA-2025-002",
        purpose_caps_t={Purpose.OIMP: 50_000},
        quantity_cap_t=50_000,
        oimp_named="CORSIA",
        oimp_first_transfer=FirstTransferDefinition.ISSUANCE,
    )
    setup.record_authorization(engine, actor=KHM_CHAIR, version=oimp)
    accounting.record_ndc(engine, actor=KHM_COORDINATOR, ndc=reference_ndc("KHM"))
    actions.issue_units(
        engine,
        actor=OPS["KHM"],
        approach_id=APPROACH_ID,
        registry_id="KHM01",
        vintage=2026,
        quantity_t=5_000,
        action_date=date(2026, 6, 1),
        authorization_id="KHM-LOA-2025-002",
    )
    actions.issue_units(
        engine,
        actor=OPS["KHM"],
        approach_id=APPROACH_ID,
        registry_id="KHM01",
        vintage=2026,
        quantity_t=7_000,
        action_date=date(2026, 6, 2),
        authorization_id=AUTHORIZATION_ID,
    )
    at_use = replace(
        oimp,
        authorization_id="KHM-LOA-2025-003",
        oimp_first_transfer=FirstTransferDefinition.USE_OR_CANCELLATION,
    )
    setup.record_authorization(engine, actor=KHM_CHAIR, version=at_use)
    actions.issue_units(
        engine,
        actor=OPS["KHM"],
        approach_id=APPROACH_ID,
        registry_id="KHM01",
        vintage=2025,
        quantity_t=3_000,
        action_date=date(2026, 6, 3),
        authorization_id="KHM-LOA-2025-003",
        to_account="KHM01-HOLDING",
    )
    actions.use_units(
        engine,
        actor=OPS["KHM"],
        from_account="KHM01-HOLDING",
        selection=actions.Selection(APPROACH_ID, 2025, 1_000),
        action_date=date(2026, 9, 1),
        purpose=Purpose.OIMP,
        entity="VERYWORDS",
    )
    statement = accounting.balance_statement(engine, "KHM", 2026)
    # OIMP units count when the authorization says; the 7,000 NDC units not before transfer.
    assert statement.computed.year(2026).first_transfers_t == 5_000
    assert statement.computed.year(2025).first_transfers_t == 1_000
    freeze(engine, "KHM")
    with engine.connect() as connection:
        report = reporting.build_report(connection, "KHM", 2026, SUBMITTED)
    kinds = [(r["Action type"], r["Action subtype"]) for r in report.table3]
    assert kinds == [
        ("Authorization", "Issuance"),
        ("First transfer", "Issuance"),
        ("Authorization", "Issuance"),
        ("Authorization", "Issuance"),
        ("First transfer", "Use or cancellation"),
        ("Use", "Use for OIMP"),
    ]
    used = report.table3[-1]
    assert used["Using/cancelling authorized entity ID"] == "KR-110111-0000000"
    assert used["Purpose for which the ITMO has been used towards or cancelled for OIMP"] == "OIMP"
    assert used["Calendar year for which the ITMOs are used towards the Party's NDC"] == aef.NA
    oimp_row = next(r for r in report.table2 if r["Authorization ID"] == "KHM-LOA-2025-002")
    assert oimp_row["OIMP authorized by the Party"] == "CORSIA"
    assert oimp_row["First transfer definition for OIMP"] == "Issuance"
    assert reporting.check_report(engine, "KHM", 2026, SUBMITTED) == []


def test_holdings_cannot_be_frozen_from_out_of_order_actions(engine: Engine, key_dir: Path) -> None:
    load_setup(engine, key_dir)
    actions.issue_units(
        engine,
        actor=OPS["KHM"],
        approach_id=APPROACH_ID,
        registry_id="KHM01",
        vintage=2026,
        quantity_t=1_000,
        action_date=date(2027, 1, 10),
        authorization_id=AUTHORIZATION_ID,
    )
    # Back-dated into 2026, but the units it moves were issued in 2027.
    actions.first_transfer(
        engine,
        actor=OPS["KHM"],
        from_account="KHM01-PENDING",
        to_account="KOR01-HOLDING",
        selection=actions.Selection(APPROACH_ID, 2026, 400),
        authorization_id=AUTHORIZATION_ID,
        action_date=date(2026, 12, 30),
    )
    with pytest.raises(ActionRefused) as refused:
        freeze(engine, "KHM")
    assert refused.value.code is RejectionCode.INVALID_TRANSITION
    assert "later-dated" in refused.value.message
