"""Monitoring data uploaded with a period: stored, then checked by the MRV ingest.

Files stream to a temporary folder in chunks under a size limit; each must be
named after its record type (`vehicles.csv`, `odometer_readings.parquet` …).
The ingest reports, per file, rows read, accepted and quarantined, and the
quarantine reasons; a file that cannot be read at all is refused with the
file, row and column named.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from article6.domain.errors import ActionRefused, RejectionCode
from article6.mrv.ingest import IngestError, IngestReport, ingest_dataset
from article6.mrv.schema import SCHEMAS

MAX_FILE_BYTES = 200 * 1024 * 1024
MAX_FILES = 40
CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class UploadCheck:
    """What the ingest made of an upload: the report, or the reason it was refused."""

    report: IngestReport | None
    refusal: str | None

    @property
    def accepted(self) -> bool:
        return self.report is not None


def _target_name(upload: UploadFile) -> str:
    name = Path(upload.filename or "").name
    stem, _, suffix = name.partition(".")
    if stem not in SCHEMAS or suffix not in ("csv", "parquet"):
        known = ", ".join(SCHEMAS)
        raise ActionRefused(
            RejectionCode.INVALID_IDENTIFIER,
            f"data file {name!r}: name it after its record type ({known}) with .csv or .parquet",
        )
    return name


async def check_upload(files: list[UploadFile]) -> UploadCheck:
    """Store the files and ingest them; refusals name the file (and row and column)."""
    if len(files) > MAX_FILES:
        raise ActionRefused(RejectionCode.INVALID_QUANTITY, f"at most {MAX_FILES} data files")
    with tempfile.TemporaryDirectory(prefix="article6-upload-") as folder:
        data_dir = Path(folder) / "data"
        data_dir.mkdir()
        for upload in files:
            target = data_dir / _target_name(upload)
            written = 0
            with target.open("wb") as handle:
                while chunk := await upload.read(CHUNK_BYTES):
                    written += len(chunk)
                    if written > MAX_FILE_BYTES:
                        raise ActionRefused(
                            RejectionCode.INVALID_QUANTITY,
                            f"data file {target.name}: larger than {MAX_FILE_BYTES // 2**20} MB",
                        )
                    handle.write(chunk)
        try:
            report = await run_in_threadpool(ingest_dataset, data_dir, Path(folder) / "staging")
        except IngestError as error:
            return UploadCheck(None, str(error))
    return UploadCheck(report, None)
