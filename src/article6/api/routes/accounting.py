"""Accounting and reporting: NDCs, inventories, the emissions balance, frozen holdings,
the AEF (with its consistency checks) and the regular information."""

from __future__ import annotations

import tempfile
import zipfile
from datetime import date
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import FileResponse, Response
from starlette.background import BackgroundTask

from article6.api.auth import CurrentActor
from article6.api.deps import EngineDep, IdempotencyKey
from article6.api.idempotency import call_service
from article6.api.problems import problem
from article6.api.schemas import (
    PARTY_CODE,
    PROBLEMS,
    AefIn,
    AefSummaryOut,
    CheckFailureOut,
    ChecksOut,
    CorrectionIn,
    FreezeIn,
    NdcIn,
    ReceiptOut,
    receipt_out,
)
from article6.domain.accounting import Attribution, NdcError
from article6.domain.inventory import InventoryRejected
from article6.services import accounting, regular_information, reporting
from article6.services.report_files import write_aef, write_balance_chart

router = APIRouter(prefix="/api/v1", tags=["accounting and reporting"], responses=PROBLEMS)

PartyPath = Annotated[str, Path(pattern=PARTY_CODE, examples=["KOR"])]
YearPath = Annotated[int, Path(ge=1990, le=2100)]
MAX_INVENTORY_BYTES = 20 * 1024 * 1024
CHUNK_BYTES = 64 * 1024


@router.get("/accounting/{party}/balance")
def balance(
    party: PartyPath,
    _actor: CurrentActor,
    engine: EngineDep,
    year: Annotated[int, Query(ge=1990, le=2100)],
    attribution: Attribution | None = None,
) -> dict[str, Any]:
    """E, FT, U and the emissions balance of the NDC period covering the year."""
    statement: dict[str, Any] = accounting.balance_statement(
        engine, party, year, attribution
    ).to_dict()
    return statement


@router.post("/accounting/{party}/ndc", response_model=ReceiptOut, status_code=201)
def record_ndc(
    party: PartyPath, body: NdcIn, actor: CurrentActor, engine: EngineDep, key: IdempotencyKey
) -> Any:
    with tempfile.TemporaryDirectory(prefix="article6-ndc-") as folder:
        path = FilePath(folder) / f"{party}.toml"
        path.write_text(body.toml, encoding="utf-8")
        try:
            ndc = accounting.load_ndc_file(path)
        except NdcError as error:
            message = str(error).replace(str(path), "the NDC")
            return problem(422, "Invalid NDC", message, code="invalid_ndc", field="toml")
    if ndc.party != party:
        return problem(
            422,
            "Invalid NDC",
            f"the NDC is {ndc.party}'s, not {party}'s",
            code="invalid_ndc",
            field="party",
        )
    return receipt_out(
        call_service(accounting.record_ndc, engine, actor=actor, idempotency_key=key, ndc=ndc)
    )


@router.put(
    "/accounting/{party}/inventory",
    response_model=ReceiptOut,
    summary="Import inventory emissions (CSV or XLSX request body, streamed, 20 MB at most)",
)
async def import_inventory(
    party: PartyPath,
    request: Request,
    actor: CurrentActor,
    engine: EngineDep,
    key: IdempotencyKey,
    file_format: Annotated[Literal["csv", "xlsx"], Query(alias="format")] = "csv",
) -> Any:
    with tempfile.TemporaryDirectory(prefix="article6-inventory-") as folder:
        path = FilePath(folder) / f"inventory-{party}.{file_format}"
        size = 0
        with path.open("wb") as handle:
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_INVENTORY_BYTES:
                    raise HTTPException(413, f"inventory larger than {MAX_INVENTORY_BYTES} bytes")
                handle.write(chunk)
        if size == 0:
            raise HTTPException(422, "the inventory file is empty")
        try:
            records = accounting.read_inventory_file(path)
        except InventoryRejected as rejected:
            issues = [str(issue) for issue in rejected.issues]
            return problem(
                422,
                "Inventory rejected",
                "; ".join(issues)[:2000],
                code="inventory_rejected",
                errors=[{"field": "file", "message": issue} for issue in issues[:500]],
            )
    return receipt_out(
        call_service(
            accounting.import_inventory,
            engine,
            actor=actor,
            idempotency_key=key,
            party=party,
            records=records,
        )
    )


@router.post("/accounting/{party}/periods/{period_end}/finalisation", response_model=ReceiptOut)
def finalise_balance(
    party: PartyPath,
    period_end: YearPath,
    actor: CurrentActor,
    engine: EngineDep,
    key: IdempotencyKey,
) -> ReceiptOut:
    return receipt_out(
        call_service(
            accounting.finalise_balance,
            engine,
            actor=actor,
            idempotency_key=key,
            party=party,
            period_end=period_end,
        )
    )


@router.post("/accounting/{party}/periods/{period_end}/corrections", response_model=ReceiptOut)
def correct_balance(
    party: PartyPath,
    period_end: YearPath,
    body: CorrectionIn,
    actor: CurrentActor,
    engine: EngineDep,
    key: IdempotencyKey,
) -> ReceiptOut:
    return receipt_out(
        call_service(
            accounting.correct_balance,
            engine,
            actor=actor,
            idempotency_key=key,
            party=party,
            period_end=period_end,
            reason=body.reason,
        )
    )


@router.post("/reports/{party}/{year}/frozen-holdings", response_model=ReceiptOut)
def freeze_holdings(
    party: PartyPath,
    year: YearPath,
    body: FreezeIn,
    actor: CurrentActor,
    engine: EngineDep,
    key: IdempotencyKey,
) -> ReceiptOut:
    return receipt_out(
        call_service(
            reporting.freeze_holdings,
            engine,
            actor=actor,
            idempotency_key=key,
            party=party,
            year=year,
            on=body.on if body.on is not None else date.today(),
        )
    )


@router.post("/reports/{party}/{year}/aef", response_model=AefSummaryOut)
def generate_aef(
    party: PartyPath,
    year: YearPath,
    body: AefIn,
    actor: CurrentActor,
    engine: EngineDep,
    key: IdempotencyKey,
) -> AefSummaryOut:
    """Generate the AEF Tables 1-5 and record its version (a new one only if content changed)."""
    submitted = body.submitted_on if body.submitted_on is not None else date.today()
    report, receipt = reporting.generate_aef(
        engine, actor=actor, party=party, year=year, submitted_on=submitted, idempotency_key=key
    )
    failures = reporting.check_report(engine, party, year, submitted)
    return AefSummaryOut(
        party=party,
        year=year,
        version=str(report.version),
        new_version=bool(receipt.details.get("new_version", False)),
        rows={name: len(rows) for name, rows in report.tables().items()},
        consistency_failures=len(failures),
        seq=receipt.seq,
    )


@router.post(
    "/reports/{party}/{year}/aef/file",
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
    summary="Generate the AEF and download it (xlsx, json, or csv tables in a zip)",
)
def aef_file(
    party: PartyPath,
    year: YearPath,
    body: AefIn,
    actor: CurrentActor,
    engine: EngineDep,
    file_format: Annotated[Literal["xlsx", "json", "csv"], Query(alias="format")] = "xlsx",
) -> FileResponse:
    submitted = body.submitted_on if body.submitted_on is not None else date.today()
    report, _receipt = reporting.generate_aef(
        engine, actor=actor, party=party, year=year, submitted_on=submitted
    )
    folder = tempfile.TemporaryDirectory(prefix="article6-aef-")
    stem = f"AEF_{party}_{year}_v{report.version}"
    try:
        extension = "xlsx" if file_format == "xlsx" else "json"
        paths = write_aef(report, FilePath(folder.name) / f"{stem}.{extension}", file_format)
        if file_format == "csv":
            bundle = FilePath(folder.name) / f"{stem}.zip"
            with zipfile.ZipFile(bundle, "w", zipfile.ZIP_DEFLATED) as archive:
                for path in paths:
                    archive.write(path, path.name)
            paths = [bundle]
    except BaseException:
        folder.cleanup()
        raise
    media = {
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "json": "application/json",
        "csv": "application/zip",
    }[file_format]
    return FileResponse(
        paths[0],
        media_type=media,
        filename=paths[0].name,
        background=BackgroundTask(folder.cleanup),
    )


@router.get("/reports/{party}/{year}/checks", response_model=ChecksOut)
def check_report(
    party: PartyPath,
    year: YearPath,
    _actor: CurrentActor,
    engine: EngineDep,
    submitted_on: date | None = None,
) -> ChecksOut:
    """The pre-submission consistency checks of the AEF."""
    failures = reporting.check_report(
        engine, party, year, submitted_on if submitted_on is not None else date.today()
    )
    return ChecksOut(
        party=party,
        year=year,
        ok=not failures,
        failures=[CheckFailureOut(**failure.to_dict()) for failure in failures],
    )


@router.get("/reports/{party}/{year}/regular-information")
def regular(party: PartyPath, year: YearPath, _actor: CurrentActor, engine: EngineDep) -> Any:
    """Regular information: balance per year, cumulative flows and holdings."""
    return regular_information.regular_information(engine, party, year)


@router.get(
    "/reports/{party}/{year}/regular-information/chart.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
def regular_chart(
    party: PartyPath, year: YearPath, _actor: CurrentActor, engine: EngineDep
) -> Response:
    """The emissions balance against the indicative trajectory and the target."""
    info = regular_information.regular_information(engine, party, year)
    with tempfile.TemporaryDirectory(prefix="article6-chart-") as folder:
        path = write_balance_chart(info, FilePath(folder) / f"balance_{party}_{year}.png")
        return Response(path.read_bytes(), media_type="image/png")
