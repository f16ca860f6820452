"""Errors as RFC 9457 problem documents (`application/problem+json`).

A refused command keeps its rejection code, so a client can tell which rule it
broke; the status follows from the code: malformed values 400, missing sign-in
401, the permission table 403, unknown objects 404, conflicts with the current
state 409, any other broken rule 422. Validation errors list every field.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from article6.domain.errors import ActionRefused, InvariantViolation, RejectionCode

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "urn:article6:problem:"

_BAD_VALUE = frozenset(
    {
        RejectionCode.INVALID_IDENTIFIER,
        RejectionCode.INVALID_QUANTITY,
        RejectionCode.SERIAL_RANGE_INVALID,
        RejectionCode.UNDERLYING_RANGE_MISMATCH,
    }
)
_NOT_FOUND = frozenset(
    {
        RejectionCode.UNKNOWN_PARTY,
        RejectionCode.UNKNOWN_REGISTRY,
        RejectionCode.UNKNOWN_ACCOUNT,
        RejectionCode.UNKNOWN_APPROACH,
        RejectionCode.UNKNOWN_AUTHORIZATION,
        RejectionCode.UNKNOWN_ENTITY,
    }
)
_CONFLICT = frozenset(
    {
        RejectionCode.ALREADY_EXISTS,
        RejectionCode.IDEMPOTENCY_CONFLICT,
        RejectionCode.INVALID_TRANSITION,
        RejectionCode.ALREADY_FIRST_TRANSFERRED,
        RejectionCode.NOT_FIRST_TRANSFERRED,
        RejectionCode.UNITS_RETIRED,
        RejectionCode.INSUFFICIENT_UNITS,
        RejectionCode.VERSION_NOT_INCREASING,
    }
)
# The request field a rejection code points at, where the code alone says so.
_FIELD = {
    RejectionCode.INVALID_QUANTITY: "quantity_t",
    RejectionCode.UNKNOWN_APPROACH: "approach_id",
    RejectionCode.UNKNOWN_REGISTRY: "registry_id",
    RejectionCode.UNKNOWN_AUTHORIZATION: "authorization_id",
    RejectionCode.UNKNOWN_PARTY: "party",
    RejectionCode.SERIAL_RANGE_INVALID: "first_serial",
    RejectionCode.UNDERLYING_RANGE_MISMATCH: "underlying_first",
    RejectionCode.VINTAGE_OUTSIDE_AUTHORIZED_TIMEFRAME: "vintage",
    RejectionCode.USE_OUTSIDE_AUTHORIZED_TIMEFRAME: "use_year",
    RejectionCode.IDEMPOTENCY_CONFLICT: "Idempotency-Key",
    RejectionCode.PURPOSE_NOT_AUTHORIZED: "purpose",
}


def status_for(code: RejectionCode) -> int:
    if code is RejectionCode.PERMISSION_DENIED:
        return 403
    if code in _BAD_VALUE:
        return 400
    if code in _NOT_FOUND:
        return 404
    if code in _CONFLICT:
        return 409
    return 422


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    code: str | None = None,
    field: str | None = None,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + (code or f"http-{status}"),
        "title": title,
        "status": status,
        "detail": detail,
    }
    if code is not None:
        body["code"] = code
    if field is not None:
        body["field"] = field
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def refusal_problem(refused: ActionRefused) -> JSONResponse:
    status = status_for(refused.code)
    return problem(
        status,
        refused.code.value.replace("_", " ").capitalize(),
        refused.message,
        code=refused.code.value,
        field=_FIELD.get(refused.code),
    )


def _field_path(location: tuple[Any, ...]) -> str:
    parts = [str(part) for part in location]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        parts = parts[1:]
    return ".".join(parts) or "request"


async def _on_refused(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ActionRefused)
    return refusal_problem(exc)


async def _on_validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": _field_path(tuple(error.get("loc", ()))), "message": str(error.get("msg", ""))}
        for error in exc.errors()
    ]
    first = errors[0]["field"] if errors else None
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "invalid request"
    return problem(
        422, "Invalid request", detail, code="validation_error", field=first, errors=errors
    )


async def _on_http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers) if exc.headers else None
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    title = {
        400: "Invalid value",
        401: "Not signed in",
        403: "Permission denied",
        404: "Not found",
        405: "Method not allowed",
        409: "Conflict",
        413: "Too large",
        422: "Invalid request",
        429: "Too many requests",
    }.get(exc.status_code, "Request failed")
    return problem(exc.status_code, title, detail, headers=headers)


async def _on_value_error(_request: Request, exc: Exception) -> JSONResponse:
    return problem(400, "Invalid value", str(exc), code="invalid_value")


async def _on_invariant(_request: Request, exc: Exception) -> JSONResponse:
    return problem(
        500,
        "Ledger invariant broken",
        "the ledger failed an internal check; nothing was changed by this request",
        code="invariant_violation",
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ActionRefused, _on_refused)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(ValueError, _on_value_error)
    app.add_exception_handler(InvariantViolation, _on_invariant)
