"""Calculation runs: one vintage's emission reductions, frozen for verification.

A run ingests a dataset, runs the pipeline and applies E6-E7 to the totals.
A frozen run is written to ``<runs_dir>/<run_id>/``: ``run.json`` (figures,
flags, rejections, hashes), the parameter file it used, and Parquet detail per
vehicle, station, segment and day plus the quarantine. It stores three
fingerprints: the SHA-256 of the input files' bytes (canonical order), the
hash of the parameter set and the code version (package version plus a
digest of the calculation modules' source, so no version-control tool is
needed). Rerunning a frozen run on the same files must reproduce every figure
and every per-vehicle value to 1e-9; ``reproduce_run`` checks exactly that.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

import article6
from article6.mrv import methodology
from article6.mrv.engine import EngineName
from article6.mrv.ingest import IngestReport, ingest_dataset, input_hash
from article6.mrv.params import ParameterSet, load_parameter_set
from article6.mrv.pipeline import PipelineResult, run_pipeline
from article6.mrv.reasons import ReasonCode
from article6.settings import DEFAULT_RUNS_DIR

TOLERANCE = 1e-9
CALCULATION_MODULES = (
    "distance.py",
    "energy.py",
    "engine.py",
    "ingest.py",
    "meter_interval.py",
    "methodology.py",
    "params.py",
    "pipeline.py",
    "quality.py",
    "reasons.py",
    "runs.py",
    "sampling.py",
    "schema.py",
)
DETAIL_TABLES = ("vehicles", "stations", "segments", "sampling")

StepCallback = Callable[[str], None]


class RunError(ValueError):
    """A run cannot be made, frozen or reproduced; the message says why."""


def code_version() -> str:
    """Package version plus a digest of the calculation modules' source text."""
    digest = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in CALCULATION_MODULES:
        digest.update(name.encode("utf-8") + b"\0" + (here / name).read_bytes())
    return f"{article6.__version__}+{digest.hexdigest()[:16]}"


@dataclass(frozen=True)
class VintageFigures:
    """The figures of one vintage; issued units are whole tonnes rounded down."""

    year: int
    vehicles_eligible: int
    vehicles_operating: int
    distance_km: float
    energy_kwh: float
    unmetered_energy_kwh: float
    be_t: float
    pe_t: float
    le_t: float
    er_raw_t: float
    er_t: float
    cap_excess_t: float
    issued_t: int
    telematics_coverage: float
    sampling_required_n: int
    sampled_vehicles: int
    sampling_credited_vehicles: int
    sampling_credited_km: float


@dataclass(frozen=True)
class CalculationRun:
    """A complete, self-describing calculation of one vintage."""

    run_id: str
    figures: VintageFigures
    input_hash: str
    params_hash: str
    params_id: str
    params_version: str
    code_version: str
    engine: str
    frozen: bool
    flags: dict[str, int]
    quarantine: dict[str, dict[str, int]]
    rejected_days: dict[str, int]
    ingest: list[dict[str, Any]] = field(default_factory=list)
    sampling: list[dict[str, Any]] = field(default_factory=list)
    run_dir: Path | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON document of the run (also what ``--json`` prints)."""
        body: dict[str, Any] = asdict(self.figures)
        body.update(
            run_id=self.run_id,
            input_hash=self.input_hash,
            params_hash=self.params_hash,
            params_id=self.params_id,
            params_version=self.params_version,
            code_version=self.code_version,
            engine=self.engine,
            frozen=self.frozen,
            flags=self.flags,
            quarantine=self.quarantine,
            rejected_days=self.rejected_days,
            ingest=self.ingest,
            sampling=self.sampling,
            run_dir=None if self.run_dir is None else str(self.run_dir),
        )
        return body


def make_run_id(input_digest: str, params_digest: str, year: int, version: str) -> str:
    """Deterministic: the same inputs, parameters, vintage and code give the same id."""
    text = f"{input_digest}:{params_digest}:{year}:{version}"
    return f"{year}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:16]}"


def summarise(
    result: PipelineResult, params: ParameterSet
) -> tuple[VintageFigures, dict[str, int]]:
    """Apply E6-E9 to the pipeline's per-vehicle and per-station results.

    The E9 sample size reported when telematics coverage is low is the one a
    survey would need, estimated from the telematics vehicles' spread; the
    survey samples actually used are in ``result.sampling``.
    """
    vehicles = result.vehicles.to_pylist()
    stations = result.stations.to_pylist()
    segments = result.segments.to_pylist()
    samples = result.sampling.to_pylist()
    be_t = math.fsum(row["be_t"] for row in vehicles)
    station_pe_t = math.fsum(row["pe_t"] for row in stations)
    unmetered_pe_t = math.fsum(row["unmetered_pe_t"] for row in segments)
    outcome = methodology.emission_reductions(
        be_t, station_pe_t + unmetered_pe_t, params.leakage_t, params.small_scale_cap_t
    )
    operating = [row for row in vehicles if row["operating"]]
    with_telematics = [row for row in operating if row["has_telematics"]]
    coverage = len(with_telematics) / len(operating) if operating else 1.0
    sampling_n = 0
    if coverage < params.telematics_coverage_min:
        distances = [row["final_km"] for row in with_telematics]
        mean = statistics.fmean(distances) if distances else 0.0
        cv = statistics.pstdev(distances) / mean if len(distances) > 1 and mean > 0 else 1.0
        sampling_n = methodology.sample_size(
            len(operating) - len(with_telematics),
            cv,
            params.sampling_precision,
            params.sampling_z,
        )
    figures = VintageFigures(
        year=result.year,
        vehicles_eligible=len(vehicles),
        vehicles_operating=len(operating),
        distance_km=math.fsum(row["final_km"] for row in vehicles),
        energy_kwh=math.fsum(row["energy_kwh"] for row in stations),
        unmetered_energy_kwh=math.fsum(row["unmetered_kwh"] for row in segments),
        be_t=outcome.be_t,
        pe_t=outcome.pe_t,
        le_t=outcome.le_t,
        er_raw_t=outcome.er_raw_t,
        er_t=outcome.er_t,
        cap_excess_t=outcome.cap_excess_t,
        issued_t=outcome.issued_t,
        telematics_coverage=coverage,
        sampling_required_n=sampling_n,
        sampled_vehicles=sum(int(row["sample_n"]) for row in samples),
        sampling_credited_vehicles=sum(row["sampled_km"] > 0 for row in vehicles),
        sampling_credited_km=math.fsum(row["sampled_km"] for row in vehicles),
    )
    counts = {
        ReasonCode.NO_ACTIVITY_EVIDENCE: sum(bool(r["flag_no_evidence"]) for r in vehicles),
        ReasonCode.IMPUTED_SHARE_HIGH: sum(bool(r["flag_imputed_high"]) for r in vehicles),
        ReasonCode.IMPUTED_SHARE_ZEROED: sum(bool(r["flag_imputed_zeroed"]) for r in vehicles),
        ReasonCode.GPS_ODOMETER_MISMATCH: sum(int(r["gps_mismatch_days"]) for r in vehicles),
        ReasonCode.TELEMATICS_COVERAGE_LOW: int(coverage < params.telematics_coverage_min),
        ReasonCode.SAMPLING_PRECISION_NOT_MET: sum(
            int(row["sample_n"]) > 0 and not row["precision_met"] for row in samples
        ),
        ReasonCode.METER_INTERVAL_MISMATCH: sum(int(r["interval_mismatch_days"]) for r in stations),
        ReasonCode.CALIBRATION_MISSING: sum(int(r["uncalibrated_days"]) for r in stations),
        ReasonCode.CALIBRATION_ADJUSTED: sum(bool(r["calibration_adjusted"]) for r in stations),
        ReasonCode.INVOICE_MISMATCH: sum(bool(r["invoice_mismatch"]) for r in stations),
        ReasonCode.SEC_BELOW_MIN: sum(bool(r["flag_sec_below_min"]) for r in segments),
        ReasonCode.SEC_ABOVE_MAX: sum(bool(r["flag_sec_above_max"]) for r in segments),
        ReasonCode.SMALL_SCALE_CAP: int(outcome.cap_excess_t > 0),
        ReasonCode.PLACEHOLDER_PARAMETERS: int(params.placeholder),
    }
    flags = {code.value: count for code, count in counts.items() if count}
    return figures, flags


def _quarantine(result: PipelineResult, report: IngestReport) -> dict[str, dict[str, int]]:
    merged: dict[str, dict[str, int]] = {}
    for row in result.rejected.to_pylist():
        bucket = merged.setdefault(row["record_type"], {})
        bucket[row["reason"]] = bucket.get(row["reason"], 0) + int(row["rows"])
    staged = pq.read_table(report.staging_dir / "quarantine.parquet")
    for row in staged.select(["record_type", "reason"]).to_pylist():
        bucket = merged.setdefault(row["record_type"], {})
        bucket[row["reason"]] = bucket.get(row["reason"], 0) + 1
    return {key: dict(sorted(value.items())) for key, value in sorted(merged.items())}


def calculate(
    data_dir: Path,
    params: ParameterSet | Path,
    year: int,
    engine: EngineName = "duckdb",
    spark_session: Any | None = None,
    freeze: bool = False,
    runs_dir: Path = DEFAULT_RUNS_DIR,
    on_step: StepCallback | None = None,
) -> CalculationRun:
    """Calculate one vintage; with `freeze`, store the run for verification."""
    params_path = params if isinstance(params, Path) else None
    parameter_set = load_parameter_set(params) if isinstance(params, Path) else params
    run, _ = _calculate(
        Path(data_dir),
        parameter_set,
        params_path,
        year,
        engine,
        spark_session,
        freeze,
        Path(runs_dir),
        on_step,
    )
    return run


def _calculate(
    data_dir: Path,
    parameter_set: ParameterSet,
    params_path: Path | None,
    year: int,
    engine: EngineName,
    spark_session: Any | None,
    freeze: bool,
    runs_dir: Path,
    on_step: StepCallback | None,
) -> tuple[CalculationRun, PipelineResult]:
    if freeze and parameter_set.placeholder:
        raise RunError(
            f"parameter set {parameter_set.set_id} v{parameter_set.version} is marked "
            "placeholder and cannot be used for a frozen run"
        )
    if not parameter_set.in_crediting_period(year):
        raise RunError(f"vintage {year} is outside the crediting period of the parameter set")
    version = code_version()
    with tempfile.TemporaryDirectory(prefix="article6-run-") as scratch:
        staging = Path(scratch) / "staging"
        detail = Path(scratch) / "detail"
        if on_step is not None:
            on_step("ingest")
        report = ingest_dataset(Path(data_dir), staging)
        result = run_pipeline(
            staging,
            parameter_set,
            year,
            engine=engine,
            spark_session=spark_session,
            detail_dir=detail,
            on_step=on_step,
        )
        figures, flags = summarise(result, parameter_set)
        run = CalculationRun(
            run_id=make_run_id(report.input_hash, parameter_set.hash(), year, version),
            figures=figures,
            input_hash=report.input_hash,
            params_hash=parameter_set.hash(),
            params_id=parameter_set.set_id,
            params_version=parameter_set.version,
            code_version=version,
            engine=result.engine,
            frozen=freeze,
            flags=flags,
            quarantine=_quarantine(result, report),
            rejected_days={
                row["reason"]: int(row["days"]) for row in result.rejected_days.to_pylist()
            },
            ingest=[asdict(source) for source in report.sources],
            sampling=result.sampling.to_pylist(),
        )
        if freeze:
            run = _freeze(run, result, parameter_set, params_path, detail, report, runs_dir)
    return run, result


def _freeze(
    run: CalculationRun,
    result: PipelineResult,
    params: ParameterSet,
    params_path: Path | None,
    detail: Path,
    report: IngestReport,
    runs_dir: Path,
) -> CalculationRun:
    run_dir = Path(runs_dir) / run.run_id
    if (run_dir / "run.json").exists():
        raise RunError(f"run {run.run_id} is already frozen in {run_dir}")
    run_dir.mkdir(parents=True, exist_ok=True)
    frozen = CalculationRun(**{**run.__dict__, "run_dir": run_dir})
    for name in DETAIL_TABLES:
        pq.write_table(getattr(result, name), run_dir / f"{name}.parquet")
    for name in ("daily.parquet", "quarantine.parquet"):
        source = detail / name
        if source.is_dir():
            shutil.copytree(source, run_dir / name)
        else:
            shutil.copyfile(source, run_dir / name)
    shutil.copyfile(
        report.staging_dir / "quarantine.parquet", run_dir / "ingest_quarantine.parquet"
    )
    (run_dir / "params.json").write_text(params.canonical_json(), encoding="utf-8")
    if params_path is not None:
        shutil.copyfile(params_path, run_dir / "params.toml")
    document = frozen.to_json()
    document.pop("run_dir")
    (run_dir / "run.json").write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    return frozen


def load_run(run_dir: Path) -> dict[str, Any]:
    """The stored JSON document of a frozen run."""
    path = Path(run_dir) / "run.json"
    if not path.is_file():
        raise RunError(f"{path}: no frozen run here")
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


@dataclass(frozen=True)
class Reproduction:
    """Outcome of rerunning a frozen run: differences beyond tolerance, if any."""

    run_id: str
    input_hash_matches: bool
    code_version_matches: bool
    differences: tuple[str, ...]

    @property
    def reproduced(self) -> bool:
        return self.input_hash_matches and not self.differences


def reproduce_run(
    run_dir: Path,
    data_dir: Path,
    engine: EngineName = "duckdb",
    spark_session: Any | None = None,
) -> Reproduction:
    """Recalculate a frozen run from its stored parameters and compare every figure."""
    run_dir = Path(run_dir)
    stored = load_run(run_dir)
    params_file = run_dir / "params.toml"
    if not params_file.is_file():
        raise RunError(f"{run_dir}: the frozen run has no params.toml to rerun with")
    params = load_parameter_set(params_file)
    if params.hash() != stored["params_hash"]:
        raise RunError(f"{params_file}: parameter hash differs from the frozen run")
    digest = input_hash(Path(data_dir))
    with tempfile.TemporaryDirectory(prefix="article6-rerun-") as scratch:
        rerun, result = _calculate(
            Path(data_dir),
            params,
            None,
            int(stored["year"]),
            engine,
            spark_session,
            False,
            Path(scratch),
            None,
        )
    differences = compare_documents(stored, rerun.to_json())
    for name in DETAIL_TABLES:
        frozen_table = pq.read_table(run_dir / f"{name}.parquet")
        differences.extend(compare_tables(name, frozen_table, getattr(result, name)))
    return Reproduction(
        run_id=str(stored["run_id"]),
        input_hash_matches=digest == stored["input_hash"],
        code_version_matches=rerun.code_version == stored["code_version"],
        differences=tuple(differences),
    )


FIGURE_KEYS = tuple(VintageFigures.__dataclass_fields__)


def compare_documents(stored: dict[str, Any], fresh: dict[str, Any]) -> list[str]:
    """Figures, flags and rejection counts that differ beyond the tolerance."""
    out = []
    compared = ("flags", "quarantine", "rejected_days", "sampling", "input_hash", "params_hash")
    for key in (*FIGURE_KEYS, *compared):
        if not values_match(stored.get(key), fresh.get(key)):
            out.append(f"{key}: frozen {stored.get(key)!r}, rerun {fresh.get(key)!r}")
    return out


def values_match(a: Any, b: Any) -> bool:
    """Equality with floats compared to 1e-9 (relative for large values)."""
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return math.isclose(float(a), float(b), rel_tol=TOLERANCE, abs_tol=TOLERANCE)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(values_match(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(values_match(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def compare_tables(name: str, left: pa.Table, right: pa.Table) -> list[str]:
    """Row-by-row comparison of two detail tables (same order) to 1e-9."""
    if left.column_names != right.column_names or left.num_rows != right.num_rows:
        return [f"{name}: shape differs ({left.num_rows} vs {right.num_rows} rows)"]
    out = []
    for index, (a, b) in enumerate(zip(left.to_pylist(), right.to_pylist(), strict=True)):
        if not values_match(a, b):
            out.append(f"{name} row {index + 1}: frozen {a}, rerun {b}")
    return out
