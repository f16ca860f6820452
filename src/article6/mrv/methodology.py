"""The methodology equations E1-E10 as pure functions.

Electric two-wheelers replacing gasoline motorcycles (AMS-III.C with TOOL05 /
TOOL07 and the CDM sampling standard). Each function is one equation of the
methodology text, free of I/O, so a reviewer can check the arithmetic line by
line and the pipeline, the projection and the tests all share one definition.
Floats are allowed here; only the issued quantity is rounded, and always down.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from article6.mrv.params import IrExponent, ParameterSet, TdlForm

GRAMS_PER_TONNE = 1_000_000.0
KWH_PER_MWH = 1000.0
# Below this a float ER is treated as its nearest whole tonne before flooring,
# so binary noise (2.9999999999996) never costs a whole unit.
FLOOR_TOLERANCE_T = 1e-6


class MethodologyError(ValueError):
    """An argument outside the domain of an equation."""


def valid_distance_km(daily_distances_km: Iterable[float]) -> float:
    """(E1) Valid distance of a vehicle-year: the sum of its valid daily distances."""
    total = 0.0
    for value in daily_distances_km:
        if value < 0:
            raise MethodologyError("daily distance cannot be negative")
        total += value
    return total


def energy_cap_distance_km(energy_kwh: float, sec_min_kwh_per_km: float) -> float:
    """(E2) The most distance the metered energy of a segment could drive."""
    if sec_min_kwh_per_km <= 0:
        raise MethodologyError("SEC_min must be positive")
    return max(0.0, energy_kwh) / sec_min_kwh_per_km


def energy_cap_scale(distance_km: float, energy_kwh: float, sec_min_kwh_per_km: float) -> float:
    """(E2) Factor applied to every vehicle of a segment; 1.0 when the cap does not bind."""
    cap_km = energy_cap_distance_km(energy_kwh, sec_min_kwh_per_km)
    if distance_km <= cap_km or distance_km <= 0:
        return 1.0
    return cap_km / distance_km


def fuel_factor_g_per_l(
    density_kg_per_l: float, ncv_mj_per_kg: float, ef_co2_g_per_mj: float
) -> float:
    """CO2 per litre of gasoline: rho × NCV × EF_CO2."""
    return density_kg_per_l * ncv_mj_per_kg * ef_co2_g_per_mj


def ir_exponent_t(
    option: IrExponent, vintage_year: int, crediting_start_year: int, ir_reference_year: int
) -> int:
    """Exponent t of IR^t: crediting-year index (1 in the first year) or years since reference."""
    if option == "crediting_year_index":
        t = vintage_year - crediting_start_year + 1
        if t < 1:
            raise MethodologyError(f"vintage {vintage_year} before the crediting period")
    elif option == "years_since_reference":
        t = vintage_year - ir_reference_year
    else:
        raise MethodologyError(f"unknown IR exponent option {option!r}")
    if t < 0:
        raise MethodologyError(f"IR exponent negative for vintage {vintage_year}")
    return t


def baseline_ef_g_per_km(
    sfc_l_per_100km: float,
    density_kg_per_l: float,
    ncv_mj_per_kg: float,
    ef_co2_g_per_mj: float,
    ir: float,
    t: int,
) -> float:
    """(E3) Baseline emission factor EF_BL = SFC × rho × NCV × EF_CO2 × IR^t."""
    sfc_l_per_km = sfc_l_per_100km / 100.0
    fuel = fuel_factor_g_per_l(density_kg_per_l, ncv_mj_per_kg, ef_co2_g_per_mj)
    return sfc_l_per_km * fuel * ir**t


def baseline_emissions_t(
    ef_bl_g_per_km: float, distance_km: float, displacement_ratio: float
) -> float:
    """(E4) Baseline emissions of one vehicle-year in tonnes."""
    return ef_bl_g_per_km * distance_km * displacement_ratio / GRAMS_PER_TONNE


def loss_multiplier(tdl: float, form: TdlForm) -> float:
    """L(TDL): 1/(1-TDL) (AMS-III.C, conservative) or 1+TDL (TOOL05 generic)."""
    if not 0 <= tdl < 1:
        raise MethodologyError("TDL must be in [0, 1)")
    if form == "one_over_one_minus":
        return 1.0 / (1.0 - tdl)
    if form == "one_plus":
        return 1.0 + tdl
    raise MethodologyError(f"unknown TDL form {form!r}")


def grid_emissions_t(energy_kwh: float, ef_grid_t_per_mwh: float, loss: float) -> float:
    """(E5, grid term) Emissions of grid electricity consumed by stations."""
    return energy_kwh / KWH_PER_MWH * ef_grid_t_per_mwh * loss


def project_emissions_t(
    grid_energy_kwh: float,
    ef_grid_t_per_mwh: float,
    loss: float,
    captive_fossil_kwh: float = 0.0,
    captive_fossil_ef_t_per_mwh: float = 0.0,
    unmetered_distance_km: float = 0.0,
    sec_plug_kwh_per_km: float = 0.0,
) -> float:
    """(E5) Project emissions: grid + captive fossil + unmetered charging; solar counts zero."""
    grid_t = grid_emissions_t(grid_energy_kwh, ef_grid_t_per_mwh, loss)
    captive_t = captive_fossil_kwh / KWH_PER_MWH * captive_fossil_ef_t_per_mwh
    unmetered_kwh = unmetered_distance_km * sec_plug_kwh_per_km
    unmetered_t = grid_emissions_t(unmetered_kwh, ef_grid_t_per_mwh, loss)
    return grid_t + captive_t + unmetered_t


@dataclass(frozen=True)
class EmissionReductions:
    """(E7) The outcome of one vintage."""

    be_t: float
    pe_t: float
    le_t: float
    er_raw_t: float
    er_t: float
    cap_excess_t: float
    issued_t: int


def floor_tonnes(value_t: float) -> int:
    """Issued whole tonnes: rounded down, ignoring float noise below a micro-tonne."""
    if value_t <= 0:
        return 0
    nearest = round(value_t)
    if abs(value_t - nearest) < FLOOR_TOLERANCE_T:
        return int(nearest)
    return math.floor(value_t)


def emission_reductions(
    be_t: float, pe_t: float, le_t: float = 0.0, cap_t: float = 0.0
) -> EmissionReductions:
    """(E6, E7) ER = max(0, BE - PE - LE), capped when the small-scale cap is on (cap_t > 0)."""
    er_raw = be_t - pe_t - le_t
    er = max(0.0, er_raw)
    excess = 0.0
    if cap_t > 0 and er > cap_t:
        excess = er - cap_t
        er = cap_t
    return EmissionReductions(
        be_t=be_t,
        pe_t=pe_t,
        le_t=le_t,
        er_raw_t=er_raw,
        er_t=er,
        cap_excess_t=excess,
        issued_t=floor_tonnes(er),
    )


def combined_margin_t_per_mwh(
    ef_om_t_per_mwh: float, ef_bm_t_per_mwh: float, w_om: float = 0.5, w_bm: float = 0.5
) -> float:
    """(E8) TOOL07 combined margin EF_CM = w_OM × EF_OM + w_BM × EF_BM."""
    if w_om < 0 or w_bm < 0 or not math.isclose(w_om + w_bm, 1.0, abs_tol=1e-12):
        raise MethodologyError("combined margin weights must be non-negative and sum to 1")
    return w_om * ef_om_t_per_mwh + w_bm * ef_bm_t_per_mwh


def sample_size(population: int, cv: float, precision: float = 0.10, z: float = 1.645) -> int:
    """(E9) n = z² N CV² / ((N-1) p² + z² CV²), rounded up, never above N."""
    if population <= 0:
        return 0
    if cv < 0 or precision <= 0 or z <= 0:
        raise MethodologyError("CV must be >= 0, precision and z > 0")
    numerator = z**2 * population * cv**2
    denominator = (population - 1) * precision**2 + z**2 * cv**2
    if denominator == 0:
        return 0 if numerator == 0 else population
    return min(population, math.ceil(numerator / denominator - 1e-12))


def conservative_bound(mean: float, standard_error: float, z: float, lower: bool) -> float:
    """(E9) When precision is missed: lower bound for distance, upper for consumption."""
    return mean - z * standard_error if lower else mean + z * standard_error


def calibration_adjusted_energy_kwh(
    energy_kwh: float, error_pct: float, accuracy_class_pct: float
) -> float:
    """(E10) Energy since the last valid calibration, raised by the error found.

    Only errors beyond the accuracy class count, and the adjustment always goes
    the way that raises project emissions, whatever the sign of the error.
    """
    if abs(error_pct) <= accuracy_class_pct:
        return energy_kwh
    return energy_kwh * (1.0 + abs(error_pct) / 100.0)


def invoice_reconciled_energy_kwh(
    metered_kwh: float, invoiced_kwh: float, tolerance_pct: float
) -> tuple[float, bool]:
    """Meter vs utility invoice: within tolerance keep the meter, else the higher value.

    Returns the energy to use and whether the tolerance was exceeded.
    """
    reference = max(abs(invoiced_kwh), 1e-12)
    if abs(metered_kwh - invoiced_kwh) / reference * 100.0 <= tolerance_pct:
        return metered_kwh, False
    return max(metered_kwh, invoiced_kwh), True


def vintage_baseline_ef_g_per_km(params: ParameterSet, category: str, vintage_year: int) -> float:
    """(E3) EF_BL of one category for one vintage under a parameter set."""
    item = params.category(category)
    t = ir_exponent_t(
        params.ir_exponent, vintage_year, params.crediting_start_year, params.ir_reference_year
    )
    return baseline_ef_g_per_km(
        item.sfc_l_per_100km,
        params.density_kg_per_l,
        params.ncv_mj_per_kg,
        params.ef_co2_g_per_mj,
        params.ir,
        t,
    )


def vintage_grid_factor_t_per_mwh(params: ParameterSet, vintage_year: int) -> float:
    """(E5) EF_grid × L(TDL) for one vintage: tonnes per MWh consumed at the station."""
    loss = loss_multiplier(params.tdl(vintage_year), params.tdl_form)
    return params.ef_grid_t_per_mwh(vintage_year) * loss
