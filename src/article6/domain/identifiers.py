"""Identifiers of Article 6 objects and the ITMO unique identifier.

Serial numbers are integers everywhere in the ledger; the text form of an ITMO
identifier (decision 6/CMA.4 annex I para 5) is only rendered for people and
reports, never parsed back to decide anything.
"""

from __future__ import annotations

import re

from article6.domain.errors import ActionRefused, RejectionCode

_PARTY = re.compile(r"^[A-Z]{3}$")
_REGISTRY = re.compile(r"^([A-Z]{3})(\d{2})$")
_APPROACH = re.compile(r"^CA\d{4}$")
_ACCOUNT = re.compile(r"^[A-Z]{3}\d{2}-[A-Z0-9_-]{1,40}$")
_ENTITY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _check(pattern: re.Pattern[str], value: str, what: str, example: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ActionRefused(
            RejectionCode.INVALID_IDENTIFIER,
            f"{what} {value!r} is not valid (expected e.g. {example})",
        )
    return value


def party_code(value: str) -> str:
    """ISO 3166-1 alpha-3 code of a Party, e.g. KHM."""
    return _check(_PARTY, value, "Party code", "KHM")


def registry_id(value: str) -> str:
    """Party ITMO registry ID: the Party's alpha-3 code and two digits, e.g. KHM01."""
    return _check(_REGISTRY, value, "registry ID", "KHM01")


def registry_party(registry: str) -> str:
    """The Party that runs a registry, read from its identifier."""
    return registry_id(registry)[:3]


def approach_id(value: str) -> str:
    """Cooperative approach ID, e.g. CA0001."""
    return _check(_APPROACH, value, "cooperative approach ID", "CA0001")


def account_id(value: str) -> str:
    """Account ID: the registry ID, a dash and a local name, e.g. KHM01-PENDING."""
    return _check(_ACCOUNT, value, "account ID", "KHM01-PENDING")


def entity_id(value: str) -> str:
    """Identifier of an authorized entity, e.g. VERYWORDS."""
    return _check(_ENTITY, value, "entity ID", "VERYWORDS")


def itmo_id(
    approach: str,
    originating_registry: str,
    first_transferring_party: str,
    serial: int,
    vintage: int,
) -> str:
    """Text form of one ITMO's unique identifier, e.g. CA0001-KHM01-KHM-40000-2025."""
    return f"{approach}-{originating_registry}-{first_transferring_party}-{serial}-{vintage}"
