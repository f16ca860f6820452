"""Monitoring-data uploads: streamed to disk with a size limit, header checked, then
validated by the MRV ingestion with counts that reconcile."""

from __future__ import annotations

from pathlib import Path

from api_support import (
    assert_problem,
    reference_app,
    reference_postgres_template,
    reference_template,
    signed_in,
)
from fastapi import FastAPI

from article6.mrv.schema import SCHEMAS
from mrv.mrv_builder import basic_fleet

__all__ = ["reference_app", "reference_postgres_template", "reference_template"]

DATA = "/api/v1/projects/VW-EMOTO-KHM/periods/2/monitoring-data"
CSV = {"Content-Type": "text/csv"}
ROOT = Path(__file__).resolve().parents[2]


def test_upload_every_file_then_validate(reference_app: FastAPI, tmp_path: Path) -> None:
    dataset = basic_fleet().write(tmp_path / "fleet", "csv")
    developer = signed_in(reference_app, "verywords-dev")
    uploaded = {}
    for path in sorted(dataset.glob("*.csv")):
        response = developer.put(f"{DATA}/{path.stem}", content=path.read_bytes(), headers=CSV)
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["columns_ok"] is True and body["problems"] == []
        assert body["size_bytes"] == path.stat().st_size
        uploaded[path.stem] = body["sha256"]
    listed = developer.get(DATA).json()
    assert {f["record_type"]: f["sha256"] for f in listed["items"]} == uploaded
    first = developer.get(DATA, params={"limit": 1}).json()
    assert first["items"] == listed["items"][:1] and first["next_offset"] == 1

    report = developer.post(f"{DATA}/validation").json()
    assert report["ok"] is True and report["error"] is None
    assert len(report["input_hash"]) == 64
    odometer = [s for s in report["sources"] if s["record_type"] == "odometer_readings"]
    assert odometer[0]["rows_read"] == odometer[0]["rows_accepted"] == 62
    for source in report["sources"]:
        assert source["rows_read"] == source["rows_accepted"] + source["rows_quarantined"]

    params = (ROOT / "params" / "khm-emoto-v1.toml").read_text(encoding="utf-8")
    calculation = {"year": 2025, "params_toml": params, "freeze": True}
    run = developer.post(f"{DATA}/calculation", json=calculation)
    assert run.status_code == 200, run.text
    figures = run.json()
    assert figures["input_hash"] == report["input_hash"] and figures["frozen"] is True
    assert figures["run_id"].startswith("2025-") and "run_dir" not in figures
    assert figures["issued_t"] == int(figures["er_t"]) >= 0
    unfrozen = developer.post(f"{DATA}/calculation", json={**calculation, "freeze": False})
    assert unfrozen.json()["run_id"] == figures["run_id"]  # same data, parameters, code
    refrozen = developer.post(f"{DATA}/calculation", json=calculation)
    assert "already frozen" in assert_problem(refrozen, 422, "calculation_refused")["detail"]
    broken = developer.post(f"{DATA}/calculation", json={**calculation, "params_toml": "x = 1"})
    assert_problem(broken, 422, "calculation_refused")


def test_a_wrong_header_is_named_and_an_incomplete_dataset_is_refused(
    reference_app: FastAPI,
) -> None:
    developer = signed_in(reference_app, "verywords-dev")
    columns = list(SCHEMAS["vehicles"].column_names)
    header = ",".join([*columns[1:], "colour"]) + "\n"
    body = developer.put(f"{DATA}/vehicles", content=header.encode(), headers=CSV).json()
    assert body["columns_ok"] is False
    assert any(columns[0] in p and "missing" in p for p in body["problems"])
    assert any("colour" in p and "unknown" in p for p in body["problems"])
    # An optional column (the meter's interval energy) may be left out of the header.
    short = b"meter_id,ts,cumulative_kwh\n"
    body = developer.put(f"{DATA}/meter_readings", content=short, headers=CSV).json()
    assert body["columns_ok"] is True and body["problems"] == []
    report = developer.post(f"{DATA}/validation").json()
    assert report["ok"] is False and "vehicles.csv" in report["error"]
    assert str(reference_app.state.upload_dir) not in report["error"]


def test_size_limit_empty_file_and_unknown_record_type(reference_app: FastAPI) -> None:
    reference_app.state.max_upload_bytes = 1000
    developer = signed_in(reference_app, "verywords-dev")
    big = developer.put(f"{DATA}/vehicles", content=b"x" * 5000, headers=CSV)
    assert_problem(big, 413)
    assert developer.get(DATA).json()["items"] == []  # nothing half-written is kept
    assert_problem(developer.put(f"{DATA}/vehicles", content=b"", headers=CSV), 422)
    assert_problem(developer.put(f"{DATA}/selfies", content=b"a\n", headers=CSV), 404)
    assert_problem(developer.post(f"{DATA}/validation"), 404)


def test_only_the_developer_uploads(reference_app: FastAPI) -> None:
    for user in ("kor-registry", "verifier", "khm-coordinator", "observer"):
        client = signed_in(reference_app, user)
        response = client.put(f"{DATA}/vehicles", content=b"vehicle_id\n", headers=CSV)
        assert_problem(response, 403, "permission_denied")
    developer = signed_in(reference_app, "verywords-dev")
    assert developer.get(DATA).json()["items"] == []
    missing = developer.put(
        "/api/v1/projects/NOPE/periods/1/monitoring-data/vehicles", content=b"a\n", headers=CSV
    )
    assert_problem(missing, 404)
