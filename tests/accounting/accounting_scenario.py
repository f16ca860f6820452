"""Worked-example flows driven through the real registry services.

Cambodia issues and first transfers 40,000 t of each vintage 2025-2030 to
Korea (240,000 t in all); Korea uses them, either 40,000 t for each year
(`per_year`) or all of them for 2030 (banking).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

from sqlalchemy import Engine

from article6.domain.accounting import Method, Ndc, linear_trajectory
from article6.services import accounting, actions
from article6.services.accounting import KOR_AUTHORITY, load_ndc_file
from article6.services.reference_case import (
    APPROACH_ID,
    AUTHORIZATION_ID,
    KHM_COORDINATOR,
    load_setup,
)
from tests_support import OPS

DATA = Path(__file__).resolve().parents[2] / "data"
VINTAGES = range(2025, 2031)
TRANCHE_T = 40_000
E_2030 = {"KHM": 90_000_000, "KOR": 437_000_000}


def reference_ndc(party: str) -> Ndc:
    return load_ndc_file(DATA / "ndc" / f"{party}.toml")


def averaging(ndc: Ndc) -> Ndc:
    return replace(ndc, method=Method.AVERAGING, trajectory_t={})


def trajectory(ndc: Ndc) -> Ndc:
    if ndc.trajectory_t:
        return replace(ndc, method=Method.TRAJECTORY)
    line = linear_trajectory(2021, 100_000_000, 2030, ndc.target_value_t, ndc.years)
    return replace(ndc, method=Method.TRAJECTORY, trajectory_t=line)


def record_ndcs(engine: Engine, khm: Ndc, kor: Ndc) -> None:
    accounting.record_ndc(engine, actor=KHM_COORDINATOR, ndc=khm)
    accounting.record_ndc(engine, actor=KOR_AUTHORITY, ndc=kor)
    for party, actor in (("KHM", KHM_COORDINATOR), ("KOR", KOR_AUTHORITY)):
        records = [
            accounting.InventoryRecord(year, E_2030[party], "test", "test.csv", 2)
            for year in (2030,)
        ]
        accounting.import_inventory(engine, actor=actor, party=party, records=records)


def issue_and_first_transfer(engine: Engine, vintage: int, quantity: int = TRANCHE_T) -> None:
    actions.issue_units(
        engine,
        actor=OPS["KHM"],
        approach_id=APPROACH_ID,
        registry_id="KHM01",
        vintage=vintage,
        quantity_t=quantity,
        action_date=date(vintage + 1, 3, 1),
        authorization_id=AUTHORIZATION_ID,
    )
    actions.first_transfer(
        engine,
        actor=OPS["KHM"],
        from_account="KHM01-PENDING",
        to_account="KOR01-HOLDING",
        selection=actions.Selection(APPROACH_ID, vintage, quantity),
        authorization_id=AUTHORIZATION_ID,
        action_date=date(vintage + 1, 3, 15),
    )


def use(engine: Engine, vintage: int, use_year: int, quantity: int = TRANCHE_T) -> None:
    actions.use_units(
        engine,
        actor=OPS["KOR"],
        from_account="KOR01-HOLDING",
        selection=actions.Selection(APPROACH_ID, vintage, quantity),
        action_date=date(vintage + 1, 4, 1),
        use_year=use_year,
    )


def worked_example(engine: Engine, key_dir: Path, khm: Ndc, kor: Ndc, banking: bool) -> None:
    """Both Parties' NDCs, and the 240,000 t flows; Korea uses per year or banks for 2030."""
    load_setup(engine, key_dir)
    record_ndcs(engine, khm, kor)
    for vintage in VINTAGES:
        issue_and_first_transfer(engine, vintage)
        use(engine, vintage, 2030 if banking else vintage)
