"""Languages of the web application: English, Korean and Khmer.

Message catalogues are gettext `.po` files under `locales/`, compiled in memory
when first needed, so a fresh checkout needs no build step. Numbers and dates
are formatted with Babel for the chosen locale.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.dates import format_date as babel_format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations
from markupsafe import Markup

LOCALES: tuple[str, ...] = ("en", "ko", "km")
DEFAULT_LOCALE = "en"
LOCALE_NAMES: dict[str, str] = {"en": "English", "ko": "한국어", "km": "ខ្មែរ"}
LOCALE_DIR = Path(__file__).parent / "locales"
DOMAIN = "messages"


def normalise_locale(value: str | None) -> str:
    """One of the supported locales; anything else falls back to English."""
    if not value:
        return DEFAULT_LOCALE
    code = value.replace("-", "_").split("_")[0].lower()
    return code if code in LOCALES else DEFAULT_LOCALE


def locale_from_header(accept_language: str | None) -> str:
    """The first supported language of an Accept-Language header."""
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip()
        if code and normalise_locale(code) == code.split("-")[0].lower():
            return normalise_locale(code)
    return DEFAULT_LOCALE


@lru_cache(maxsize=len(LOCALES))
def translations(locale: str) -> Translations:
    """The catalogue of `locale`, compiled from its `.po` file."""
    po_file = LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    if locale == DEFAULT_LOCALE or not po_file.exists():
        return Translations()
    with po_file.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer, domain=DOMAIN)


def format_number(value: int | float | Decimal | None, locale: str) -> str:
    """A quantity with the locale's grouping; an em dash when there is none."""
    if value is None:
        return "—"
    return str(format_decimal(value, locale=locale))


def format_day(value: date | datetime | str | None, locale: str) -> str:
    """A date in the locale's medium form (e.g. 18 Jul 2025, 2025. 7. 18.)."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    if isinstance(value, datetime):
        value = value.date()
    return str(babel_format_date(value, "medium", locale=locale))


class Gettext:
    """gettext callables for one request's locale, new-style (`%(name)s` keywords)."""

    def __init__(self, locale: str) -> None:
        self.locale = locale
        self._translations = translations(locale)

    def gettext(self, message: str, **variables: Any) -> str:
        text = self._translations.gettext(message)
        return text % variables if variables else text

    def ngettext(self, singular: str, plural: str, count: int, **variables: Any) -> str:
        variables.setdefault("num", count)
        return self._translations.ngettext(singular, plural, count) % variables

    def template_callables(self) -> dict[str, Callable[..., Any]]:
        """What the templates call: `_`, `gettext`, `ngettext` (escaped like literals)."""

        def gettext(message: str, **variables: Any) -> Markup:
            text = self._translations.gettext(message)
            if variables:
                return Markup(Markup.escape(text) % variables)
            return Markup.escape(text)

        def ngettext(singular: str, plural: str, count: int, **variables: Any) -> Markup:
            variables.setdefault("num", count)
            text = self._translations.ngettext(singular, plural, count)
            return Markup(Markup.escape(text) % variables)

        return {"_": gettext, "gettext": gettext, "ngettext": ngettext}
