"""Versioned MRV parameter sets read from TOML.

A parameter set fixes every methodological choice and default of the MRV
methodology (options such as the loss-multiplier form, fuel and grid factors,
quality limits). A calculation run records the SHA-256 hash of the set's
canonical encoding, so a verifier can tell exactly which values produced a
figure. Unknown and missing keys are errors that name the key: a silent typo
in a parameter file would change issued units.

Required keys::

    [methodology] tdl_form, ir_exponent, ir_reference_year,
                  crediting_start_year, small_scale_cap_t
    [fuel]        density_kg_per_l, ncv_mj_per_kg, ef_co2_g_per_mj, ir
    [categories.<name>] sfc_l_per_100km, sec_min_kwh_per_km,
                  sec_max_kwh_per_km, displacement_ratio, max_daily_km
    [grid]        tdl, ef_t_per_mwh (table: vintage year -> tCO2/MWh)
    [quality]     gap_fill_max_days

Optional keys and their defaults are listed in ``OPTIONAL_DEFAULTS``.
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

TdlForm = Literal["one_over_one_minus", "one_plus"]
IrExponent = Literal["crediting_year_index", "years_since_reference"]

TDL_FORMS: tuple[str, ...] = ("one_over_one_minus", "one_plus")
IR_EXPONENTS: tuple[str, ...] = ("crediting_year_index", "years_since_reference")

REQUIRED_KEYS: dict[str, tuple[str, ...]] = {
    "methodology": (
        "tdl_form",
        "ir_exponent",
        "ir_reference_year",
        "crediting_start_year",
        "small_scale_cap_t",
    ),
    "fuel": ("density_kg_per_l", "ncv_mj_per_kg", "ef_co2_g_per_mj", "ir"),
    "grid": ("tdl", "ef_t_per_mwh"),
    "quality": ("gap_fill_max_days",),
}
CATEGORY_KEYS: tuple[str, ...] = (
    "sfc_l_per_100km",
    "sec_min_kwh_per_km",
    "sec_max_kwh_per_km",
    "displacement_ratio",
    "max_daily_km",
)

# Optional keys with their documented defaults. Cambodia's bounding box is a
# deliberately generous rectangle around the national territory (about
# 9.9-14.75 N, 102.3-107.65 E); points outside it cannot be in Cambodia.
OPTIONAL_DEFAULTS: dict[str, dict[str, Any]] = {
    "parameter_set": {
        "id": "unnamed",
        "version": "0",
        "placeholder": False,
        "approver": "",
        "valid_from": "",
        "valid_to": "",
        "sources": [],
    },
    "methodology": {
        # Last vintage of the authorized crediting period; 0 = open ended.
        "crediting_end_year": 0,
        "leakage_t": 0.0,
        "sampling_confidence": 0.90,
        "sampling_precision": 0.10,
        "sampling_z": 1.645,
    },
    "grid": {
        # Captive fossil (diesel) supply: tCO2/MWh, TOOL05 conservative default.
        "captive_fossil_ef_t_per_mwh": 1.3,
    },
    "quality": {
        "imputed_flag_share": 0.10,
        "imputed_zero_share": 0.30,
        "telematics_coverage_min": 0.95,
        "invoice_tolerance_pct": 2.0,
        # Interval sums of a meter-day must match its cumulative deltas within this.
        "meter_interval_tolerance_pct": 0.5,
        "gps_jump_km": 5.0,
        "gps_jump_window_s": 60.0,
        "speed_tolerance_factor": 1.1,
        "gps_odometer_tolerance_pct": 5.0,
        "p10_window_days": 30,
        "calibration_validity_days": 730,
        "boundary_lat_min": 9.9,
        "boundary_lat_max": 14.75,
        "boundary_lon_min": 102.3,
        "boundary_lon_max": 107.65,
    },
}


class ParameterError(ValueError):
    """A parameter file is malformed; the message names the offending key."""


@dataclass(frozen=True)
class CategoryParams:
    """Per vehicle category values (baseline fuel use, plausible consumption)."""

    name: str
    sfc_l_per_100km: float
    sec_min_kwh_per_km: float
    sec_max_kwh_per_km: float
    displacement_ratio: float
    max_daily_km: float


@dataclass(frozen=True)
class ParameterSet:
    """One complete, validated parameter set."""

    set_id: str
    version: str
    placeholder: bool
    approver: str
    valid_from: str
    valid_to: str
    sources: tuple[str, ...]
    tdl_form: TdlForm
    ir_exponent: IrExponent
    ir_reference_year: int
    crediting_start_year: int
    crediting_end_year: int
    small_scale_cap_t: float
    leakage_t: float
    sampling_confidence: float
    sampling_precision: float
    sampling_z: float
    density_kg_per_l: float
    ncv_mj_per_kg: float
    ef_co2_g_per_mj: float
    ir: float
    categories: tuple[CategoryParams, ...]
    tdl_by_year: tuple[tuple[int, float], ...]
    tdl_default: float | None
    ef_grid_t_per_mwh_by_year: tuple[tuple[int, float], ...]
    captive_fossil_ef_t_per_mwh: float
    gap_fill_max_days: int
    imputed_flag_share: float
    imputed_zero_share: float
    telematics_coverage_min: float
    invoice_tolerance_pct: float
    meter_interval_tolerance_pct: float
    gps_jump_km: float
    gps_jump_window_s: float
    speed_tolerance_factor: float
    gps_odometer_tolerance_pct: float
    p10_window_days: int
    calibration_validity_days: int
    boundary_lat_min: float
    boundary_lat_max: float
    boundary_lon_min: float
    boundary_lon_max: float

    def category(self, name: str) -> CategoryParams:
        """The parameters of one vehicle category; unknown names are an error."""
        for item in self.categories:
            if item.name == name:
                return item
        raise ParameterError(f"categories.{name}: no such vehicle category in parameter set")

    def category_names(self) -> tuple[str, ...]:
        return tuple(item.name for item in self.categories)

    def ef_grid_t_per_mwh(self, year: int) -> float:
        """Grid emission factor for a vintage; a missing year is an error, not a guess."""
        for vintage, value in self.ef_grid_t_per_mwh_by_year:
            if vintage == year:
                return value
        raise ParameterError(f"grid.ef_t_per_mwh: no value for vintage {year}")

    def tdl(self, year: int) -> float:
        """Network losses for a vintage (a single value or a per-year table)."""
        for vintage, value in self.tdl_by_year:
            if vintage == year:
                return value
        if self.tdl_default is not None:
            return self.tdl_default
        raise ParameterError(f"grid.tdl: no value for vintage {year}")

    def in_crediting_period(self, year: int) -> bool:
        if year < self.crediting_start_year:
            return False
        return self.crediting_end_year == 0 or year <= self.crediting_end_year

    def canonical_json(self) -> str:
        """Canonical encoding: sorted keys, no whitespace, floats as repr."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    def hash(self) -> str:
        """SHA-256 hex digest of the canonical encoding."""
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()


def load_parameter_set(path: Path | str) -> ParameterSet:
    """Read and validate a TOML parameter file."""
    file_path = Path(path)
    try:
        raw = tomllib.loads(file_path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ParameterError(f"{file_path}: parameter file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ParameterError(f"{file_path}: invalid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ParameterError(f"{file_path}: not UTF-8 text") from exc
    try:
        return parse_parameter_set(raw)
    except ParameterError as exc:
        raise ParameterError(f"{file_path}: {exc}") from exc


def parse_parameter_set(raw: Mapping[str, Any]) -> ParameterSet:
    """Validate a parsed TOML document and build the parameter set."""
    known_tables = set(REQUIRED_KEYS) | set(OPTIONAL_DEFAULTS) | {"categories"}
    for table in raw:
        if table not in known_tables:
            raise ParameterError(f"unknown key: {table}")
    tables: dict[str, dict[str, Any]] = {}
    for table in sorted(known_tables - {"categories"}):
        tables[table] = _merge_table(table, raw.get(table))
    categories = _parse_categories(raw.get("categories"))
    meth, fuel, grid, quality, meta = (
        tables["methodology"],
        tables["fuel"],
        tables["grid"],
        tables["quality"],
        tables["parameter_set"],
    )
    tdl_form = _choice("methodology.tdl_form", meth["tdl_form"], TDL_FORMS)
    ir_exponent = _choice("methodology.ir_exponent", meth["ir_exponent"], IR_EXPONENTS)
    tdl_by_year, tdl_default = _parse_tdl(grid["tdl"])
    ef_by_year = _year_table("grid.ef_t_per_mwh", grid["ef_t_per_mwh"])
    for key, value in ef_by_year:
        _check_range(f"grid.ef_t_per_mwh.{key}", value, 0.0, 5.0)
    sources = meta["sources"]
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise ParameterError("parameter_set.sources: expected a list of strings")
    params = ParameterSet(
        set_id=_text("parameter_set.id", meta["id"]),
        version=_text("parameter_set.version", meta["version"]),
        placeholder=_flag("parameter_set.placeholder", meta["placeholder"]),
        approver=_text("parameter_set.approver", meta["approver"]),
        valid_from=_text("parameter_set.valid_from", meta["valid_from"]),
        valid_to=_text("parameter_set.valid_to", meta["valid_to"]),
        sources=tuple(sources),
        tdl_form=tdl_form,  # type: ignore[arg-type]
        ir_exponent=ir_exponent,  # type: ignore[arg-type]
        ir_reference_year=_integer("methodology.ir_reference_year", meth["ir_reference_year"]),
        crediting_start_year=_integer(
            "methodology.crediting_start_year", meth["crediting_start_year"]
        ),
        crediting_end_year=_integer("methodology.crediting_end_year", meth["crediting_end_year"]),
        small_scale_cap_t=_number("methodology.small_scale_cap_t", meth["small_scale_cap_t"]),
        leakage_t=_number("methodology.leakage_t", meth["leakage_t"]),
        sampling_confidence=_number("methodology.sampling_confidence", meth["sampling_confidence"]),
        sampling_precision=_number("methodology.sampling_precision", meth["sampling_precision"]),
        sampling_z=_number("methodology.sampling_z", meth["sampling_z"]),
        density_kg_per_l=_number("fuel.density_kg_per_l", fuel["density_kg_per_l"]),
        ncv_mj_per_kg=_number("fuel.ncv_mj_per_kg", fuel["ncv_mj_per_kg"]),
        ef_co2_g_per_mj=_number("fuel.ef_co2_g_per_mj", fuel["ef_co2_g_per_mj"]),
        ir=_number("fuel.ir", fuel["ir"]),
        categories=categories,
        tdl_by_year=tdl_by_year,
        tdl_default=tdl_default,
        ef_grid_t_per_mwh_by_year=ef_by_year,
        captive_fossil_ef_t_per_mwh=_number(
            "grid.captive_fossil_ef_t_per_mwh", grid["captive_fossil_ef_t_per_mwh"]
        ),
        gap_fill_max_days=_integer("quality.gap_fill_max_days", quality["gap_fill_max_days"]),
        imputed_flag_share=_number("quality.imputed_flag_share", quality["imputed_flag_share"]),
        imputed_zero_share=_number("quality.imputed_zero_share", quality["imputed_zero_share"]),
        telematics_coverage_min=_number(
            "quality.telematics_coverage_min", quality["telematics_coverage_min"]
        ),
        invoice_tolerance_pct=_number(
            "quality.invoice_tolerance_pct", quality["invoice_tolerance_pct"]
        ),
        meter_interval_tolerance_pct=_number(
            "quality.meter_interval_tolerance_pct", quality["meter_interval_tolerance_pct"]
        ),
        gps_jump_km=_number("quality.gps_jump_km", quality["gps_jump_km"]),
        gps_jump_window_s=_number("quality.gps_jump_window_s", quality["gps_jump_window_s"]),
        speed_tolerance_factor=_number(
            "quality.speed_tolerance_factor", quality["speed_tolerance_factor"]
        ),
        gps_odometer_tolerance_pct=_number(
            "quality.gps_odometer_tolerance_pct", quality["gps_odometer_tolerance_pct"]
        ),
        p10_window_days=_integer("quality.p10_window_days", quality["p10_window_days"]),
        calibration_validity_days=_integer(
            "quality.calibration_validity_days", quality["calibration_validity_days"]
        ),
        boundary_lat_min=_number("quality.boundary_lat_min", quality["boundary_lat_min"]),
        boundary_lat_max=_number("quality.boundary_lat_max", quality["boundary_lat_max"]),
        boundary_lon_min=_number("quality.boundary_lon_min", quality["boundary_lon_min"]),
        boundary_lon_max=_number("quality.boundary_lon_max", quality["boundary_lon_max"]),
    )
    _check_consistency(params)
    return params


def _merge_table(table: str, value: Any) -> dict[str, Any]:
    required = REQUIRED_KEYS.get(table, ())
    defaults = OPTIONAL_DEFAULTS.get(table, {})
    if value is None:
        if required:
            raise ParameterError(f"missing key: {table}")
        return dict(defaults)
    if not isinstance(value, dict):
        raise ParameterError(f"{table}: expected a table")
    for key in value:
        if key not in required and key not in defaults:
            raise ParameterError(f"unknown key: {table}.{key}")
    for key in required:
        if key not in value:
            raise ParameterError(f"missing key: {table}.{key}")
    merged = dict(defaults)
    merged.update(value)
    return merged


def _parse_categories(value: Any) -> tuple[CategoryParams, ...]:
    if value is None:
        raise ParameterError("missing key: categories")
    if not isinstance(value, dict) or not value:
        raise ParameterError("categories: expected at least one [categories.<name>] table")
    result = []
    for name in sorted(value):
        body = value[name]
        prefix = f"categories.{name}"
        if not isinstance(body, dict):
            raise ParameterError(f"{prefix}: expected a table")
        for key in body:
            if key not in CATEGORY_KEYS:
                raise ParameterError(f"unknown key: {prefix}.{key}")
        for key in CATEGORY_KEYS:
            if key not in body:
                raise ParameterError(f"missing key: {prefix}.{key}")
        item = CategoryParams(
            name=name,
            sfc_l_per_100km=_number(f"{prefix}.sfc_l_per_100km", body["sfc_l_per_100km"]),
            sec_min_kwh_per_km=_number(f"{prefix}.sec_min_kwh_per_km", body["sec_min_kwh_per_km"]),
            sec_max_kwh_per_km=_number(f"{prefix}.sec_max_kwh_per_km", body["sec_max_kwh_per_km"]),
            displacement_ratio=_number(f"{prefix}.displacement_ratio", body["displacement_ratio"]),
            max_daily_km=_number(f"{prefix}.max_daily_km", body["max_daily_km"]),
        )
        if not 0 < item.sec_min_kwh_per_km < item.sec_max_kwh_per_km:
            raise ParameterError(f"{prefix}.sec_min_kwh_per_km: must be > 0 and < sec_max")
        _check_range(f"{prefix}.displacement_ratio", item.displacement_ratio, 0.0, 1.0)
        _check_range(f"{prefix}.sfc_l_per_100km", item.sfc_l_per_100km, 0.0, 20.0)
        _check_range(f"{prefix}.max_daily_km", item.max_daily_km, 0.0, 2000.0)
        result.append(item)
    return tuple(result)


def _parse_tdl(value: Any) -> tuple[tuple[tuple[int, float], ...], float | None]:
    if isinstance(value, dict):
        table = _year_table("grid.tdl", value)
        for key, item in table:
            _check_range(f"grid.tdl.{key}", item, 0.0, 0.99)
        return table, None
    number = _number("grid.tdl", value)
    _check_range("grid.tdl", number, 0.0, 0.99)
    return (), number


def _year_table(key: str, value: Any) -> tuple[tuple[int, float], ...]:
    if not isinstance(value, dict) or not value:
        raise ParameterError(f"{key}: expected a table of vintage year = value")
    rows = []
    for year_text, item in value.items():
        try:
            year = int(year_text)
        except ValueError as exc:
            raise ParameterError(f"{key}.{year_text}: key must be a year") from exc
        rows.append((year, _number(f"{key}.{year_text}", item)))
    return tuple(sorted(rows))


def _check_consistency(params: ParameterSet) -> None:
    _check_range("fuel.ir", params.ir, 0.5, 1.0)
    for key, value in (
        ("fuel.density_kg_per_l", params.density_kg_per_l),
        ("fuel.ncv_mj_per_kg", params.ncv_mj_per_kg),
        ("fuel.ef_co2_g_per_mj", params.ef_co2_g_per_mj),
    ):
        if value <= 0:
            raise ParameterError(f"{key}: must be positive")
    if params.small_scale_cap_t < 0:
        raise ParameterError("methodology.small_scale_cap_t: must be >= 0 (0 = off)")
    if params.gap_fill_max_days < 0:
        raise ParameterError("quality.gap_fill_max_days: must be >= 0")
    if params.p10_window_days < 1:
        raise ParameterError("quality.p10_window_days: must be >= 1")
    if params.crediting_end_year and params.crediting_end_year < params.crediting_start_year:
        raise ParameterError("methodology.crediting_end_year: before crediting_start_year")
    if not 0 < params.imputed_flag_share <= params.imputed_zero_share <= 1:
        raise ParameterError("quality.imputed_flag_share: must be in (0, imputed_zero_share]")
    for key, value in (
        ("quality.invoice_tolerance_pct", params.invoice_tolerance_pct),
        ("quality.meter_interval_tolerance_pct", params.meter_interval_tolerance_pct),
    ):
        _check_range(key, value, 0.0, 100.0)
    if params.boundary_lat_min >= params.boundary_lat_max:
        raise ParameterError("quality.boundary_lat_min: must be below boundary_lat_max")
    if params.boundary_lon_min >= params.boundary_lon_max:
        raise ParameterError("quality.boundary_lon_min: must be below boundary_lon_max")


def _check_range(key: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ParameterError(f"{key}: {value} outside plausible range [{low}, {high}]")


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParameterError(f"{key}: expected a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ParameterError(f"{key}: must be finite")
    return number


def _integer(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParameterError(f"{key}: expected an integer, got {value!r}")
    return value


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ParameterError(f"{key}: expected a string, got {value!r}")
    return value


def _flag(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ParameterError(f"{key}: expected true or false, got {value!r}")
    return value


def _choice(key: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ParameterError(f"{key}: {value!r} not one of {', '.join(allowed)}")
    return str(value)
