"""Read models of the screens: projects, reviews, accounts, lineage, public totals.

They read projections only (never the journal's events) and return plain
frozen records; nothing here changes state.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select

from article6.domain import codec
from article6.domain.identifiers import itmo_id
from article6.domain.model import Approach, AuthorizationVersion, BlockState
from article6.domain.projects import REVIEW_QUESTIONS
from article6.services.projects import Proposal
from article6.store import tables as t
from article6.store import workflow_tables as w

PAGE_ROWS = 500  # rows shown on one screen; the registry exports the rest

ITMO_TEXT = re.compile(
    r"^\s*(?P<approach>CA\d{4})-(?P<registry>[A-Z]{3}\d{2})-(?P<party>[A-Z]{3})-"
    r"(?P<serial>\d{1,15})-(?P<vintage>\d{4})\s*$"
)


@dataclass(frozen=True)
class ProjectRow:
    project_id: str
    approach_id: str
    developer: str
    state: str
    title: str
    authorization_id: str | None


@dataclass(frozen=True)
class ReviewRow:
    organisation_id: str
    user_id: str
    verdicts: dict[str, str]
    comment: str


@dataclass(frozen=True)
class PeriodRow:
    period: int
    state: str
    verifier: str | None
    start: str | None
    end: str | None
    reductions_t: dict[str, int]
    verified_t: dict[str, int]
    opinion: str
    allocation: dict[str, dict[str, int]]
    data: dict[str, Any]


@dataclass(frozen=True)
class ProjectDetail:
    project_id: str
    approach_id: str
    developer: str
    state: str
    review_round: int
    authorization_id: str | None
    proposal: Proposal
    members: tuple[str, ...]
    reviews: tuple[ReviewRow, ...]
    periods: tuple[PeriodRow, ...]
    data: dict[str, Any]

    @property
    def pending_members(self) -> tuple[str, ...]:
        done = {r.organisation_id for r in self.reviews}
        return tuple(m for m in self.members if m not in done)


def projects(engine: Engine) -> list[ProjectRow]:
    with engine.connect() as connection:
        rows = connection.execute(select(w.projects).order_by(w.projects.c.project_id)).all()
    return [
        ProjectRow(
            r.project_id,
            r.approach_id,
            r.developer,
            r.state,
            json.loads(r.data).get("title", ""),
            r.authorization_id,
        )
        for r in rows[:PAGE_ROWS]
    ]


def project(engine: Engine, project_id: str) -> ProjectDetail | None:
    with engine.connect() as connection:
        row = connection.execute(
            select(w.projects).where(w.projects.c.project_id == project_id)
        ).first()
        if row is None:
            return None
        members = tuple(
            sorted(
                r.organisation_id
                for r in connection.execute(
                    select(w.working_group_members.c.organisation_id).where(
                        w.working_group_members.c.approach_id == row.approach_id
                    )
                )
            )
        )
        reviews = tuple(
            _review(r)
            for r in connection.execute(
                select(w.reviews)
                .where(
                    w.reviews.c.project_id == project_id,
                    w.reviews.c.review_round == row.review_round,
                )
                .order_by(w.reviews.c.seq)
            )
        )
        periods = tuple(
            _period(r)
            for r in connection.execute(
                select(w.monitoring_periods)
                .where(w.monitoring_periods.c.project_id == project_id)
                .order_by(w.monitoring_periods.c.period)
            )
        )
    data = json.loads(row.data)
    proposal_fields = {f for f in Proposal.__dataclass_fields__}
    proposal = Proposal.from_dict({k: v for k, v in data.items() if k in proposal_fields})
    return ProjectDetail(
        row.project_id,
        row.approach_id,
        row.developer,
        row.state,
        row.review_round,
        row.authorization_id,
        proposal,
        members,
        reviews,
        periods,
        data,
    )


def _review(row: Any) -> ReviewRow:
    data = json.loads(row.data)
    verdicts = data.get("verdicts", {})
    return ReviewRow(
        row.organisation_id,
        row.user_id,
        {q: str(verdicts.get(q, "")) for q in REVIEW_QUESTIONS},
        str(data.get("comment", "")),
    )


def _period(row: Any) -> PeriodRow:
    data = json.loads(row.data)
    return PeriodRow(
        row.period,
        row.state,
        row.verifier,
        data.get("start"),
        data.get("end"),
        {str(k): int(v) for k, v in data.get("reported_t", {}).items()},
        {str(k): int(v) for k, v in data.get("verified_t", {}).items()},
        str(data.get("opinion", "")),
        data.get("allocation", {}),
        data,
    )


@dataclass(frozen=True)
class AccountRow:
    account_id: str
    registry_id: str
    party: str
    kind: str
    holder: str
    name: str
    held_t: int


def accounts(engine: Engine, registry_id: str | None = None) -> list[AccountRow]:
    held = (
        select(t.balances.c.account_id, func.sum(t.balances.c.quantity_t).label("held_t"))
        .group_by(t.balances.c.account_id)
        .subquery()
    )
    query = (
        select(t.accounts, t.registries.c.party, held.c.held_t)
        .join(t.registries, t.registries.c.registry_id == t.accounts.c.registry_id)
        .outerjoin(held, held.c.account_id == t.accounts.c.account_id)
        .order_by(t.accounts.c.registry_id, t.accounts.c.account_id)
    )
    if registry_id is not None:
        query = query.where(t.accounts.c.registry_id == registry_id)
    with engine.connect() as connection:
        rows = connection.execute(query.limit(PAGE_ROWS)).all()
    return [
        AccountRow(
            r.account_id, r.registry_id, r.party, r.kind, r.holder, r.name, int(r.held_t or 0)
        )
        for r in rows
    ]


@dataclass(frozen=True)
class BlockRow:
    block_id: int
    parent_id: int | None
    account_id: str
    state: str
    first_serial: int
    last_serial: int
    first_id: str
    last_id: str
    quantity_t: int
    vintage: int
    approach_id: str
    first_transferred: bool
    authorization: str | None
    purpose: str | None
    use_year: int | None
    underlying_registry: str | None
    underlying_first: int | None


def _block(row: Any) -> BlockRow:
    ident = (row.approach_id, row.originating_registry, row.first_transferring_party)
    authorization = row.authorization_id
    if authorization is not None and row.authorization_version:
        authorization = f"{authorization} v{row.authorization_version}"
    return BlockRow(
        row.block_id,
        row.parent_id,
        row.account_id,
        row.state,
        row.first,
        row.last,
        itmo_id(*ident, row.first, row.vintage),
        itmo_id(*ident, row.last, row.vintage),
        row.last - row.first + 1,
        row.vintage,
        row.approach_id,
        bool(row.first_transferred),
        authorization,
        row.purpose,
        row.use_year,
        row.underlying_registry,
        row.underlying_first,
    )


def block(engine: Engine, block_id: int) -> BlockRow | None:
    with engine.connect() as connection:
        row = connection.execute(select(t.blocks).where(t.blocks.c.block_id == block_id)).first()
    return None if row is None else _block(row)


def lineage(engine: Engine, block_id: int) -> tuple[list[BlockRow], list[BlockRow]]:
    """The ancestors of a block, from the issued block down, and its direct children."""
    ancestors: list[BlockRow] = []
    with engine.connect() as connection:
        current = connection.execute(
            select(t.blocks).where(t.blocks.c.block_id == block_id)
        ).first()
        seen = 0
        while current is not None and current.parent_id is not None and seen < 10_000:
            current = connection.execute(
                select(t.blocks).where(t.blocks.c.block_id == current.parent_id)
            ).first()
            if current is not None:
                ancestors.append(_block(current))
            seen += 1
        children = [
            _block(r)
            for r in connection.execute(
                select(t.blocks).where(t.blocks.c.parent_id == block_id).order_by(t.blocks.c.first)
            )
        ]
    return list(reversed(ancestors)), children


def blocks_of(engine: Engine, account_id: str) -> list[BlockRow]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(t.blocks)
            .where(t.blocks.c.account_id == account_id, t.blocks.c.state != BlockState.SPLIT.value)
            .order_by(t.blocks.c.approach_id, t.blocks.c.vintage, t.blocks.c.first)
            .limit(PAGE_ROWS)
        ).all()
    return [_block(r) for r in rows]


@dataclass(frozen=True)
class LookupResult:
    identifier: str
    serial: int
    block: BlockRow | None
    registry_id: str | None


def parse_itmo_text(text: str) -> tuple[str, str, str, int, int] | None:
    """The five elements of a typed identifier, for lookup only; None if malformed."""
    match = ITMO_TEXT.match(text.upper())
    if match is None:
        return None
    return (
        match["approach"],
        match["registry"],
        match["party"],
        int(match["serial"]),
        int(match["vintage"]),
    )


def lookup_serial(engine: Engine, text: str) -> LookupResult | None:
    """The live block holding one ITMO, queried by its integer serial; None if malformed."""
    parsed = parse_itmo_text(text)
    if parsed is None:
        return None
    approach, registry, party, serial, vintage = parsed
    with engine.connect() as connection:
        row = connection.execute(
            select(t.blocks, t.accounts.c.registry_id)
            .join(t.accounts, t.accounts.c.account_id == t.blocks.c.account_id)
            .where(
                t.blocks.c.approach_id == approach,
                t.blocks.c.originating_registry == registry,
                t.blocks.c.first_transferring_party == party,
                t.blocks.c.vintage == vintage,
                t.blocks.c.first <= serial,
                t.blocks.c.last >= serial,
                t.blocks.c.state != BlockState.SPLIT.value,
            )
        ).first()
    identifier = itmo_id(approach, registry, party, serial, vintage)
    if row is None:
        return LookupResult(identifier, serial, None, None)
    return LookupResult(identifier, serial, _block(row), row.registry_id)


@dataclass(frozen=True)
class VintageTotals:
    approach_id: str
    vintage: int
    issued_t: int
    first_transferred_t: int
    used_t: int
    cancelled_t: int


def vintage_totals(engine: Engine) -> list[VintageTotals]:
    """Issued, first transferred, used and cancelled tonnes per approach and vintage."""
    with engine.connect() as connection:
        issued = {
            (r.approach_id, r.vintage): int(r.total)
            for r in connection.execute(
                select(
                    t.issuances.c.approach_id,
                    t.issuances.c.vintage,
                    func.sum(t.issuances.c.quantity_t).label("total"),
                ).group_by(t.issuances.c.approach_id, t.issuances.c.vintage)
            )
        }
        quantity = t.blocks.c.last - t.blocks.c.first + 1
        live = t.blocks.c.state != BlockState.SPLIT.value
        by_state: dict[tuple[str, int, str, bool], int] = {}
        for r in connection.execute(
            select(
                t.blocks.c.approach_id,
                t.blocks.c.vintage,
                t.blocks.c.state,
                t.blocks.c.first_transferred,
                func.sum(quantity).label("total"),
            )
            .where(live)
            .group_by(
                t.blocks.c.approach_id,
                t.blocks.c.vintage,
                t.blocks.c.state,
                t.blocks.c.first_transferred,
            )
        ):
            key = (r.approach_id, r.vintage, r.state, bool(r.first_transferred))
            by_state[key] = int(r.total)

    def total(approach: str, vintage: int, state: str | None, transferred: bool | None) -> int:
        return sum(
            q
            for (a, v, s, f), q in by_state.items()
            if a == approach
            and v == vintage
            and (state is None or s == state)
            and (transferred is None or f == transferred)
        )

    keys = sorted(set(issued) | {(a, v) for a, v, _s, _f in by_state})
    return [
        VintageTotals(
            approach,
            vintage,
            issued.get((approach, vintage), 0),
            total(approach, vintage, None, True),
            total(approach, vintage, BlockState.USED.value, None),
            total(approach, vintage, BlockState.CANCELLED.value, None),
        )
        for approach, vintage in keys
    ]


def approaches(engine: Engine) -> list[Approach]:
    with engine.connect() as connection:
        rows = connection.execute(select(t.approaches).order_by(t.approaches.c.approach_id)).all()
    return [codec.approach_from_dict(json.loads(r.data)) for r in rows]


def authorizations(engine: Engine) -> list[AuthorizationVersion]:
    """Every version of every authorization, latest last within each."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(t.authorizations.c.data).order_by(
                t.authorizations.c.authorization_id, t.authorizations.c.version
            )
        ).all()
    return [codec.authorization_from_dict(json.loads(r.data)) for r in rows]


def party_names(engine: Engine) -> dict[str, str]:
    with engine.connect() as connection:
        return {r.code: r.name for r in connection.execute(select(t.parties))}


def organisations(engine: Engine) -> dict[str, tuple[str, str | None, str]]:
    with engine.connect() as connection:
        return {
            r.organisation_id: (r.name, r.party, r.kind)
            for r in connection.execute(select(w.organisations))
        }


def registries(engine: Engine) -> list[tuple[str, str, str]]:
    with engine.connect() as connection:
        return [
            (r.registry_id, r.party, r.name)
            for r in connection.execute(select(t.registries).order_by(t.registries.c.registry_id))
        ]
