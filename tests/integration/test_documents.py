"""The LoA and the issuance certificate: PDFs whose text carries the key facts."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import Engine

from article6.domain.errors import ActionRefused
from article6.services import documents
from article6.services.reference_workflow import (
    AUTHORIZATION_ID,
    PROJECT_ID,
    Cast,
    load_reference_workflow,
)
from article6.services.setup import record_authorization


def text_of(path: Path) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)


@pytest.fixture
def cast(engine: Engine, key_dir: Path) -> Cast:
    return load_reference_workflow(engine, key_dir)


def test_loa_names_the_parties_quantities_and_hash(
    engine: Engine, cast: Cast, tmp_path: Path
) -> None:
    text = text_of(documents.render_loa(engine, AUTHORIZATION_ID, tmp_path / "loa.pdf"))
    assert "Letter of Authorization" in text
    assert f"{AUTHORIZATION_ID}, version 1" in text
    assert "400,000 t CO2e" in text
    assert "Kingdom of Cambodia (KHM)" in text and "Republic of Korea (KOR)" in text
    assert "대한민국" in text
    assert "ក" in text  # Khmer script is embedded and extractable
    assert "Occurred: from 2025 to 2034; Use: from 2025 to 2035" in text
    assert "VeryWords Co., Ltd. (VERYWORDS)" in text
    assert "18/07/2025" in text
    version = documents.load_authorization(engine, AUTHORIZATION_ID, 1)
    assert documents.authorization_hash(version) in text.replace("\n", "")


def test_amendment_prints_its_own_version_and_hash(
    engine: Engine, cast: Cast, tmp_path: Path
) -> None:
    first = text_of(documents.render_loa(engine, AUTHORIZATION_ID, tmp_path / "v1.pdf", version=1))
    v1 = documents.load_authorization(engine, AUTHORIZATION_ID, 1)
    amended = replace(v1, version=2, effective_from=date(2026, 6, 1), use_to=2036)
    record_authorization(engine, actor=cast["khm-chair"], version=amended)
    second = text_of(documents.render_loa(engine, AUTHORIZATION_ID, tmp_path / "v2.pdf"))
    assert "version 2" in second and "Use: from 2025 to 2036" in second
    assert documents.authorization_hash(amended) in second.replace("\n", "")
    assert documents.authorization_hash(amended) not in first.replace("\n", "")


def test_issuance_certificate(engine: Engine, cast: Cast, tmp_path: Path) -> None:
    text = text_of(documents.render_issuance_certificate(engine, PROJECT_ID, 1, tmp_path / "c.pdf"))
    assert "Issuance certificate" in text
    assert "Vintage 2025 verified: 68,000 t CO2e" in text
    assert "host: 6,800 t" in text and "acquirer: 61,200 t" in text
    assert "CA0001-KHM01-KHM-6801-2025 to CA0001-KHM01-KHM-68000-2025" in text
    with pytest.raises(ActionRefused):
        documents.render_issuance_certificate(engine, PROJECT_ID, 2, tmp_path / "none.pdf")
