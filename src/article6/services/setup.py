"""Use cases that record reference data: Parties, registries, entities,
accounts, cooperative approaches and authorization versions.

Each is one command, one transaction and one journal event.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from article6.domain import codec, identifiers, rules
from article6.domain.errors import ActionRefused, RejectionCode
from article6.domain.model import (
    Account,
    AccountKind,
    Approach,
    AuthorizationVersion,
    Entity,
    Party,
    Registry,
)
from article6.domain.permissions import Actor, Command, Target, authorize
from article6.services.commands import Receipt, execute
from article6.store.keys import load_or_create_key, public_key_hex
from article6.store.ledger_store import LedgerTransaction

STANDARD_ACCOUNTS: tuple[tuple[str, AccountKind, str], ...] = (
    ("PENDING", AccountKind.PENDING, "Pending holding (not yet first transferred)"),
    ("HOLDING", AccountKind.HOLDING, "Party holding"),
    ("NDC-USE", AccountKind.NDC_USE, "Use towards the NDC"),
    ("OIMP-USE", AccountKind.OIMP_USE, "Use for other international mitigation purposes"),
    ("VOL-CANCEL", AccountKind.VOLUNTARY_CANCELLATION, "Voluntary cancellation"),
    ("OMGE-CANCEL", AccountKind.OMGE_CANCELLATION, "Cancellation for OMGE"),
    ("OTHER-CANCEL", AccountKind.OTHER_CANCELLATION, "Other cancellation"),
    ("ADAPTATION", AccountKind.ADAPTATION_FUND, "Share of proceeds for adaptation"),
)


def _exists(what: str, key: str) -> ActionRefused:
    return ActionRefused(RejectionCode.ALREADY_EXISTS, f"{what} {key} already exists")


def register_party(
    engine: Engine, *, actor: Actor, code: str, name: str, idempotency_key: str | None = None
) -> Receipt:
    party = Party(code=identifiers.party_code(code), name=name.strip())

    def handle(tx: LedgerTransaction) -> dict[str, object]:
        authorize(actor, Command.REGISTER_PARTY, Target(party=party.code))
        if tx.party(party.code) is not None:
            raise _exists("Party", party.code)
        tx.insert_party(party)
        tx.append("PartyRegistered", None, {"party": codec.party_to_dict(party)})
        return {"party": party.code}

    return execute(
        engine, actor, "RegisterParty", codec.party_to_dict(party), idempotency_key, handle
    )


def open_registry(
    engine: Engine,
    *,
    actor: Actor,
    registry_id: str,
    name: str,
    key_dir: Path,
    standard_accounts: bool = True,
    idempotency_key: str | None = None,
) -> Receipt:
    """Open a Party's registry with its signing key and, by default, one account of each kind."""
    registry_id = identifiers.registry_id(registry_id)
    party = identifiers.registry_party(registry_id)
    request = {"registry_id": registry_id, "name": name, "standard_accounts": standard_accounts}

    def handle(tx: LedgerTransaction) -> dict[str, object]:
        authorize(actor, Command.OPEN_REGISTRY, Target(party=party))
        if tx.party(party) is None:
            raise ActionRefused(RejectionCode.UNKNOWN_PARTY, f"Party {party} is not registered")
        if tx.registry(registry_id) is not None:
            raise _exists("registry", registry_id)
        key = load_or_create_key(key_dir, registry_id)
        registry = Registry(registry_id, party, name, public_key_hex(key))
        tx.insert_registry(registry)
        tx.append("RegistryOpened", registry_id, {"registry": codec.registry_to_dict(registry)})
        opened = []
        if standard_accounts:
            for suffix, kind, label in STANDARD_ACCOUNTS:
                account = Account(f"{registry_id}-{suffix}", registry_id, kind, party, label)
                open_account_in(tx, account)
                opened.append(account.account_id)
        return {"registry": registry_id, "accounts": opened}

    return execute(engine, actor, "OpenRegistry", request, idempotency_key, handle)


def register_entity_in(tx: LedgerTransaction, entity: Entity) -> None:
    """Record an authorized entity inside an open transaction (permissions checked by caller)."""
    identifiers.entity_id(entity.entity_id)
    identifiers.party_code(entity.country)
    if tx.entity(entity.entity_id) is not None:
        raise _exists("entity", entity.entity_id)
    tx.insert_entity(entity)
    tx.append("EntityRegistered", None, {"entity": codec.entity_to_dict(entity)})


def register_entity(
    engine: Engine, *, actor: Actor, entity: Entity, idempotency_key: str | None = None
) -> Receipt:
    def handle(tx: LedgerTransaction) -> dict[str, object]:
        authorize(actor, Command.REGISTER_ENTITY, Target(party=actor.party))
        register_entity_in(tx, entity)
        return {"entity": entity.entity_id}

    return execute(
        engine, actor, "RegisterEntity", codec.entity_to_dict(entity), idempotency_key, handle
    )


def open_account(
    engine: Engine, *, actor: Actor, account: Account, idempotency_key: str | None = None
) -> Receipt:
    identifiers.account_id(account.account_id)

    def handle(tx: LedgerTransaction) -> dict[str, object]:
        registry_party = identifiers.registry_party(account.registry_id)
        authorize(actor, Command.OPEN_ACCOUNT, Target(party=registry_party))
        open_account_in(tx, account)
        return {"account": account.account_id}

    return execute(
        engine, actor, "OpenAccount", codec.account_to_dict(account), idempotency_key, handle
    )


def open_account_in(tx: LedgerTransaction, account: Account) -> None:
    if tx.registry(account.registry_id) is None:
        raise ActionRefused(
            RejectionCode.UNKNOWN_REGISTRY, f"registry {account.registry_id} does not exist"
        )
    if not account.account_id.startswith(account.registry_id + "-"):
        raise ActionRefused(
            RejectionCode.ACCOUNT_REGISTRY_MISMATCH,
            f"account {account.account_id} must start with its registry ID {account.registry_id}",
        )
    if tx.party(account.holder) is None and tx.entity(account.holder) is None:
        raise ActionRefused(
            RejectionCode.UNKNOWN_ENTITY,
            f"account holder {account.holder} is neither a Party nor a registered entity",
        )
    if tx.account(account.account_id) is not None:
        raise _exists("account", account.account_id)
    tx.insert_account(account)
    tx.append("AccountOpened", account.registry_id, {"account": codec.account_to_dict(account)})


def register_approach(
    engine: Engine, *, actor: Actor, approach: Approach, idempotency_key: str | None = None
) -> Receipt:
    identifiers.approach_id(approach.approach_id)

    def handle(tx: LedgerTransaction) -> dict[str, object]:
        authorize(actor, Command.REGISTER_APPROACH, Target(party=approach.host_party))
        for party in (approach.host_party, *approach.participating_parties):
            if tx.party(party) is None:
                raise ActionRefused(RejectionCode.UNKNOWN_PARTY, f"Party {party} is not registered")
        if tx.approach(approach.approach_id) is not None:
            raise _exists("cooperative approach", approach.approach_id)
        tx.insert_approach(approach)
        tx.append("ApproachRegistered", None, {"approach": codec.approach_to_dict(approach)})
        return {"approach": approach.approach_id}

    return execute(
        engine, actor, "RegisterApproach", codec.approach_to_dict(approach), idempotency_key, handle
    )


def record_authorization(
    engine: Engine,
    *,
    actor: Actor,
    version: AuthorizationVersion,
    idempotency_key: str | None = None,
) -> Receipt:
    """Record a new version of an authorization (an LoA, an amendment or a revocation)."""
    return execute(
        engine,
        actor,
        "RecordAuthorization",
        codec.authorization_to_dict(version),
        idempotency_key,
        lambda tx: record_authorization_in(tx, actor, version),
    )


def record_authorization_in(
    tx: LedgerTransaction, actor: Actor, version: AuthorizationVersion
) -> dict[str, object]:
    """The same, inside a transaction that is already open (e.g. the LoA of a project)."""
    approach = tx.approach(version.approach_id)
    if approach is None:
        raise ActionRefused(
            RejectionCode.UNKNOWN_APPROACH, f"approach {version.approach_id} does not exist"
        )
    authorize(actor, loa_command(version), Target(party=approach.host_party))
    if version.authorizing_party != approach.host_party:
        raise ActionRefused(
            RejectionCode.AUTHORIZATION_APPROACH_MISMATCH,
            f"only the host Party {approach.host_party} authorizes units of "
            f"{approach.approach_id}, not {version.authorizing_party}",
        )
    for party in version.acquiring_parties:
        if tx.party(party) is None:
            raise ActionRefused(RejectionCode.UNKNOWN_PARTY, f"Party {party} is not registered")
    for entity in version.entities:
        if tx.entity(entity) is None:
            raise ActionRefused(RejectionCode.UNKNOWN_ENTITY, f"entity {entity} is not registered")
    versions = tx.authorization_versions(version.authorization_id)
    usage = sum(tx.usage(version.authorization_id).values())
    rules.check_new_version(versions[-1] if versions else None, version, usage)
    event = tx.append(
        "AuthorizationRecorded", None, {"authorization": codec.authorization_to_dict(version)}
    )
    tx.insert_authorization(version, event.seq)
    return {"authorization": version.authorization_id, "version": version.version}


def loa_command(version: AuthorizationVersion) -> Command:
    """Issuing, amending and revoking an LoA are distinct permissions."""
    if version.revoked:
        return Command.REVOKE_LOA
    return Command.ISSUE_LOA if version.version == 1 else Command.AMEND_LOA
