"""Ex-ante projection: worked example, shipped plan, sensitivity, Monte Carlo, plan errors."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from article6.cli.mrv_planning import register
from article6.mrv.params import load_parameter_set, parse_parameter_set
from article6.mrv.projection import central_case, delivery_curves, monte_carlo, sensitivity
from article6.mrv.rollout_plan import PlanError, load_plan, parse_plan

ROOT = Path(__file__).resolve().parents[2]
PLAN = ROOT / "plans" / "khm-emoto-rollout.toml"
EXANTE_PARAMS = ROOT / "plans" / "khm-emoto-exante-params.toml"
NO_UNCERTAINTY = {d: [1.0, 1.0] for d in ("grid_factor", "mileage", "baseline_fuel")} | {
    "consumption": [1.0, 1.0],
    "losses": [1.0, 1.0],
}


def _worked_example_params(tdl_form: str) -> Any:
    raw = tomllib.loads(EXANTE_PARAMS.read_text())
    raw["methodology"]["tdl_form"] = tdl_form
    raw["grid"]["ef_t_per_mwh"] = {"2025": 0.60}
    raw["methodology"]["crediting_end_year"] = 2025
    return parse_parameter_set(raw)


def _one_segment_plan(**segment: Any) -> dict[str, Any]:
    body = {
        "category": "e_motorcycle",
        "annual_km": 15000,
        "station_kwh_per_km": 0.05,
        "share_solar": 0.0,
        "share_unmetered": 0.0,
        "annual_attrition": 0.0,
        "additions": {"2025": 2000},
    }
    body.update(segment)
    return {
        "plan": {"id": "example", "first_year": 2025, "last_year": 2025},
        "segments": {"example": body},
        "uncertainty": dict(NO_UNCERTAINTY),
    }


@pytest.mark.parametrize(
    ("form", "er_per_vehicle_t"), [("one_plus", 0.202), ("one_over_one_minus", 0.180)]
)
def test_worked_example_of_the_methodology(form: str, er_per_vehicle_t: float) -> None:
    # 2,000 vehicles added during the year count half a year each: 1,000 vehicle-years.
    plan = parse_plan(_one_segment_plan())
    (vintage,) = central_case(plan, _worked_example_params(form))
    assert vintage.vehicle_years == pytest.approx(1000)
    assert vintage.be_t == pytest.approx(742.2, abs=0.5)
    assert vintage.er_t / 1000 == pytest.approx(er_per_vehicle_t, abs=0.001)
    assert vintage.issued_t == int(vintage.er_t)


def test_solar_and_unmetered_shares_move_project_emissions() -> None:
    params = _worked_example_params("one_plus")
    (base,) = central_case(parse_plan(_one_segment_plan()), params)
    (solar,) = central_case(parse_plan(_one_segment_plan(share_solar=0.5)), params)
    (home,) = central_case(parse_plan(_one_segment_plan(share_unmetered=0.5)), params)
    assert solar.pe_t == pytest.approx(base.pe_t / 2)
    assert home.pe_t == pytest.approx(base.pe_t)
    assert solar.be_t == pytest.approx(base.be_t)


def test_shipped_plan_central_case_is_about_680_000_t() -> None:
    vintages = central_case(load_plan(PLAN), load_parameter_set(EXANTE_PARAMS))
    total = sum(v.issued_t for v in vintages)
    assert [v.vintage for v in vintages] == list(range(2025, 2035))
    assert 0.97 * 680_000 <= total <= 1.03 * 680_000
    assert all(v.be_t > v.pe_t for v in vintages)


def test_sensitivity_directions_and_order() -> None:
    rows = {r.driver: r for r in sensitivity(load_plan(PLAN), load_parameter_set(EXANTE_PARAMS))}
    assert set(rows) >= {"grid_factor", "mileage", "baseline_fuel", "consumption", "losses"}
    assert rows["grid_factor"].total_at_high_t < rows["grid_factor"].total_at_low_t
    assert rows["consumption"].total_at_high_t < rows["consumption"].total_at_low_t
    assert rows["losses"].total_at_high_t < rows["losses"].total_at_low_t
    assert rows["mileage"].total_at_high_t > rows["mileage"].total_at_low_t
    assert rows["baseline_fuel"].total_at_high_t > rows["baseline_fuel"].total_at_low_t
    swings = [r.swing_t for r in sensitivity(load_plan(PLAN), load_parameter_set(EXANTE_PARAMS))]
    assert swings == sorted(swings, reverse=True)


def test_monte_carlo_is_deterministic_and_ordered() -> None:
    plan, params = load_plan(PLAN), load_parameter_set(EXANTE_PARAMS)
    first = monte_carlo(plan, params, 400, seed=7)
    second = monte_carlo(plan, params, 400, seed=7)
    other = monte_carlo(plan, params, 400, seed=8)
    assert np.array_equal(first.curves.totals_t, second.curves.totals_t)
    assert not np.array_equal(first.curves.totals_t, other.curves.totals_t)
    assert first.total_p10_t < first.total_p50_t < first.total_p90_t
    assert 0.0 <= first.probability_target <= 1.0
    assert first.probability_korea == pytest.approx(first.probability_target, abs=0.01)
    curves = first.curves
    assert curves.issued_t.shape == curves.cumulative_t.shape == (3, 10)
    assert np.all(np.diff(curves.cumulative_t, axis=1) >= 0)
    assert np.all(np.diff(curves.cumulative_t, axis=0) >= 0)
    assert np.all(curves.korea_cumulative_t <= curves.cumulative_t)
    assert first.probability_target == pytest.approx(np.mean(curves.totals_t >= 680_000))


def test_monte_carlo_without_uncertainty_centres_on_the_central_case() -> None:
    raw = tomllib.loads(PLAN.read_text())
    raw["uncertainty"] = dict(NO_UNCERTAINTY)
    plan, params = parse_plan(raw), load_parameter_set(EXANTE_PARAMS)
    central = sum(v.issued_t for v in central_case(plan, params))
    result = monte_carlo(plan, params, 300, seed=1)
    assert result.total_p50_t == pytest.approx(central, rel=0.02)
    assert result.total_p90_t - result.total_p10_t < 0.1 * central


def test_thresholds_change_the_probabilities() -> None:
    plan, params = load_plan(PLAN), load_parameter_set(EXANTE_PARAMS)
    easy = monte_carlo(plan, params, 300, seed=3, target_t=100_000, korea_t=50_000)
    hard = monte_carlo(plan, params, 300, seed=3, target_t=2_000_000, korea_t=1_500_000)
    assert easy.probability_target == 1.0 and easy.probability_korea == 1.0
    assert hard.probability_target == 0.0 and hard.probability_korea == 0.0
    korea_first = monte_carlo(plan, params, 300, seed=3, korea_share=1.0)
    assert korea_first.probability_korea >= korea_first.probability_target


def test_delivery_curves_for_finance() -> None:
    curves = delivery_curves(load_plan(PLAN), load_parameter_set(EXANTE_PARAMS), 200, seed=2)
    assert curves.levels == (0.1, 0.5, 0.9)
    assert list(curves.vintages) == list(range(2025, 2035))
    assert curves.totals_t.shape == (200,)
    assert np.all(
        curves.korea_cumulative_t[:, -1]
        == np.floor(np.quantile(curves.totals_t * 400 / 680, [0.1, 0.5, 0.9]))
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda raw: raw["plan"].update(colour="red"), "unknown key: plan.colour"),
        (lambda raw: raw["uncertainty"].pop("mileage"), "missing key: uncertainty.mileage"),
        (lambda raw: raw["uncertainty"].update(mileage=[1.2, 1.5]), "uncertainty.mileage"),
        (
            lambda raw: raw["segments"]["example"]["additions"].update({"2031": 5}),
            "additions.2031: outside the plan years",
        ),
        (lambda raw: raw["segments"]["example"].pop("annual_km"), "annual_km"),
        (lambda raw: raw["segments"]["example"].update(share_solar=1.5), "share_solar"),
    ],
)
def test_plan_errors_name_the_key(change: Any, message: str) -> None:
    raw = _one_segment_plan()
    change(raw)
    with pytest.raises(PlanError, match=message):
        parse_plan(raw)


def test_missing_grid_factor_for_a_plan_year_is_an_error() -> None:
    from article6.mrv.params import ParameterError

    raw = _one_segment_plan()
    raw["plan"]["last_year"] = 2026
    with pytest.raises(ParameterError, match="2026"):
        central_case(parse_plan(raw), _worked_example_params("one_plus"))


def test_project_command_json(tmp_path: Path) -> None:
    app = typer.Typer()

    @app.callback()
    def group() -> None:
        """MRV."""

    register(app)
    args = ["project", "--plan", str(PLAN), "--params", str(EXANTE_PARAMS), "--runs", "200"]
    result = CliRunner().invoke(app, [*args, "--seed", "4", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["central"]["total_t"] == sum(
        v["issued_t"] for v in document["central"]["vintages"]
    )
    mc = document["monte_carlo"]
    assert mc["p10_t"] <= mc["p50_t"] <= mc["p90_t"]
    assert len(mc["vintages"]) == 10
    text = CliRunner().invoke(app, [*args, "--seed", "4"])
    assert text.exit_code == 0 and "Sensitivity" in text.output and "P50" in text.output
    broken = tmp_path / "plan.toml"
    broken.write_text("[plan]\nid = 'x'\n")
    failed = CliRunner().invoke(
        app, ["project", "--plan", str(broken), "--params", str(EXANTE_PARAMS)]
    )
    assert failed.exit_code == 2
