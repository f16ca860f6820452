"""Request and response bodies of the REST API, apart from the domain records.

Responses are built from service results and read models field by field, so a
change inside the domain never leaks into the published contract unnoticed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, Generic, Literal, TypeVar

import orjson
from fastapi import Response
from pydantic import BaseModel, Field

from article6.domain.model import AccountKind, MitigationType, Purpose
from article6.domain.permissions import Actor, Role
from article6.domain.projects import Verdict
from article6.services.commands import Receipt

T = TypeVar("T")


class ActorOut(BaseModel):
    user_id: str
    organisation_id: str
    party: str | None
    roles: list[str]


def actor_out(actor: Actor) -> ActorOut:
    return ActorOut(
        user_id=actor.user_id,
        organisation_id=actor.organisation_id,
        party=actor.party,
        roles=sorted(role.value for role in actor.roles),
    )


class ReceiptOut(BaseModel):
    """What a command did: its journal position and its own details."""

    command: str
    seq: int = Field(description="Journal sequence number reached by the command")
    hash: str = Field(description="Hash of the journal head after the command")
    details: dict[str, Any]
    replayed: bool = Field(description="True when an Idempotency-Key replay answered")


def receipt_out(receipt: Receipt) -> ReceiptOut:
    return ReceiptOut(**receipt.to_dict())


class PageOut(BaseModel, Generic[T]):
    """One page of a list: `next_offset` is null on the last page."""

    items: list[T]
    limit: int
    offset: int
    next_offset: int | None


def page_of(rows: list[T], limit: int, offset: int) -> PageOut[T]:
    """A page from up to limit + 1 fetched rows (one extra tells whether more follow)."""
    more = len(rows) > limit
    return PageOut[T](
        items=rows[:limit],
        limit=limit,
        offset=offset,
        next_offset=offset + limit if more else None,
    )


def json_page(rows: Sequence[Any], limit: int, offset: int) -> Response:
    """`page_of` serialised straight from read-model dataclasses, for the busiest lists.

    Validating each row into a response model and serialising it again costs
    more than reading the rows; the route still declares its `PageOut` model,
    so the published contract is the same (the API tests hold answers to it).
    """
    more = len(rows) > limit
    body = {
        "items": rows[:limit],
        "limit": limit,
        "offset": offset,
        "next_offset": offset + limit if more else None,
    }
    return Response(orjson.dumps(body), media_type="application/json")


# Identifier shapes, checked again by the domain; here they bound what a request may carry.
ACCOUNT_ID = r"^[A-Z]{3}\d{2}-[A-Z0-9_-]{1,40}$"
REGISTRY_ID = r"^[A-Z]{3}\d{2}$"
APPROACH_ID = r"^CA\d{4}$"
PARTY_CODE = r"^[A-Z]{3}$"
ENTITY_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
MAX_QUANTITY_T = 10**12
MAX_TEXT = 2000


class SelectionIn(BaseModel):
    """Which held units an action takes."""

    approach_id: str = Field(pattern=APPROACH_ID, examples=["CA0001"])
    vintage: int = Field(ge=1990, le=2100, examples=[2025])
    quantity_t: int = Field(ge=1, le=MAX_QUANTITY_T, examples=[1000])
    first_serial: int | None = Field(
        None, ge=1, le=10**15, description="Take exactly the range starting at this serial"
    )


class IssueIn(BaseModel):
    approach_id: str = Field(pattern=APPROACH_ID, examples=["CA0001"])
    registry_id: str = Field(pattern=REGISTRY_ID, examples=["KHM01"])
    vintage: int = Field(ge=1990, le=2100)
    quantity_t: int = Field(ge=1, le=MAX_QUANTITY_T)
    authorization_id: str | None = Field(None, min_length=1, max_length=64)
    to_account: str | None = Field(None, pattern=ACCOUNT_ID)
    action_date: date | None = Field(None, description="Default: today")


class FirstTransferIn(BaseModel):
    from_account: str = Field(pattern=ACCOUNT_ID, examples=["KHM01-PENDING"])
    to_account: str = Field(pattern=ACCOUNT_ID, examples=["KOR01-HOLDING"])
    selection: SelectionIn
    authorization_id: str = Field(min_length=1, max_length=64)
    purpose: Purpose = Purpose.NDC
    entity: str | None = Field(None, pattern=ENTITY_ID)
    action_date: date | None = None


class TransferIn(BaseModel):
    from_account: str = Field(pattern=ACCOUNT_ID, examples=["KOR01-HOLDING"])
    to_account: str = Field(pattern=ACCOUNT_ID, examples=["KHM01-HOLDING"])
    selection: SelectionIn
    action_date: date | None = None


class UseIn(BaseModel):
    from_account: str = Field(pattern=ACCOUNT_ID, examples=["KOR01-HOLDING"])
    selection: SelectionIn
    purpose: Purpose = Purpose.NDC
    use_year: int | None = Field(None, ge=1990, le=2100, description="Year of NDC use")
    entity: str | None = Field(None, pattern=ENTITY_ID)
    action_date: date | None = None


class CancelIn(BaseModel):
    from_account: str = Field(pattern=ACCOUNT_ID, examples=["KOR01-HOLDING"])
    selection: SelectionIn
    kind: Literal["voluntary", "omge", "other"] = "voluntary"
    reason: str = Field("", max_length=MAX_TEXT)
    action_date: date | None = None


class HoldingOut(BaseModel):
    registry_id: str
    account_id: str
    block_id: int
    first_id: str = Field(description="ITMO unique identifier of the first unit")
    last_id: str = Field(description="ITMO unique identifier of the last unit")
    quantity_t: int
    vintage: int
    state: str
    first_transferred: bool
    authorization: str | None
    use_year: int | None


class BlockOut(BaseModel):
    block_id: int
    parent_id: int | None
    issuance_id: int
    account_id: str
    first_serial: int
    last_serial: int
    first_id: str
    last_id: str
    quantity_t: int
    approach_id: str
    vintage: int
    state: str
    first_transferred: bool
    authorization_id: str | None
    authorization_version: int | None
    purpose: str | None
    use_year: int | None


class LineageOut(BaseModel):
    block: BlockOut
    ancestors: list[BlockOut] = Field(description="Parent first, back to the issued block")
    descendants: list[BlockOut] = Field(description="Every block split from this one")


class AccountOut(BaseModel):
    account_id: str
    registry_id: str
    kind: str
    holder: str
    name: str
    held_t: int = Field(description="Units on the account, all approaches and vintages")


class BalanceOut(BaseModel):
    approach_id: str
    vintage: int
    quantity_t: int


class AccountDetailOut(BaseModel):
    account_id: str
    registry_id: str
    kind: str
    holder: str
    name: str
    balances: list[BalanceOut]


class PartyOut(BaseModel):
    code: str
    name: str


class RegistryOut(BaseModel):
    registry_id: str
    party: str
    name: str
    public_key_hex: str


class EntityOut(BaseModel):
    entity_id: str
    name: str
    country: str
    identification_number: str


class ApproachOut(BaseModel):
    approach_id: str
    host_party: str
    data: dict[str, Any]


class AuthorizationOut(BaseModel):
    authorization_id: str
    version: int
    approach_id: str
    effective_from: str
    revoked: bool
    data: dict[str, Any]
    seq: int
    used_t: dict[str, int] = Field(description="Units used so far per purpose")


class JournalEventOut(BaseModel):
    seq: int
    command: str
    registry_id: str | None
    actor: str
    recorded_at: str
    body: dict[str, Any]
    prev_hash: str
    hash: str


class JournalPageOut(BaseModel):
    items: list[JournalEventOut]
    limit: int
    next_cursor: int | None = Field(description="Pass as `cursor` for the next page")


class VerifyOut(BaseModel):
    ok: bool
    report: dict[str, Any]


class CheckpointOut(BaseModel):
    checkpoint: dict[str, Any] = Field(description="Signed by each registry's key")


class CheckpointIn(BaseModel):
    """A checkpoint written by `POST /api/v1/registry/checkpoints` (or the CLI)."""

    journal_length: int = Field(ge=0, le=2**62)
    head_hash: str = Field(max_length=64)
    holdings_digest: str = Field(max_length=64)
    created_at: str = Field(max_length=40)
    signatures: dict[str, str] = Field(max_length=100)


class PartyIn(BaseModel):
    code: str = Field(pattern=PARTY_CODE, examples=["KHM"])
    name: str = Field(min_length=1, max_length=200)


class RegistryIn(BaseModel):
    registry_id: str = Field(pattern=REGISTRY_ID, examples=["KHM01"])
    name: str = Field(min_length=1, max_length=200)
    standard_accounts: bool = Field(
        True, description="Open pending, holding and retirement accounts"
    )


class EntityIn(BaseModel):
    entity_id: str = Field(pattern=ENTITY_ID, examples=["VERYWORDS"])
    name: str = Field(min_length=1, max_length=200)
    country: str = Field(pattern=PARTY_CODE)
    identification_number: str = Field(min_length=1, max_length=100)


class AccountIn(BaseModel):
    account_id: str = Field(pattern=ACCOUNT_ID, examples=["KOR01-KEPCO"])
    registry_id: str = Field(pattern=REGISTRY_ID)
    kind: AccountKind
    holder: str = Field(pattern=ENTITY_ID, description="A Party code or an entity ID")
    name: str = Field(min_length=1, max_length=200)


class ApproachIn(BaseModel):
    approach_id: str = Field(pattern=APPROACH_ID)
    name: str = Field(min_length=1, max_length=200)
    host_party: str = Field(pattern=PARTY_CODE)
    participating_parties: list[str] = Field(min_length=1, max_length=50)
    sectors: list[str] = Field(["Transportation"], min_length=1, max_length=20)
    activity_types: list[str] = Field(["Transport"], min_length=1, max_length=20)
    mitigation_type: MitigationType = MitigationType.EMISSION_REDUCTIONS


class WorkingGroupIn(BaseModel):
    organisations: list[str] = Field(min_length=1, max_length=50)


class OrganisationIn(BaseModel):
    organisation_id: str = Field(pattern=ENTITY_ID, examples=["KEPCO"])
    name: str = Field(min_length=1, max_length=200)
    party: str | None = Field(None, pattern=PARTY_CODE)
    kind: str = Field(min_length=1, max_length=40, examples=["ministry"])


class OrganisationOut(BaseModel):
    organisation_id: str
    name: str
    party: str | None
    kind: str


class UserIn(BaseModel):
    user_id: str = Field(pattern=ENTITY_ID, examples=["kepco-officer"])
    organisation_id: str = Field(pattern=ENTITY_ID)
    name: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1024)
    roles: list[Role] = Field(min_length=1, max_length=len(Role))
    locale: Literal["en", "ko", "km"] = "en"


class UserOut(BaseModel):
    user_id: str
    organisation_id: str
    name: str
    roles: list[str]
    locale: str
    active: bool


PROJECT_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class AllocationIn(BaseModel):
    """Allocation rules of each issuance; shares as decimal or fraction text, e.g. "1/10"."""

    host_share: str = Field(pattern=r"^\d{1,6}(/\d{1,6}|\.\d{1,6})?$", examples=["1/10"])
    acquirer_cap_t: int = Field(ge=0, le=MAX_QUANTITY_T)
    acquirer_share: str | None = Field(None, pattern=r"^\d{1,6}(/\d{1,6}|\.\d{1,6})?$")
    remainder_to: Literal["developer", "host"] = "developer"
    share_of_proceeds: str = Field("0", pattern=r"^\d{1,6}(/\d{1,6}|\.\d{1,6})?$")
    omge_share: str = Field("0", pattern=r"^\d{1,6}(/\d{1,6}|\.\d{1,6})?$")


class ProposalIn(BaseModel):
    title: str = Field(min_length=1, max_length=300)
    description: str = Field(min_length=1, max_length=MAX_TEXT * 5)
    methodology: str = Field(min_length=1, max_length=100, examples=["AMS-III.C"])
    methodology_version: str = Field(min_length=1, max_length=20, examples=["16.0"])
    host_party: str = Field(pattern=PARTY_CODE, examples=["KHM"])
    acquiring_party: str = Field(pattern=PARTY_CODE, examples=["KOR"])
    ex_ante_t: dict[int, int] = Field(
        min_length=1, max_length=100, description="Expected reductions per vintage"
    )
    allocation: AllocationIn
    use_from: int = Field(ge=1990, le=2100)
    use_to: int = Field(ge=1990, le=2100)
    documents: list[str] = Field([], max_length=100)
    sectors: list[str] = Field(["Transportation"], min_length=1, max_length=20)


class ProjectIn(BaseModel):
    project_id: str = Field(pattern=PROJECT_ID, examples=["VW-EMOTO-KHM"])
    approach_id: str = Field(pattern=APPROACH_ID)
    proposal: ProposalIn


class SubmitIn(BaseModel):
    proposal: ProposalIn | None = Field(None, description="A revised proposal, if any")
    reason: str = Field("", max_length=MAX_TEXT)


class ReasonIn(BaseModel):
    reason: str = Field(min_length=1, max_length=MAX_TEXT)


class OptionalReasonIn(BaseModel):
    reason: str = Field("", max_length=MAX_TEXT)


class ReviewIn(BaseModel):
    methodology: Verdict
    total_reductions: Verdict
    allocation_ratios: Verdict
    comment: str = Field("", max_length=MAX_TEXT)


class LoaIn(BaseModel):
    authorization_id: str = Field(pattern=ENTITY_ID, examples=["KHM-LOA-2025-001"])
    authorization_date: date
    entity_id: str = Field(pattern=ENTITY_ID, examples=["VERYWORDS"])
    entity_name: str = Field(min_length=1, max_length=200)
    entity_country: str = Field(pattern=PARTY_CODE)
    entity_number: str = Field(min_length=1, max_length=100)
    terms: str = Field("", max_length=MAX_TEXT * 5)


class LoaAmendmentIn(BaseModel):
    effective_from: date
    reason: str = Field(min_length=1, max_length=MAX_TEXT)
    quantity_cap_t: int | None = Field(
        None, ge=0, le=MAX_QUANTITY_T, description="New authorized quantity for NDC use"
    )
    revoke: bool = False


class RegisterProjectIn(BaseModel):
    registry_id: str = Field(pattern=REGISTRY_ID, examples=["KHM01"])


class PeriodIn(BaseModel):
    period: int = Field(ge=1, le=1000)
    start: date
    end: date
    reductions_t: dict[int, int] = Field(min_length=1, max_length=50)
    calculation_run_id: str | None = Field(None, max_length=100)
    input_hash: str | None = Field(None, max_length=64)
    params_hash: str | None = Field(None, max_length=64)


class AssignVerifierIn(BaseModel):
    verifier: str = Field(pattern=ENTITY_ID, examples=["IVB"])


class VerificationIn(BaseModel):
    verified_t: dict[int, int] = Field(min_length=1, max_length=50)
    opinion: str = Field(min_length=1, max_length=MAX_TEXT * 5)


class PerformIssuanceIn(BaseModel):
    registry_id: str = Field(pattern=REGISTRY_ID, examples=["KHM01"])
    acquirer_account: str = Field(pattern=ACCOUNT_ID, examples=["KOR01-HOLDING"])
    action_date: date | None = None


class ProjectOut(BaseModel):
    project_id: str
    approach_id: str
    developer: str
    state: str
    review_round: int
    authorization_id: str | None
    data: dict[str, Any]
    updated_seq: int


class ReviewOut(BaseModel):
    project_id: str
    review_round: int
    organisation_id: str
    user_id: str
    data: dict[str, Any]
    seq: int


class ProjectDetailOut(ProjectOut):
    reviews: list[ReviewOut]


class PeriodOut(BaseModel):
    project_id: str
    period: int
    state: str
    verifier: str | None
    data: dict[str, Any]
    updated_seq: int


class UploadOut(BaseModel):
    record_type: str
    file: str
    size_bytes: int
    sha256: str
    columns_ok: bool
    problems: list[str]


class SourceCountOut(BaseModel):
    record_type: str
    source_file: str
    rows_read: int
    rows_accepted: int
    rows_quarantined: int


class ValidationOut(BaseModel):
    ok: bool
    input_hash: str | None
    error: str | None = Field(description="What stopped the whole dataset, naming file and row")
    sources: list[SourceCountOut]
    quarantine_by_reason: dict[str, int]


class NdcIn(BaseModel):
    """An NDC definition in the TOML format of `article6 accounting record-ndc`."""

    toml: str = Field(min_length=1, max_length=200_000)


class CorrectionIn(BaseModel):
    reason: str = Field(min_length=1, max_length=MAX_TEXT)


class FreezeIn(BaseModel):
    on: date | None = Field(None, description="Date of the freeze (default: today)")


class AefIn(BaseModel):
    submitted_on: date | None = Field(None, description="Submission date (default: today)")


class AefSummaryOut(BaseModel):
    party: str
    year: int
    version: str
    new_version: bool
    rows: dict[str, int]
    consistency_failures: int
    seq: int


class CheckFailureOut(BaseModel):
    table: str
    row: int
    rule: str
    message: str


class ChecksOut(BaseModel):
    party: str
    year: int
    ok: bool
    failures: list[CheckFailureOut]


class InventoryRejectedOut(BaseModel):
    issues: list[str]


DECIMAL_TEXT = r"^-?\d{1,18}(\.\d{1,12})?$"
CURRENCY = r"^[A-Z]{3}$"


class MoneyIn(BaseModel):
    amount: str = Field(pattern=DECIMAL_TEXT, examples=["14864"])
    currency: str = Field(pattern=CURRENCY, examples=["KRW"])


class RecoveryTermsIn(BaseModel):
    price_per_t: MoneyIn
    tranche_t: int | None = Field(None, ge=0, le=MAX_QUANTITY_T)
    share_of_issuance: str | None = Field(None, pattern=DECIMAL_TEXT)
    recovery_amount: MoneyIn | None = None


class ScheduledDisbursementIn(BaseModel):
    due_date: date
    amount: MoneyIn


class AgreementIn(BaseModel):
    """One version of a financing agreement (the fields of the reference agreement file)."""

    agreement_id: str = Field(pattern=ENTITY_ID, examples=["KOR-ISP-2025-001"])
    version: int = Field(1, ge=1, le=10_000)
    effective_from: date
    financier_id: str = Field(pattern=ENTITY_ID)
    financier_name: str = Field("", max_length=200)
    recipient: str = Field(pattern=ENTITY_ID)
    project_id: str = Field(pattern=PROJECT_ID)
    project_name: str = Field("", max_length=300)
    host_party: str = Field(pattern=PARTY_CODE)
    sector: str = Field(min_length=1, max_length=100)
    currency: str = Field(pattern=CURRENCY)
    committed: MoneyIn
    terms: RecoveryTermsIn
    delivery_account: str = Field(pattern=ACCOUNT_ID)
    first_vintage: int = Field(ge=1990, le=2100)
    last_vintage: int = Field(ge=1990, le=2100)
    expected_delivery_t: list[tuple[int, int]] = Field([], max_length=200)
    disbursement_schedule: list[ScheduledDisbursementIn] = Field([], max_length=500)
    discount_rate: str | None = Field(None, pattern=DECIMAL_TEXT)
    approach_id: str | None = Field(None, pattern=APPROACH_ID)
    authorization_id: str | None = Field(None, pattern=ENTITY_ID)
    amendment_reason: str = Field("", max_length=MAX_TEXT)
    notes: str = Field("", max_length=MAX_TEXT)


class DisbursementIn(BaseModel):
    disbursement_id: str = Field(pattern=ENTITY_ID)
    disbursement_date: date
    amount: MoneyIn
    note: str = Field("", max_length=MAX_TEXT)


class ExchangeRateIn(BaseModel):
    base: str = Field(pattern=CURRENCY, examples=["USD"])
    quote: str = Field(pattern=CURRENCY, examples=["KRW"])
    rate_date: date
    rate: str = Field(pattern=DECIMAL_TEXT, examples=["1385.20"])
    source: str = Field("", max_length=200)


class DeliveryIn(BaseModel):
    vintage: int = Field(ge=1990, le=2100)
    quantity_t: int = Field(ge=1, le=MAX_QUANTITY_T)
    delivery_date: date
    reference: str = Field(min_length=1, max_length=200)


class FieldErrorOut(BaseModel):
    field: str
    message: str


class ProblemOut(BaseModel):
    """An error (RFC 9457), served as application/problem+json."""

    type: str = Field(examples=["urn:article6:problem:insufficient_units"])
    title: str
    status: int
    detail: str
    code: str | None = Field(None, description="The rejection code: which rule was broken")
    field: str | None = Field(None, description="The request field at fault, where known")
    errors: list[FieldErrorOut] | None = Field(None, description="Every invalid field")


def _problem_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "model": ProblemOut,
        "content": {"application/problem+json": {}},
    }


PROBLEMS: dict[int | str, dict[str, Any]] = {
    400: _problem_response("A malformed value"),
    401: _problem_response("Not signed in"),
    403: _problem_response("The permission table does not allow it"),
    404: _problem_response("An unknown object"),
    409: _problem_response("In conflict with the current state"),
    422: _problem_response("A broken rule, or invalid fields"),
}


class CalculationIn(BaseModel):
    """Calculate one vintage from the uploaded dataset with a parameter set (TOML text)."""

    year: int = Field(ge=1990, le=2100, description="Vintage (local calendar year)")
    params_toml: str = Field(min_length=1, max_length=200_000)
    freeze: bool = Field(True, description="Store the run for verification and reporting")
