"""Finance: financing agreements' recovery status and charts, and the programme's portfolio."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from article6.api import views
from article6.api.auth import CurrentActor
from article6.api.deps import EngineDep, PageDep
from article6.api.schemas import ENTITY_ID, PageOut, page_of
from article6.services.finance_reports import delivery_curves_png, recovery_png
from article6.services.finance_status import agreement_report, portfolio

router = APIRouter(prefix="/api/v1/finance", tags=["finance"])

AgreementPath = Annotated[str, Path(pattern=ENTITY_ID, examples=["KOR-ISP-VW-2025"])]
AsOf = Annotated[date | None, Query(description="Default: today")]
WarningShare = Annotated[
    Decimal, Query(ge=0, le=1, description="Warn when delivery is behind plan by this share")
]
PNG: dict[int | str, dict[str, Any]] = {200: {"content": {"image/png": {}}}}


@router.get("/agreements", response_model=PageOut[str])
def list_agreements(_actor: CurrentActor, engine: EngineDep, page: PageDep) -> PageOut[str]:
    ids = views.agreement_ids(engine)[page.offset : page.offset + page.limit + 1]
    return page_of(ids, page.limit, page.offset)


def _report(
    engine: Any, agreement_id: str, as_of: date | None, through: int | None, warning: Decimal
) -> Any:
    return agreement_report(
        engine,
        agreement_id,
        as_of if as_of is not None else date.today(),
        through_vintage=through,
        warning_share=warning,
    )


@router.get("/agreements/{agreement_id}/status")
def status(
    agreement_id: AgreementPath,
    _actor: CurrentActor,
    engine: EngineDep,
    as_of: AsOf = None,
    through_vintage: Annotated[int | None, Query(ge=1990, le=2100)] = None,
    warning_share: WarningShare = Decimal("0.10"),
) -> Any:
    """Recovery status of one agreement: ledger per vintage, NPV, IRR, warning."""
    return _report(engine, agreement_id, as_of, through_vintage, warning_share).to_dict()


@router.get("/agreements/{agreement_id}/recovery.png", response_class=Response, responses=PNG)
def recovery_chart(
    agreement_id: AgreementPath, _actor: CurrentActor, engine: EngineDep, as_of: AsOf = None
) -> Response:
    report = _report(engine, agreement_id, as_of, None, Decimal("0.10"))
    return Response(recovery_png(report), media_type="image/png")


@router.get("/agreements/{agreement_id}/delivery.png", response_class=Response, responses=PNG)
def delivery_chart(
    agreement_id: AgreementPath, _actor: CurrentActor, engine: EngineDep, as_of: AsOf = None
) -> Response:
    report = _report(engine, agreement_id, as_of, None, Decimal("0.10"))
    return Response(delivery_curves_png(report, None), media_type="image/png")


@router.get("/portfolio")
def portfolio_report(
    _actor: CurrentActor,
    engine: EngineDep,
    as_of: AsOf = None,
    currency: Annotated[str, Query(pattern=r"^[A-Z]{3}$")] = "KRW",
    discount_rate: Annotated[Decimal | None, Query(ge=0, le=1)] = None,
) -> Any:
    """Totals across agreements by host Party, sector and status; NPV and IRR."""
    return portfolio(
        engine, as_of if as_of is not None else date.today(), currency, discount_rate
    ).to_dict()
