"""Finance: financing agreements, their amendments, disbursements, deliveries and
recovery status with charts, exchange rates, and the programme's portfolio."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.responses import Response

from article6.api import views
from article6.api.auth import CurrentActor
from article6.api.deps import EngineDep, IdempotencyKey, PageDep
from article6.api.idempotency import call_service
from article6.api.schemas import (
    ENTITY_ID,
    PROBLEMS,
    AgreementIn,
    DeliveryIn,
    DisbursementIn,
    ExchangeRateIn,
    PageOut,
    ReceiptOut,
    page_of,
    receipt_out,
)
from article6.domain import finance_codec as fc
from article6.services import finance
from article6.services.finance_reports import delivery_curves_png, recovery_png
from article6.services.finance_status import agreement_report, portfolio

router = APIRouter(prefix="/api/v1/finance", tags=["finance"], responses=PROBLEMS)

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


def _agreement(body: AgreementIn) -> Any:
    return fc.agreement_from_dict(body.model_dump(mode="json"))


@router.post("/agreements", response_model=ReceiptOut, status_code=201)
def record_agreement(
    body: AgreementIn, actor: CurrentActor, engine: EngineDep, key: IdempotencyKey
) -> ReceiptOut:
    return receipt_out(
        call_service(
            finance.record_agreement,
            engine,
            actor=actor,
            idempotency_key=key,
            agreement=_agreement(body),
        )
    )


@router.post("/agreements/{agreement_id}/amendments", response_model=ReceiptOut)
def amend_agreement(
    agreement_id: AgreementPath,
    body: AgreementIn,
    actor: CurrentActor,
    engine: EngineDep,
    key: IdempotencyKey,
) -> ReceiptOut:
    if body.agreement_id != agreement_id:
        raise HTTPException(422, "agreement_id in the body differs from the one in the path")
    return receipt_out(
        call_service(
            finance.amend_agreement,
            engine,
            actor=actor,
            idempotency_key=key,
            agreement=_agreement(body),
        )
    )


@router.post("/agreements/{agreement_id}/disbursements", response_model=ReceiptOut)
def record_disbursement(
    agreement_id: AgreementPath,
    body: DisbursementIn,
    actor: CurrentActor,
    engine: EngineDep,
    key: IdempotencyKey,
) -> ReceiptOut:
    disbursement = fc.disbursement_from_dict(
        {**body.model_dump(mode="json"), "agreement_id": agreement_id}
    )
    return receipt_out(
        call_service(
            finance.record_disbursement,
            engine,
            actor=actor,
            idempotency_key=key,
            disbursement=disbursement,
        )
    )


@router.post("/agreements/{agreement_id}/deliveries", response_model=ReceiptOut)
def record_delivery(
    agreement_id: AgreementPath,
    body: DeliveryIn,
    actor: CurrentActor,
    engine: EngineDep,
    key: IdempotencyKey,
) -> ReceiptOut:
    return receipt_out(
        call_service(
            finance.record_delivery,
            engine,
            actor=actor,
            idempotency_key=key,
            agreement_id=agreement_id,
            vintage=body.vintage,
            quantity_t=body.quantity_t,
            delivery_date=body.delivery_date,
            reference=body.reference,
        )
    )


@router.post("/agreements/{agreement_id}/recovery", response_model=ReceiptOut)
def recover_received_units(
    agreement_id: AgreementPath, actor: CurrentActor, engine: EngineDep, key: IdempotencyKey
) -> ReceiptOut:
    """Record as recovery the units that reached the delivery account but were not recorded."""
    return receipt_out(
        call_service(
            finance.recover_received_units,
            engine,
            actor=actor,
            idempotency_key=key,
            agreement_id=agreement_id,
        )
    )


@router.post("/exchange-rates", response_model=ReceiptOut, status_code=201)
def record_exchange_rate(
    body: ExchangeRateIn, actor: CurrentActor, engine: EngineDep, key: IdempotencyKey
) -> ReceiptOut:
    rate = fc.rate_from_dict(body.model_dump(mode="json"))
    return receipt_out(
        call_service(
            finance.record_exchange_rate, engine, actor=actor, idempotency_key=key, rate=rate
        )
    )
