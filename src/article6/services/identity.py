"""Organisations, users, passwords and API tokens.

Passwords are hashed with Argon2; API tokens are random 256-bit secrets shown
once and stored only as their SHA-256, which is enough for secrets that cannot
be guessed. Every change is a journaled command like any other.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, RowMapping, bindparam, func, insert, select

from article6.domain import identifiers
from article6.domain.errors import ActionRefused, RejectionCode
from article6.domain.permissions import Actor, Command, Role, Target, authorize
from article6.services.commands import Receipt, execute
from article6.store import workflow_tables as w
from article6.store.ledger_store import LedgerTransaction

# ARTICLE6_FAST_PASSWORD_HASH=1 switches to argon2's cheapest profile: for test suites
# that create many users, never for a real registry.
HASHER = (
    PasswordHasher.from_parameters(profiles.CHEAPEST)
    if os.environ.get("ARTICLE6_FAST_PASSWORD_HASH") == "1"
    else PasswordHasher()
)
MIN_PASSWORD_LENGTH = 10
BOOTSTRAP_ORGANISATION = "ARTICLE6-OPS"


@dataclass(frozen=True)
class Organisation:
    organisation_id: str
    name: str
    party: str | None
    kind: str  # e.g. ministry, developer, verifier, international organisation, financier


def register_organisation(
    engine: Engine, *, actor: Actor, organisation: Organisation, idempotency_key: str | None = None
) -> Receipt:
    identifiers.entity_id(organisation.organisation_id)
    if organisation.party is not None:
        identifiers.party_code(organisation.party)
    request = organisation.__dict__.copy()

    def handle(tx: LedgerTransaction) -> dict[str, object]:
        authorize(actor, Command.REGISTER_ORGANISATION, Target())
        _insert_organisation(tx, organisation)
        return {"organisation": organisation.organisation_id}

    return execute(engine, actor, "RegisterOrganisation", request, idempotency_key, handle)


def _insert_organisation(tx: LedgerTransaction, organisation: Organisation) -> None:
    exists = tx.connection.execute(
        select(w.organisations.c.organisation_id).where(
            w.organisations.c.organisation_id == organisation.organisation_id
        )
    ).first()
    if exists is not None:
        raise ActionRefused(
            RejectionCode.ALREADY_EXISTS, f"organisation {organisation.organisation_id} exists"
        )
    tx.connection.execute(insert(w.organisations).values(**organisation.__dict__))
    tx.append("OrganisationRegistered", None, {"organisation": organisation.__dict__})


def register_user(
    engine: Engine,
    *,
    actor: Actor,
    user_id: str,
    organisation_id: str,
    name: str,
    password: str,
    roles: frozenset[Role],
    locale: str = "en",
    idempotency_key: str | None = None,
) -> Receipt:
    request = {
        "user_id": user_id,
        "organisation_id": organisation_id,
        "name": name,
        "roles": sorted(r.value for r in roles),
        "locale": locale,
    }

    def handle(tx: LedgerTransaction) -> dict[str, object]:
        authorize(actor, Command.REGISTER_USER, Target())
        _insert_user(tx, user_id, organisation_id, name, password, roles, locale)
        return {"user": user_id}

    return execute(engine, actor, "RegisterUser", request, idempotency_key, handle)


def _insert_user(
    tx: LedgerTransaction,
    user_id: str,
    organisation_id: str,
    name: str,
    password: str,
    roles: frozenset[Role],
    locale: str,
) -> None:
    identifiers.entity_id(user_id)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ActionRefused(
            RejectionCode.AUTHENTICATION_FAILED,
            f"password must have at least {MIN_PASSWORD_LENGTH} characters",
        )
    if locale not in {"en", "ko", "km"}:
        raise ActionRefused(
            RejectionCode.INVALID_IDENTIFIER, f"locale {locale!r} is not en, ko or km"
        )
    organisation = tx.connection.execute(
        select(w.organisations).where(w.organisations.c.organisation_id == organisation_id)
    ).first()
    if organisation is None:
        raise ActionRefused(
            RejectionCode.UNKNOWN_ENTITY, f"organisation {organisation_id} is unknown"
        )
    if tx.connection.execute(select(w.users.c.user_id).where(w.users.c.user_id == user_id)).first():
        raise ActionRefused(RejectionCode.ALREADY_EXISTS, f"user {user_id} exists")
    role_names = sorted(r.value for r in roles)
    tx.connection.execute(
        insert(w.users).values(
            user_id=user_id,
            organisation_id=organisation_id,
            name=name,
            password_hash=HASHER.hash(password),
            roles=json.dumps(role_names),
            locale=locale,
            active=True,
        )
    )
    tx.append(
        "UserRegistered",
        None,
        {
            "user_id": user_id,
            "organisation_id": organisation_id,
            "name": name,
            "roles": role_names,
            "locale": locale,
        },
    )


def bootstrap_administrator(engine: Engine, *, user_id: str, name: str, password: str) -> Receipt:
    """Create the first system administrator; refused once any user exists."""
    system = Actor(
        "bootstrap", BOOTSTRAP_ORGANISATION, None, frozenset({Role.SYSTEM_ADMINISTRATOR})
    )
    request = {"user_id": user_id, "name": name}

    def handle(tx: LedgerTransaction) -> dict[str, object]:
        count = tx.connection.execute(select(func.count()).select_from(w.users)).scalar_one()
        if count:
            raise ActionRefused(RejectionCode.ALREADY_EXISTS, "users exist: no bootstrap needed")
        _insert_organisation(
            tx, Organisation(BOOTSTRAP_ORGANISATION, "Registry operations", None, "operator")
        )
        _insert_user(
            tx,
            user_id,
            BOOTSTRAP_ORGANISATION,
            name,
            password,
            frozenset({Role.SYSTEM_ADMINISTRATOR}),
            "en",
        )
        return {"user": user_id}

    return execute(engine, system, "BootstrapAdministrator", request, None, handle)


# A user with the party of their organisation: what an Actor is made of.
_ACTOR_QUERY = select(
    w.users.c.user_id,
    w.users.c.organisation_id,
    w.users.c.roles,
    w.users.c.active,
    w.organisations.c.party,
).join(w.organisations, w.organisations.c.organisation_id == w.users.c.organisation_id)


def load_actor(engine: Engine, user_id: str) -> Actor:
    """The actor for a known, active user (for trusted local use: the CLI on the server)."""
    with engine.connect() as connection:
        row = connection.execute(_ACTOR_QUERY.where(w.users.c.user_id == user_id)).first()
    if row is None or not row.active:
        raise ActionRefused(RejectionCode.AUTHENTICATION_FAILED, f"no active user {user_id!r}")
    return _actor(row._mapping)


def _actor(row: RowMapping) -> Actor:
    roles = frozenset(Role(r) for r in json.loads(row["roles"]))
    return Actor(row["user_id"], row["organisation_id"], row["party"], roles)


def authenticate(engine: Engine, user_id: str, password: str) -> Actor:
    """The actor, if the password matches; the same error whatever was wrong."""
    failure = ActionRefused(RejectionCode.AUTHENTICATION_FAILED, "unknown user or wrong password")
    with engine.connect() as connection:
        stored = connection.execute(
            select(w.users.c.password_hash, w.users.c.active).where(w.users.c.user_id == user_id)
        ).first()
    if stored is None or not stored.active:
        HASHER.hash(password)  # same cost as a real check, so timing tells nothing
        raise failure
    try:
        HASHER.verify(stored.password_hash, password)
    except (VerificationError, InvalidHashError) as exc:
        raise failure from exc
    return load_actor(engine, user_id)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_api_token(engine: Engine, *, actor: Actor, label: str) -> tuple[str, Receipt]:
    """A new API token for the acting user; the secret is returned once and never stored."""
    token = "a6_" + secrets.token_urlsafe(32)
    digest = token_digest(token)

    def handle(tx: LedgerTransaction) -> dict[str, object]:
        tx.connection.execute(
            insert(w.api_tokens).values(
                token_hash=digest, user_id=actor.user_id, label=label, revoked=False
            )
        )
        tx.append(
            "ApiTokenIssued",
            None,
            {"user_id": actor.user_id, "label": label, "token_sha256": digest},
        )
        return {"label": label}

    receipt = execute(
        engine, actor, "IssueApiToken", {"label": label, "digest": digest}, None, handle
    )
    return token, receipt


# Built once with a bound parameter: every API call runs it, and building the
# statement anew each time costs more than running it.
_TOKEN_QUERY = (
    _ACTOR_QUERY.add_columns(w.api_tokens.c.revoked)
    .join(w.api_tokens, w.api_tokens.c.user_id == w.users.c.user_id)
    .where(w.api_tokens.c.token_hash == bindparam("digest"))
)


def actor_from_token(engine: Engine, token: str) -> Actor:
    """The active user holding an unrevoked token, in one query: every API call asks."""
    with engine.connect() as connection:
        row = connection.execute(_TOKEN_QUERY, {"digest": token_digest(token)}).first()
    if row is None or row.revoked:
        raise ActionRefused(RejectionCode.AUTHENTICATION_FAILED, "unknown or revoked API token")
    if not row.active:
        raise ActionRefused(RejectionCode.AUTHENTICATION_FAILED, f"no active user {row.user_id!r}")
    return _actor(row._mapping)
