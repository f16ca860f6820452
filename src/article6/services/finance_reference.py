"""The reference financing agreement, loaded through the finance services.

Korea's investment support programme (organisation `KOR-ISP`, fund manager
`isp-manager`) finances VeryWords' e-motorcycles in Cambodia and recovers
400,000 t at 14,864 KRW/t = 5,945,600,000 KRW into `KOR01-HOLDING`. The agreement,
its schedule and the disbursements made so far come from
`data/finance/reference_agreement.toml`. When the registry reference flows are
loaded too, the units of vintage 2025 first transferred to Korea are recorded
as the first recovery delivery, referenced by their journal event.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from article6.domain import finance_codec as fc
from article6.domain.finance import FinancingAgreement
from article6.domain.permissions import Actor, Role
from article6.services import finance
from article6.services.finance_status import agreement_report
from article6.services.reference_case import KHM_REGISTRY

REFERENCE_FILE = (
    Path(__file__).resolve().parents[3] / "data" / "finance" / "reference_agreement.toml"
)
REFERENCE_AGREEMENT_ID = "KOR-ISP-2025-001"
FUND_MANAGER = Actor("isp-manager", "KOR-ISP", "KOR", frozenset({Role.FINANCIER}))
STATUS_DATE = date(2026, 6, 30)  # after the reference flows of spring 2026


@dataclass(frozen=True)
class ReferenceFile:
    agreement: FinancingAgreement
    disbursements: list[dict[str, Any]]


def read_reference_file(path: Path = REFERENCE_FILE) -> ReferenceFile:
    with path.open("rb") as handle:
        raw = tomllib.load(handle)
    agreement = fc.agreement_from_dict(raw["agreement"])
    return ReferenceFile(agreement, list(raw.get("disbursements", [])))


def load_reference_agreement(
    engine: Engine,
    *,
    path: Path = REFERENCE_FILE,
    record_deliveries: bool = True,
) -> FinancingAgreement:
    """Record the reference agreement and its disbursements (idempotent keys).

    Needs the reference set-up (the delivery account `KOR01-HOLDING`). With
    `record_deliveries`, units of CA0001 already in `KOR01-HOLDING` (from the
    reference flows or the workflow's allocated issuance) and not yet recorded
    are recorded as recovery deliveries. Leave it off when the issuance
    allocation records deliveries itself and the agreement is loaded first.
    """
    reference = read_reference_file(path)
    agreement = reference.agreement
    finance.record_agreement(
        engine,
        actor=FUND_MANAGER,
        agreement=agreement,
        idempotency_key=f"reference-{agreement.agreement_id}-v1",
    )
    for raw in reference.disbursements:
        disbursement = fc.disbursement_from_dict({**raw, "agreement_id": agreement.agreement_id})
        finance.record_disbursement(
            engine,
            actor=FUND_MANAGER,
            disbursement=disbursement,
            idempotency_key=f"reference-{disbursement.disbursement_id}",
        )
    if record_deliveries:
        finance.recover_received_units(
            engine, actor=KHM_REGISTRY, agreement_id=agreement.agreement_id
        )
    return agreement


def reference_status_lines(engine: Engine, as_of: date = STATUS_DATE) -> list[str]:
    """The reference agreement's status as printable lines (for the demo)."""
    return agreement_report(engine, REFERENCE_AGREEMENT_ID, as_of).lines()
