"""Read models for the API and the screens: plain queries over the projections.

Nothing here writes. Every list takes a limit (callers cap it) and an offset
or a cursor, and fetches one row more than asked so the caller can tell
whether another page follows.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine, Select, func, select

from article6.domain.identifiers import itmo_id
from article6.services import finance
from article6.store import tables as t
from article6.store import workflow_tables as w
from article6.store.ledger_store import BLOCK_COLUMNS, row_to_block

MAX_LINEAGE_DEPTH = 10_000
MAX_DESCENDANTS = 10_000


def _rows(engine: Engine, query: Select[Any]) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]


def _page(query: Select[Any], limit: int, offset: int) -> Select[Any]:
    return query.limit(limit + 1).offset(offset)


def parties(engine: Engine, limit: int, offset: int) -> list[dict[str, Any]]:
    return _rows(engine, _page(select(t.parties).order_by(t.parties.c.code), limit, offset))


def registries(engine: Engine, limit: int, offset: int) -> list[dict[str, Any]]:
    query = select(t.registries).order_by(t.registries.c.registry_id)
    return _rows(engine, _page(query, limit, offset))


def entities(engine: Engine, limit: int, offset: int) -> list[dict[str, Any]]:
    return _rows(engine, _page(select(t.entities).order_by(t.entities.c.entity_id), limit, offset))


def accounts(
    engine: Engine, registry_id: str | None, limit: int, offset: int
) -> list[dict[str, Any]]:
    """Accounts with the units they hold (from the balances projection)."""
    held = (
        select(t.balances.c.account_id, func.sum(t.balances.c.quantity_t).label("held_t"))
        .group_by(t.balances.c.account_id)
        .subquery()
    )
    query = (
        select(t.accounts, func.coalesce(held.c.held_t, 0).label("held_t"))
        .outerjoin(held, held.c.account_id == t.accounts.c.account_id)
        .order_by(t.accounts.c.account_id)
    )
    if registry_id is not None:
        query = query.where(t.accounts.c.registry_id == registry_id)
    rows = _rows(engine, _page(query, limit, offset))
    for row in rows:
        row["held_t"] = int(row["held_t"])
    return rows


def account(engine: Engine, account_id: str) -> dict[str, Any] | None:
    rows = _rows(engine, select(t.accounts).where(t.accounts.c.account_id == account_id))
    if not rows:
        return None
    balances = _rows(
        engine,
        select(t.balances.c.approach_id, t.balances.c.vintage, t.balances.c.quantity_t)
        .where(t.balances.c.account_id == account_id, t.balances.c.quantity_t != 0)
        .order_by(t.balances.c.approach_id, t.balances.c.vintage),
    )
    return {**rows[0], "balances": balances}


def block_row(row: Any) -> dict[str, Any]:
    """A block as a screen shows it: serials, ITMO identifiers, state, provenance."""
    block = row_to_block(row)
    ident = (block.approach_id, block.originating_registry, block.first_transferring_party)
    return {
        "block_id": block.block_id,
        "parent_id": block.parent_id,
        "issuance_id": block.issuance_id,
        "account_id": block.account_id,
        "first_serial": block.first,
        "last_serial": block.last,
        "first_id": itmo_id(*ident, block.first, block.vintage),
        "last_id": itmo_id(*ident, block.last, block.vintage),
        "quantity_t": block.quantity_t,
        "approach_id": block.approach_id,
        "vintage": block.vintage,
        "state": block.state.value,
        "first_transferred": block.first_transferred,
        "authorization_id": block.authorization_id,
        "authorization_version": block.authorization_version,
        "purpose": None if block.purpose is None else block.purpose.value,
        "use_year": block.use_year,
    }


def _block(engine: Engine, block_id: int) -> Any:
    with engine.connect() as connection:
        return connection.execute(
            select(*BLOCK_COLUMNS).where(t.blocks.c.block_id == block_id)
        ).first()


def lineage(engine: Engine, block_id: int) -> dict[str, Any] | None:
    """A block, its ancestors back to the issued block and every block split from it."""
    row = _block(engine, block_id)
    if row is None:
        return None
    block = block_row(row)
    ancestors: list[dict[str, Any]] = []
    parent = block["parent_id"]
    while parent is not None and len(ancestors) < MAX_LINEAGE_DEPTH:
        parent_row = _block(engine, parent)
        if parent_row is None:
            break
        ancestors.append(block_row(parent_row))
        parent = ancestors[-1]["parent_id"]
    descendants: list[dict[str, Any]] = []
    frontier = [block_id]
    with engine.connect() as connection:
        while frontier and len(descendants) < MAX_DESCENDANTS:
            children = [
                block_row(child)
                for child in connection.execute(
                    select(*BLOCK_COLUMNS)
                    .where(t.blocks.c.parent_id.in_(frontier))
                    .order_by(t.blocks.c.first)
                )
            ]
            descendants.extend(children)
            frontier = [child["block_id"] for child in children]
    return {"block": block, "ancestors": ancestors, "descendants": descendants}


def _with_data(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        if isinstance(row.get("data"), str):
            row["data"] = json.loads(row["data"])
    return rows


def approaches(engine: Engine, limit: int, offset: int) -> list[dict[str, Any]]:
    query = select(t.approaches).order_by(t.approaches.c.approach_id)
    return _with_data(_rows(engine, _page(query, limit, offset)))


def authorizations(
    engine: Engine, approach_id: str | None, limit: int, offset: int
) -> list[dict[str, Any]]:
    """Every version of every authorization, with the quantity used per purpose."""
    query = select(t.authorizations).order_by(
        t.authorizations.c.authorization_id, t.authorizations.c.version
    )
    if approach_id is not None:
        query = query.where(t.authorizations.c.approach_id == approach_id)
    rows = _with_data(_rows(engine, _page(query, limit, offset)))
    ids = sorted({row["authorization_id"] for row in rows})
    usage: dict[str, dict[str, int]] = {}
    for used in _rows(
        engine,
        select(t.authorization_usage).where(t.authorization_usage.c.authorization_id.in_(ids)),
    ):
        usage.setdefault(used["authorization_id"], {})[used["purpose"]] = int(used["quantity_t"])
    for row in rows:
        row["effective_from"] = row["effective_from"].isoformat()
        row["used_t"] = usage.get(row["authorization_id"], {})
    return rows


def projects(
    engine: Engine, approach_id: str | None, state: str | None, limit: int, offset: int
) -> list[dict[str, Any]]:
    query = select(w.projects).order_by(w.projects.c.project_id)
    if approach_id is not None:
        query = query.where(w.projects.c.approach_id == approach_id)
    if state is not None:
        query = query.where(w.projects.c.state == state)
    return _with_data(_rows(engine, _page(query, limit, offset)))


def project(engine: Engine, project_id: str) -> dict[str, Any] | None:
    rows = _with_data(
        _rows(engine, select(w.projects).where(w.projects.c.project_id == project_id))
    )
    if not rows:
        return None
    reviews = _with_data(
        _rows(
            engine,
            select(w.reviews)
            .where(w.reviews.c.project_id == project_id)
            .order_by(w.reviews.c.review_round, w.reviews.c.organisation_id),
        )
    )
    return {**rows[0], "reviews": reviews}


def periods(engine: Engine, project_id: str, limit: int, offset: int) -> list[dict[str, Any]]:
    query = (
        select(w.monitoring_periods)
        .where(w.monitoring_periods.c.project_id == project_id)
        .order_by(w.monitoring_periods.c.period)
    )
    return _with_data(_rows(engine, _page(query, limit, offset)))


def period(engine: Engine, project_id: str, number: int) -> dict[str, Any] | None:
    rows = _with_data(
        _rows(
            engine,
            select(w.monitoring_periods).where(
                w.monitoring_periods.c.project_id == project_id,
                w.monitoring_periods.c.period == number,
            ),
        )
    )
    return rows[0] if rows else None


def journal(
    engine: Engine, after_seq: int, command: str | None, limit: int
) -> list[dict[str, Any]]:
    """Journal events after a sequence number (the cursor), oldest first."""
    query = (select(t.journal).where(t.journal.c.seq > after_seq).order_by(t.journal.c.seq)).limit(
        limit + 1
    )
    if command is not None:
        query = query.where(t.journal.c.command == command)
    rows = _rows(engine, query)
    for row in rows:
        row["body"] = json.loads(row["body"])
    return rows


def organisations(engine: Engine, limit: int, offset: int) -> list[dict[str, Any]]:
    query = select(w.organisations).order_by(w.organisations.c.organisation_id)
    return _rows(engine, _page(query, limit, offset))


def users(
    engine: Engine, organisation_id: str | None, limit: int, offset: int
) -> list[dict[str, Any]]:
    """Users without their password hashes."""
    query = select(
        w.users.c.user_id,
        w.users.c.organisation_id,
        w.users.c.name,
        w.users.c.roles,
        w.users.c.locale,
        w.users.c.active,
    ).order_by(w.users.c.user_id)
    if organisation_id is not None:
        query = query.where(w.users.c.organisation_id == organisation_id)
    rows = _rows(engine, _page(query, limit, offset))
    for row in rows:
        row["roles"] = json.loads(row["roles"])
    return rows


def agreement_ids(engine: Engine) -> list[str]:
    """Financing agreements, by identifier."""
    with engine.connect() as connection:
        return finance.agreement_ids(connection)
