"""Plain-data encoding of the records, for the journal and the API.

The journal stores these dictionaries in canonical JSON, so decoding them must
give back exactly the record that was encoded.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from article6.domain.model import (
    Account,
    AccountKind,
    Approach,
    AuthorizationVersion,
    Entity,
    FirstTransferDefinition,
    Issuance,
    Metric,
    MitigationType,
    Party,
    Purpose,
    Registry,
)


def party_to_dict(p: Party) -> dict[str, Any]:
    return {"code": p.code, "name": p.name}


def party_from_dict(d: dict[str, Any]) -> Party:
    return Party(code=d["code"], name=d["name"])


def registry_to_dict(r: Registry) -> dict[str, Any]:
    return {
        "registry_id": r.registry_id,
        "party": r.party,
        "name": r.name,
        "public_key_hex": r.public_key_hex,
    }


def registry_from_dict(d: dict[str, Any]) -> Registry:
    return Registry(**d)


def entity_to_dict(e: Entity) -> dict[str, Any]:
    return {
        "entity_id": e.entity_id,
        "name": e.name,
        "country": e.country,
        "identification_number": e.identification_number,
    }


def entity_from_dict(d: dict[str, Any]) -> Entity:
    return Entity(**d)


def account_to_dict(a: Account) -> dict[str, Any]:
    return {
        "account_id": a.account_id,
        "registry_id": a.registry_id,
        "kind": a.kind.value,
        "holder": a.holder,
        "name": a.name,
    }


def account_from_dict(d: dict[str, Any]) -> Account:
    return Account(**{**d, "kind": AccountKind(d["kind"])})


def approach_to_dict(a: Approach) -> dict[str, Any]:
    return {
        "approach_id": a.approach_id,
        "name": a.name,
        "host_party": a.host_party,
        "participating_parties": list(a.participating_parties),
        "sectors": list(a.sectors),
        "activity_types": list(a.activity_types),
        "mitigation_type": a.mitigation_type.value,
    }


def approach_from_dict(d: dict[str, Any]) -> Approach:
    return Approach(
        approach_id=d["approach_id"],
        name=d["name"],
        host_party=d["host_party"],
        participating_parties=tuple(d["participating_parties"]),
        sectors=tuple(d["sectors"]),
        activity_types=tuple(d["activity_types"]),
        mitigation_type=MitigationType(d["mitigation_type"]),
    )


def authorization_to_dict(a: AuthorizationVersion) -> dict[str, Any]:
    return {
        "authorization_id": a.authorization_id,
        "version": a.version,
        "approach_id": a.approach_id,
        "authorizing_party": a.authorizing_party,
        "authorization_date": a.authorization_date.isoformat(),
        "effective_from": a.effective_from.isoformat(),
        "quantity_cap_t": a.quantity_cap_t,
        "purpose_caps_t": {p.value: q for p, q in sorted(a.purpose_caps_t.items())},
        "purposes": [p.value for p in a.purposes],
        "acquiring_parties": list(a.acquiring_parties),
        "entities": list(a.entities),
        "vintage_from": a.vintage_from,
        "vintage_to": a.vintage_to,
        "use_from": a.use_from,
        "use_to": a.use_to,
        "metric": a.metric.value,
        "gwp": a.gwp,
        "oimp_named": a.oimp_named,
        "oimp_first_transfer": a.oimp_first_transfer.value if a.oimp_first_transfer else None,
        "terms": a.terms,
        "revoked": a.revoked,
        "reason": a.reason,
    }


def authorization_from_dict(d: dict[str, Any]) -> AuthorizationVersion:
    oimp = d.get("oimp_first_transfer")
    return AuthorizationVersion(
        authorization_id=d["authorization_id"],
        version=int(d["version"]),
        approach_id=d["approach_id"],
        authorizing_party=d["authorizing_party"],
        authorization_date=date.fromisoformat(d["authorization_date"]),
        effective_from=date.fromisoformat(d["effective_from"]),
        quantity_cap_t=int(d["quantity_cap_t"]),
        purpose_caps_t={Purpose(p): int(q) for p, q in d["purpose_caps_t"].items()},
        acquiring_parties=tuple(d["acquiring_parties"]),
        entities=tuple(d.get("entities", [])),
        vintage_from=int(d["vintage_from"]),
        vintage_to=int(d["vintage_to"]),
        use_from=int(d["use_from"]),
        use_to=int(d["use_to"]),
        metric=Metric(d.get("metric", "GHG")),
        gwp=d.get("gwp", "AR5 GWP100"),
        oimp_named=d.get("oimp_named", ""),
        oimp_first_transfer=FirstTransferDefinition(oimp) if oimp else None,
        terms=d.get("terms", ""),
        revoked=bool(d.get("revoked", False)),
        reason=d.get("reason", ""),
    )


def issuance_to_dict(i: Issuance) -> dict[str, Any]:
    return {
        "issuance_id": i.issuance_id,
        "approach_id": i.approach_id,
        "registry_id": i.registry_id,
        "vintage": i.vintage,
        "quantity_t": i.quantity_t,
        "first_serial": i.first_serial,
        "last_serial": i.last_serial,
        "authorization_id": i.authorization_id,
        "underlying_registry": i.underlying_registry,
        "underlying_first": i.underlying_first,
    }


def issuance_from_dict(d: dict[str, Any]) -> Issuance:
    return Issuance(**d)
