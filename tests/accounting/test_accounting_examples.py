"""Worked examples A and B of the domain primer, to the tonne, through the registry."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from accounting_scenario import (
    E_2030,
    averaging,
    reference_ndc,
    trajectory,
    worked_example,
)
from sqlalchemy import Engine

from article6.domain.accounting import Attribution, whole_tonnes
from article6.services.accounting import balance_statement


def test_example_a_averaging_both_parties(engine: Engine, key_dir: Path) -> None:
    khm, kor = averaging(reference_ndc("KHM")), averaging(reference_ndc("KOR"))
    worked_example(engine, key_dir, khm, kor, banking=False)

    cambodia = balance_statement(engine, "KHM", 2030).computed
    korea = balance_statement(engine, "KOR", 2030).computed
    assert cambodia.elapsed_years == korea.elapsed_years == 10
    assert cambodia.average_first_transfers_t == Decimal(24_000)
    assert cambodia.target_year_balance_t == E_2030["KHM"] + 24_000
    assert korea.average_uses_t == Decimal(24_000)
    assert korea.average_first_transfers_t == 0
    assert korea.target_year_balance_t == E_2030["KOR"] - 24_000

    # A report covering 2026: k = 6, only vintages 2025-26 fall in the elapsed years.
    interim = balance_statement(engine, "KHM", 2026).computed
    assert interim.elapsed_years == 6
    assert sum(r.first_transfers_t for r in interim.years[:6]) == 80_000
    assert whole_tonnes(interim.average_first_transfers_t or Decimal(0)) == 13_333
    assert interim.average_first_transfers_t == Decimal(80_000) / 6


def test_example_b_trajectory_uses_every_year(engine: Engine, key_dir: Path) -> None:
    khm, kor = trajectory(reference_ndc("KHM")), reference_ndc("KOR")
    worked_example(engine, key_dir, khm, kor, banking=False)

    korea = balance_statement(engine, "KOR", 2030).computed
    assert korea.method.value == "trajectory"
    assert korea.year(2030).balance_t == E_2030["KOR"] - 40_000
    assert [korea.year(y).uses_t for y in range(2025, 2031)] == [40_000] * 6
    # T_t = 727.6 - 24.25 (t - 2018) Mt
    assert korea.year(2021).trajectory_t == 727_600_000 - 24_250_000 * 3
    assert korea.year(2030).trajectory_t == 436_600_000
    cambodia = balance_statement(engine, "KHM", 2030).computed
    assert cambodia.year(2030).balance_t == E_2030["KHM"] + 40_000

    by_action = balance_statement(engine, "KHM", 2030, Attribution.ACTION_YEAR).computed
    assert cambodia.year(2025).first_transfers_t == 40_000
    # Each vintage is first transferred in the following March.
    assert by_action.year(2025).first_transfers_t == 0
    assert by_action.year(2026).first_transfers_t == 40_000
    assert by_action.year(2030).first_transfers_t == 40_000  # vintage 2029
    assert sum(r.first_transfers_t for r in by_action.years) == 200_000


def test_example_b_banking_for_2030(engine: Engine, key_dir: Path) -> None:
    khm, kor = trajectory(reference_ndc("KHM")), reference_ndc("KOR")
    worked_example(engine, key_dir, khm, kor, banking=True)

    korea = balance_statement(engine, "KOR", 2030).computed
    assert korea.year(2030).balance_t == E_2030["KOR"] - 240_000
    assert [korea.year(y).uses_t for y in range(2025, 2030)] == [0] * 5
    cambodia = balance_statement(engine, "KHM", 2030).computed
    assert cambodia.year(2030).first_transfers_t == 40_000
    assert cambodia.year(2030).balance_t == E_2030["KHM"] + 40_000
    assert korea.achieved is (E_2030["KOR"] - 240_000 <= 436_600_000)
