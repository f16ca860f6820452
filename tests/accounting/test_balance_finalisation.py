"""Finalising a balance for an NDC period, and changing it only by a correction."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from accounting_scenario import (
    averaging,
    issue_and_first_transfer,
    reference_ndc,
    use,
    worked_example,
)
from sqlalchemy import Engine, select

from article6.domain.errors import ActionRefused, RejectionCode
from article6.services import accounting
from article6.services.accounting import KOR_AUTHORITY
from article6.services.reference_case import KHM_REGISTRY, KOR_REGISTRY, load_setup
from article6.services.verify import verify
from article6.store import tables as t


def refused(call: object, **kwargs: object) -> RejectionCode:
    with pytest.raises(ActionRefused) as refusal:
        call(**kwargs)  # type: ignore[operator]
    return refusal.value.code


def test_finalise_then_correct(engine: Engine, key_dir: Path) -> None:
    kor = averaging(reference_ndc("KOR"))
    worked_example(engine, key_dir, averaging(reference_ndc("KHM")), kor, banking=False)
    kwargs = {"engine": engine, "party": "KOR", "period_end": 2030}
    assert refused(accounting.finalise_balance, actor=KOR_REGISTRY, **kwargs) is (
        RejectionCode.PERMISSION_DENIED
    )
    assert (
        refused(
            accounting.finalise_balance,
            actor=KOR_AUTHORITY,
            engine=engine,
            party="KOR",
            period_end=2029,
        )
        is RejectionCode.INVALID_TRANSITION
    )
    assert refused(accounting.correct_balance, actor=KOR_AUTHORITY, reason="x", **kwargs) is (
        RejectionCode.INVALID_TRANSITION
    )
    accounting.finalise_balance(actor=KOR_AUTHORITY, **kwargs)  # type: ignore[arg-type]
    assert refused(accounting.finalise_balance, actor=KOR_AUTHORITY, **kwargs) is (
        RejectionCode.ALREADY_EXISTS
    )
    final = accounting.balance_statement(engine, "KOR", 2030)
    assert final.status == "final" and not final.differs
    assert final.figures["target_year_balance_t"] == str(437_000_000 - 24_000)

    # After finalisation, 10,000 t more are first transferred and used for 2030.
    issue_and_first_transfer(engine, 2030, 10_000)
    use(engine, 2030, 2030, 10_000)
    after = accounting.balance_statement(engine, "KOR", 2030)
    assert after.status == "final" and after.differs
    assert after.figures["target_year_balance_t"] == str(437_000_000 - 24_000)
    assert after.computed.target_year_balance_t == 437_000_000 - 25_000

    assert refused(accounting.correct_balance, actor=KOR_AUTHORITY, reason=" ", **kwargs) is (
        RejectionCode.INVALID_TRANSITION
    )
    accounting.correct_balance(
        actor=KOR_AUTHORITY,
        reason="late use of 10,000 t for 2030",
        **kwargs,  # type: ignore[arg-type]
    )
    corrected = accounting.balance_statement(engine, "KOR", 2030)
    assert corrected.status == "corrected" and not corrected.differs
    assert corrected.figures["target_year_balance_t"] == str(437_000_000 - 25_000)
    assert refused(accounting.correct_balance, actor=KOR_AUTHORITY, reason="again", **kwargs) is (
        RejectionCode.INVALID_TRANSITION
    )
    with engine.connect() as connection:
        commands = [r.command for r in connection.execute(select(t.journal.c.command))]
    assert commands.count("BalanceFinalised") == 1 and commands.count("BalanceCorrected") == 1
    assert verify(engine).ok


def test_ndc_versions_and_inventory_permissions(engine: Engine, key_dir: Path) -> None:
    load_setup(engine, key_dir)
    ndc = reference_ndc("KOR")
    assert refused(accounting.record_ndc, engine=engine, actor=KHM_REGISTRY, ndc=ndc) is (
        RejectionCode.PERMISSION_DENIED
    )
    accounting.record_ndc(engine, actor=KOR_AUTHORITY, ndc=ndc)
    assert refused(accounting.record_ndc, engine=engine, actor=KOR_AUTHORITY, ndc=ndc) is (
        RejectionCode.VERSION_NOT_INCREASING
    )
    accounting.record_ndc(
        engine, actor=KOR_AUTHORITY, ndc=replace(ndc, version=2, base_value_t=742_300_000)
    )
    with engine.connect() as connection:
        versions = accounting.ndc_versions(connection, "KOR")
        assert [v.base_value_t for v in versions] == [727_600_000, 742_300_000]
        assert accounting.ndc_for(connection, "KOR", 2025) == versions[-1]
    csv_file = Path(key_dir).parent / "kor.csv"
    csv_file.write_text("year,emissions_tco2e\n2030,1000\n")
    accounting.import_inventory_file(engine, actor=KOR_AUTHORITY, party="KOR", path=csv_file)
    csv_file.write_text("year,emissions_tco2e\n2030,900\n")
    accounting.import_inventory_file(engine, actor=KOR_AUTHORITY, party="KOR", path=csv_file)
    with engine.connect() as connection:
        assert accounting.inventory(connection, "KOR") == {2030: 900}
