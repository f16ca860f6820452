"""The methodology equations against the worked example and hand calculations."""

from __future__ import annotations

import math

import pytest

from article6.mrv import methodology as m

FUEL_G_PER_L = 0.74 * 44.3 * 69.3


def test_worked_example_baseline() -> None:
    assert m.fuel_factor_g_per_l(0.74, 44.3, 69.3) == pytest.approx(2271.8, abs=0.05)
    t = m.ir_exponent_t("crediting_year_index", 2025, 2025, 2024)
    assert t == 1
    ef = m.baseline_ef_g_per_km(2.2, 0.74, 44.3, 69.3, 0.99, t)
    assert ef == pytest.approx(49.48, abs=0.005)
    be = m.baseline_emissions_t(ef, 15_000.0, 1.0)
    assert round(be, 3) == 0.742


def test_worked_example_project_emissions_both_tdl_forms() -> None:
    energy_kwh = 15_000.0 * 5.0 / 100.0
    assert energy_kwh == 750.0
    pe_plus = m.project_emissions_t(energy_kwh, 0.60, m.loss_multiplier(0.20, "one_plus"))
    pe_div = m.project_emissions_t(energy_kwh, 0.60, m.loss_multiplier(0.20, "one_over_one_minus"))
    assert pe_plus == pytest.approx(0.540, abs=1e-12)
    assert pe_div == pytest.approx(0.5625, abs=1e-12)
    be = m.baseline_emissions_t(m.baseline_ef_g_per_km(2.2, 0.74, 44.3, 69.3, 0.99, 1), 15_000, 1)
    assert round(m.emission_reductions(be, pe_plus).er_t, 3) == 0.202
    assert round(m.emission_reductions(be, pe_div).er_t, 3) == 0.180


def test_break_even_grid_factor_near_083() -> None:
    be = m.baseline_emissions_t(m.baseline_ef_g_per_km(2.2, 0.74, 44.3, 69.3, 0.99, 1), 15_000, 1)
    break_even = be / (0.75 * 1.20)
    assert break_even == pytest.approx(0.8245, abs=0.001)


def test_ir_exponent_options() -> None:
    assert m.ir_exponent_t("crediting_year_index", 2027, 2025, 2020) == 3
    assert m.ir_exponent_t("years_since_reference", 2027, 2025, 2020) == 7
    with pytest.raises(m.MethodologyError):
        m.ir_exponent_t("crediting_year_index", 2024, 2025, 2020)
    ef3 = m.baseline_ef_g_per_km(2.0, 0.74, 44.3, 69.3, 0.99, 3)
    assert ef3 == pytest.approx(0.02 * FUEL_G_PER_L * 0.99**3)


def test_energy_cap_scales_only_when_binding() -> None:
    assert m.energy_cap_distance_km(30.0, 0.03) == pytest.approx(1000.0)
    assert m.energy_cap_scale(900.0, 30.0, 0.03) == 1.0
    assert m.energy_cap_scale(1250.0, 30.0, 0.03) == pytest.approx(0.8)
    with pytest.raises(m.MethodologyError):
        m.energy_cap_distance_km(1.0, 0.0)


def test_valid_distance_sums_and_rejects_negative() -> None:
    assert m.valid_distance_km([10.0, 20.5, 0.0]) == 30.5
    with pytest.raises(m.MethodologyError):
        m.valid_distance_km([1.0, -1.0])


def test_emission_reductions_floor_and_negative() -> None:
    result = m.emission_reductions(10.9, 2.0, 0.5)
    assert result.er_raw_t == pytest.approx(8.4)
    assert result.issued_t == 8
    negative = m.emission_reductions(1.0, 3.0)
    assert negative.er_raw_t == -2.0
    assert negative.er_t == 0.0
    assert negative.issued_t == 0


def test_small_scale_cap_reports_excess() -> None:
    result = m.emission_reductions(70_500.4, 500.0, 0.0, cap_t=60_000.0)
    assert result.er_t == 60_000.0
    assert result.cap_excess_t == pytest.approx(10_000.4)
    assert result.issued_t == 60_000
    uncapped = m.emission_reductions(70_500.4, 500.0, 0.0, cap_t=0.0)
    assert uncapped.er_t == pytest.approx(70_000.4)
    assert uncapped.cap_excess_t == 0.0
    assert uncapped.issued_t == 70_000


def test_floor_ignores_float_noise_only() -> None:
    assert m.floor_tonnes(0.1 + 0.2 + 2.7) == 3
    assert m.floor_tonnes(2.9999999999996) == 3
    assert m.floor_tonnes(2.9999) == 2
    assert m.floor_tonnes(-4.0) == 0


def test_combined_margin() -> None:
    assert m.combined_margin_t_per_mwh(0.8, 0.4) == pytest.approx(0.6)
    assert m.combined_margin_t_per_mwh(0.8, 0.4, 0.75, 0.25) == pytest.approx(0.7)
    with pytest.raises(m.MethodologyError):
        m.combined_margin_t_per_mwh(0.8, 0.4, 0.6, 0.6)


def test_sample_size_hand_calculated() -> None:
    # N = 1000, CV = 0.5, p = 0.1, z = 1.645: 1.645² × 1000 × 0.25 / (999 × 0.01 + 1.645² × 0.25)
    numerator = 1.645**2 * 1000 * 0.25
    expected = math.ceil(numerator / (999 * 0.01 + 1.645**2 * 0.25))
    assert expected == 64
    assert m.sample_size(1000, 0.5) == 64
    assert m.sample_size(1000, 0.5, z=1.96) == 88
    assert m.sample_size(10, 5.0) == 10
    assert m.sample_size(0, 0.5) == 0


def test_conservative_bound_direction() -> None:
    assert m.conservative_bound(100.0, 5.0, 1.645, lower=True) == pytest.approx(91.775)
    assert m.conservative_bound(100.0, 5.0, 1.645, lower=False) == pytest.approx(108.225)


def test_calibration_adjustment_raises_energy_only_beyond_class() -> None:
    assert m.calibration_adjusted_energy_kwh(1000.0, 0.8, 1.0) == 1000.0
    assert m.calibration_adjusted_energy_kwh(1000.0, 3.0, 1.0) == pytest.approx(1030.0)
    assert m.calibration_adjusted_energy_kwh(1000.0, -3.0, 1.0) == pytest.approx(1030.0)


def test_invoice_reconciliation_takes_higher_beyond_tolerance() -> None:
    assert m.invoice_reconciled_energy_kwh(1010.0, 1000.0, 2.0) == (1010.0, False)
    assert m.invoice_reconciled_energy_kwh(1000.0, 1050.0, 2.0) == (1050.0, True)
    assert m.invoice_reconciled_energy_kwh(1100.0, 1000.0, 2.0) == (1100.0, True)


def test_loss_multiplier_forms() -> None:
    assert m.loss_multiplier(0.2, "one_plus") == pytest.approx(1.2)
    assert m.loss_multiplier(0.2, "one_over_one_minus") == pytest.approx(1.25)
    with pytest.raises(m.MethodologyError):
        m.loss_multiplier(1.0, "one_plus")
