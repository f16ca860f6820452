"""Monitoring data of a period: CSV files streamed to disk, then validated by the MRV ingestion.

A developer (or their telematics system, with an API token) puts one file per
record type, streamed in chunks to a private folder with a size limit; the
header is checked at once against the record schema. Validation then runs the
MRV ingestion over the folder and reports, per file, rows read, accepted and
quarantined, the quarantine by reason, and the dataset's input hash for the
monitoring report; a file that cannot be read at all is named with its row.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import shutil
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from article6.api import views
from article6.api.auth import CurrentActor
from article6.api.deps import EngineDep, PageDep
from article6.api.problems import problem
from article6.api.schemas import (
    PROBLEMS,
    PROJECT_ID,
    CalculationIn,
    PageOut,
    SourceCountOut,
    UploadOut,
    ValidationOut,
    page_of,
)
from article6.domain.permissions import Actor, Command, Target, authorize
from article6.mrv.ingest import IngestError, ingest_dataset
from article6.mrv.methodology import MethodologyError
from article6.mrv.params import ParameterError
from article6.mrv.runs import RunError, calculate
from article6.mrv.schema import SCHEMAS

router = APIRouter(prefix="/api/v1/projects", tags=["monitoring data"], responses=PROBLEMS)

CHUNK_BYTES = 64 * 1024
MAX_HEADER_BYTES = 64 * 1024
DEFAULT_MAX_UPLOAD_BYTES = 512 * 1024 * 1024

ProjectPath = Annotated[str, Path(pattern=PROJECT_ID)]
PeriodPath = Annotated[int, Path(ge=1, le=1000)]
RecordTypePath = Annotated[str, Path(pattern=r"^[a-z_]{1,40}$", examples=["odometer_readings"])]


def upload_root(request: Request) -> FilePath:
    root = request.app.state.upload_dir
    assert isinstance(root, FilePath)
    return root


def max_upload_bytes(request: Request) -> int:
    configured = getattr(request.app.state, "max_upload_bytes", None)
    if isinstance(configured, int):
        return configured
    megabytes = os.environ.get("ARTICLE6_MAX_UPLOAD_MB")
    return int(megabytes) * 1024 * 1024 if megabytes else DEFAULT_MAX_UPLOAD_BYTES


def _authorize_upload(engine: Engine, actor: Actor, project_id: str) -> None:
    """Monitoring data belongs to the project's monitoring report: the developer's to give."""
    project = views.project(engine, project_id)
    if project is None:
        raise HTTPException(404, f"project {project_id} does not exist")
    target = Target(party=project["data"]["host_party"], organisation_id=project["developer"])
    authorize(actor, Command.SUBMIT_MONITORING_REPORT, target)


def _dataset(root: FilePath, project_id: str, period: int) -> FilePath:
    return root / project_id / f"period-{period}" / "data"


def _header_problems(record_type: str, first_line: bytes) -> list[str]:
    expected = SCHEMAS[record_type].column_names
    required = SCHEMAS[record_type].required_column_names
    try:
        text = first_line.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [f"{record_type}.csv, row 1: the header is not UTF-8 text"]
    header = next(csv.reader(io.StringIO(text)), [])
    problems = []
    missing = [name for name in required if name not in header]
    unknown = [name for name in header if name not in expected]
    if missing:
        problems.append(f"{record_type}.csv, row 1: missing columns {', '.join(missing)}")
    if unknown:
        problems.append(f"{record_type}.csv, row 1: unknown columns {', '.join(unknown)}")
    return problems


@router.put(
    "/{project_id}/periods/{period}/monitoring-data/{record_type}",
    response_model=UploadOut,
    status_code=201,
    summary="Upload one record type's CSV (request body streamed to disk)",
)
async def upload(
    project_id: ProjectPath,
    period: PeriodPath,
    record_type: RecordTypePath,
    request: Request,
    actor: CurrentActor,
    engine: EngineDep,
) -> UploadOut:
    if record_type not in SCHEMAS:
        known = ", ".join(SCHEMAS)
        raise HTTPException(404, f"unknown record type {record_type!r}; known: {known}")
    await run_in_threadpool(_authorize_upload, engine, actor, project_id)
    limit = max_upload_bytes(request)
    folder = _dataset(upload_root(request), project_id, period)
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{record_type}.csv.part"
    digest = hashlib.sha256()
    size = 0
    head = b""
    try:
        with partial.open("wb") as handle:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise HTTPException(413, f"{record_type}.csv is larger than {limit} bytes")
                if len(head) < MAX_HEADER_BYTES and b"\n" not in head:
                    head += chunk[:MAX_HEADER_BYTES]
                digest.update(chunk)
                handle.write(chunk)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if size == 0:
        partial.unlink(missing_ok=True)
        raise HTTPException(422, f"{record_type}.csv is empty")
    final = folder / f"{record_type}.csv"
    partial.replace(final)
    problems = _header_problems(record_type, head.split(b"\n", 1)[0].rstrip(b"\r"))
    return UploadOut(
        record_type=record_type,
        file=final.name,
        size_bytes=size,
        sha256=digest.hexdigest(),
        columns_ok=not problems,
        problems=problems,
    )


@router.get(
    "/{project_id}/periods/{period}/monitoring-data",
    response_model=PageOut[UploadOut],
    summary="The uploaded files of a period",
)
def list_uploads(
    project_id: ProjectPath,
    period: PeriodPath,
    request: Request,
    actor: CurrentActor,
    engine: EngineDep,
    page: PageDep,
) -> PageOut[UploadOut]:
    _authorize_upload(engine, actor, project_id)
    folder = _dataset(upload_root(request), project_id, period)
    files = sorted(folder.glob("*.csv")) if folder.is_dir() else []
    listed = []
    for path in files[page.offset : page.offset + page.limit + 1]:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(1024 * 1024):
                digest.update(chunk)
        with path.open("rb") as handle:
            first_line = handle.readline(MAX_HEADER_BYTES).rstrip(b"\r\n")
        problems = _header_problems(path.stem, first_line) if path.stem in SCHEMAS else []
        listed.append(
            UploadOut(
                record_type=path.stem,
                file=path.name,
                size_bytes=path.stat().st_size,
                sha256=digest.hexdigest(),
                columns_ok=not problems,
                problems=problems,
            )
        )
    return page_of(listed, page.limit, page.offset)


@router.post(
    "/{project_id}/periods/{period}/monitoring-data/validation",
    response_model=ValidationOut,
    summary="Validate the uploaded dataset with the MRV ingestion",
)
def validate(
    project_id: ProjectPath,
    period: PeriodPath,
    request: Request,
    actor: CurrentActor,
    engine: EngineDep,
) -> ValidationOut:
    _authorize_upload(engine, actor, project_id)
    folder = _dataset(upload_root(request), project_id, period)
    if not folder.is_dir() or not any(folder.glob("*.csv")):
        raise HTTPException(404, f"no monitoring data uploaded for period {period}")
    staging = folder.parent / "staging"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        report = ingest_dataset(folder, staging)
    except IngestError as error:
        # Name files as the uploader knows them, never by their place on this server.
        message = str(error).replace(str(folder), "the uploaded dataset")
        return ValidationOut(
            ok=False, input_hash=None, error=message, sources=[], quarantine_by_reason={}
        )
    sources: list[dict[str, Any]] = [source.__dict__ for source in report.sources]
    return ValidationOut(
        ok=True,
        input_hash=report.input_hash,
        error=None,
        sources=[SourceCountOut(**source) for source in sources],
        quarantine_by_reason=dict(report.quarantine_by_reason),
    )


@router.post(
    "/{project_id}/periods/{period}/monitoring-data/calculation",
    summary="Calculate a vintage from the uploaded dataset (a frozen, reproducible run)",
)
def calculate_vintage(
    project_id: ProjectPath,
    period: PeriodPath,
    body: CalculationIn,
    request: Request,
    actor: CurrentActor,
    engine: EngineDep,
) -> Any:
    """Baseline, project and leakage emissions and the reductions of one vintage; the run's
    id and input hash go into the monitoring report (`POST .../periods`)."""
    _authorize_upload(engine, actor, project_id)
    folder = _dataset(upload_root(request), project_id, period)
    if not folder.is_dir() or not any(folder.glob("*.csv")):
        raise HTTPException(404, f"no monitoring data uploaded for period {period}")
    params_path = folder.parent / "params.toml"
    params_path.write_text(body.params_toml, encoding="utf-8")
    try:
        run = calculate(
            folder,
            params_path,
            body.year,
            freeze=body.freeze,
            runs_dir=folder.parent / "runs",
        )
    except (IngestError, ParameterError, MethodologyError, RunError) as error:
        message = str(error).replace(str(folder.parent), "the uploaded dataset")
        return problem(422, "Calculation refused", message, code="calculation_refused")
    document = run.to_json()
    document.pop("run_dir", None)  # a place on this server, not for clients
    return document
