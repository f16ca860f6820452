"""Reading typed values from posted forms, with refusals that name the field."""

from __future__ import annotations

from datetime import date
from fractions import Fraction
from typing import Any

from article6.domain.errors import ActionRefused, RejectionCode

MAX_TEXT_CHARS = 4000
MAX_VINTAGE_LINES = 50


def text(form: dict[str, Any], name: str, required: bool = True, limit: int = 200) -> str:
    value = form.get(name)
    result = value.strip() if isinstance(value, str) else ""
    if required and not result:
        raise ActionRefused(RejectionCode.INVALID_IDENTIFIER, f"{name}: a value is required")
    if len(result) > min(limit, MAX_TEXT_CHARS):
        raise ActionRefused(RejectionCode.INVALID_IDENTIFIER, f"{name}: at most {limit} characters")
    return result


def whole(form: dict[str, Any], name: str, minimum: int = 0) -> int:
    raw = text(form, name).replace(",", "").replace(" ", "")
    try:
        value = int(raw)
    except ValueError:
        raise ActionRefused(
            RejectionCode.INVALID_QUANTITY, f"{name}: {raw!r} is not a whole number"
        ) from None
    if value < minimum:
        raise ActionRefused(RejectionCode.INVALID_QUANTITY, f"{name}: must be at least {minimum}")
    return value


def optional_whole(form: dict[str, Any], name: str, minimum: int = 0) -> int | None:
    if not text(form, name, required=False):
        return None
    return whole(form, name, minimum)


def day(form: dict[str, Any], name: str) -> date:
    raw = text(form, name)
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ActionRefused(
            RejectionCode.INVALID_QUANTITY, f"{name}: {raw!r} is not a date (YYYY-MM-DD)"
        ) from None


def percent(form: dict[str, Any], name: str) -> Fraction:
    raw = text(form, name).replace(",", ".")
    try:
        value = Fraction(raw) / 100
    except (ValueError, ZeroDivisionError):
        raise ActionRefused(
            RejectionCode.INVALID_QUANTITY, f"{name}: {raw!r} is not a percentage"
        ) from None
    if not 0 <= value <= 1:
        raise ActionRefused(RejectionCode.INVALID_QUANTITY, f"{name}: must be 0 to 100")
    return value


def vintage_table(form: dict[str, Any], name: str) -> dict[int, int]:
    """Lines of `vintage = tonnes` (or `vintage: tonnes`) into a table."""
    table: dict[int, int] = {}
    lines = [line for line in text(form, name, limit=MAX_TEXT_CHARS).splitlines() if line.strip()]
    if len(lines) > MAX_VINTAGE_LINES:
        raise ActionRefused(
            RejectionCode.INVALID_QUANTITY, f"{name}: at most {MAX_VINTAGE_LINES} vintages"
        )
    for number, line in enumerate(lines, start=1):
        vintage_text, separator, quantity_text = line.replace(":", "=").partition("=")
        try:
            vintage = int(vintage_text.strip())
            quantity = int(quantity_text.strip().replace(",", "").replace(" ", ""))
        except ValueError:
            raise ActionRefused(
                RejectionCode.INVALID_QUANTITY,
                f"{name}, line {number}: write 'vintage = tonnes', e.g. 2025 = 68000",
            ) from None
        if not separator or vintage in table:
            raise ActionRefused(
                RejectionCode.INVALID_QUANTITY,
                f"{name}, line {number}: one 'vintage = tonnes' per vintage",
            )
        table[vintage] = quantity
    if not table:
        raise ActionRefused(RejectionCode.INVALID_QUANTITY, f"{name}: at least one vintage")
    return table
