"""Parameter files: required and unknown keys, defaults, placeholder, hash."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from article6.mrv import methodology as m
from article6.mrv.params import ParameterError, load_parameter_set, parse_parameter_set

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "params" / "khm-emoto-v1.toml"
DEFAULT = ROOT / "params" / "ams-iii-c-default.toml"


def raw_example() -> dict[str, Any]:
    return tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))


def test_shipped_sets_load() -> None:
    example = load_parameter_set(EXAMPLE)
    default = load_parameter_set(DEFAULT)
    assert example.placeholder is False
    assert default.placeholder is True
    assert example.category("e_motorcycle").sfc_l_per_100km == 2.2
    assert example.ef_grid_t_per_mwh(2027) == 0.58
    assert example.tdl(2027) == 0.20
    assert default.small_scale_cap_t == 60000.0
    assert default.gap_fill_max_days == 3
    assert default.leakage_t == 0.0
    assert default.boundary_lat_min == 9.9


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ("methodology", "tdl_form"),
        ("methodology", "small_scale_cap_t"),
        ("fuel", "ir"),
        ("grid", "ef_t_per_mwh"),
        ("quality", "gap_fill_max_days"),
    ],
)
def test_missing_key_is_named(table: str, key: str) -> None:
    raw = raw_example()
    del raw[table][key]
    with pytest.raises(ParameterError, match=f"missing key: {table}.{key}"):
        parse_parameter_set(raw)


def test_missing_category_key_is_named() -> None:
    raw = raw_example()
    del raw["categories"]["e_scooter"]["max_daily_km"]
    with pytest.raises(ParameterError, match=r"missing key: categories\.e_scooter\.max_daily_km"):
        parse_parameter_set(raw)


def test_unknown_keys_are_named() -> None:
    raw = raw_example()
    raw["fuel"]["ncv_mj_per_kgg"] = 44.3
    with pytest.raises(ParameterError, match=r"unknown key: fuel\.ncv_mj_per_kgg"):
        parse_parameter_set(raw)
    raw = raw_example()
    raw["extras"] = {"a": 1}
    with pytest.raises(ParameterError, match=r"unknown key: extras"):
        parse_parameter_set(raw)
    raw = raw_example()
    raw["categories"]["e_scooter"]["colour"] = "red"
    with pytest.raises(ParameterError, match=r"unknown key: categories\.e_scooter\.colour"):
        parse_parameter_set(raw)


def test_bad_values_are_named() -> None:
    raw = raw_example()
    raw["methodology"]["tdl_form"] = "one_minus"
    with pytest.raises(ParameterError, match=r"methodology\.tdl_form"):
        parse_parameter_set(raw)
    raw = raw_example()
    raw["fuel"]["density_kg_per_l"] = "0.74"
    with pytest.raises(ParameterError, match=r"fuel\.density_kg_per_l: expected a number"):
        parse_parameter_set(raw)
    raw = raw_example()
    raw["grid"]["ef_t_per_mwh"] = {"twenty": 0.6}
    with pytest.raises(ParameterError, match=r"grid\.ef_t_per_mwh\.twenty"):
        parse_parameter_set(raw)


def test_missing_vintage_is_an_error() -> None:
    params = load_parameter_set(EXAMPLE)
    with pytest.raises(ParameterError, match=r"no value for vintage 2040"):
        params.ef_grid_t_per_mwh(2040)


def test_tdl_per_year_table() -> None:
    raw = raw_example()
    raw["grid"]["tdl"] = {"2025": 0.2, "2026": 0.15}
    params = parse_parameter_set(raw)
    assert params.tdl(2026) == 0.15
    with pytest.raises(ParameterError, match=r"grid\.tdl"):
        params.tdl(2027)


def test_hash_is_canonical_and_sensitive() -> None:
    first = load_parameter_set(EXAMPLE)
    raw = raw_example()
    # Writing a default out explicitly does not change the set.
    raw["methodology"]["leakage_t"] = 0.0
    assert parse_parameter_set(raw).hash() == first.hash()
    raw["fuel"]["ir"] = 0.98
    changed = parse_parameter_set(raw)
    assert changed.hash() != first.hash()
    assert len(first.hash()) == 64


def test_parameter_set_feeds_methodology() -> None:
    params = load_parameter_set(EXAMPLE)
    ef = m.vintage_baseline_ef_g_per_km(params, "e_motorcycle", 2025)
    assert ef == pytest.approx(49.48, abs=0.005)
    assert m.vintage_grid_factor_t_per_mwh(params, 2025) == pytest.approx(0.75)
    assert params.in_crediting_period(2030)
    assert not params.in_crediting_period(2031)
    assert not params.in_crediting_period(2024)


def test_unreadable_file_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[fuel\n", encoding="utf-8")
    with pytest.raises(ParameterError, match=r"bad\.toml: invalid TOML"):
        load_parameter_set(bad)


def test_meter_interval_tolerance_has_a_default_and_is_checked() -> None:
    assert load_parameter_set(EXAMPLE).meter_interval_tolerance_pct == 0.5
    raw = raw_example()
    raw["quality"]["meter_interval_tolerance_pct"] = 1.5
    assert parse_parameter_set(raw).meter_interval_tolerance_pct == 1.5
    raw["quality"]["meter_interval_tolerance_pct"] = -0.1
    with pytest.raises(ParameterError, match=r"quality\.meter_interval_tolerance_pct: -0\.1"):
        parse_parameter_set(raw)
    raw["quality"]["meter_interval_tolerance_pct"] = "0.5"
    with pytest.raises(ParameterError, match=r"meter_interval_tolerance_pct: expected a number"):
        parse_parameter_set(raw)
