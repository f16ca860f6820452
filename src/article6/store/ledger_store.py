"""Reads and writes of the registry inside one write transaction.

`LedgerTransaction` locks the journal head when it opens, hands out block and
issuance ids, appends events to the chain and applies block operations to the
projections. Services use it; nothing else writes these tables.

A command's writes (events, block rows, balances, the new head) are queued and
sent together before the next read and at `close`: on PostgreSQL in one
pipeline, so a transfer waits for the network once for all of them instead of
once per statement. Every read goes through `connection`, which sends the queue
first, so a command always reads its own writes.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import psycopg
from sqlalchemy import (
    BigInteger,
    Connection,
    Executable,
    Insert,
    Select,
    Table,
    and_,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Compiled
from sqlalchemy.exc import DBAPIError

from article6.domain import codec
from article6.domain.blocks import (
    BLOCK_FIELDS,
    CreateBlock,
    MoveBlock,
    Op,
    SplitBlock,
    block_from_dict,
    block_to_dict,
    move,
    split,
)
from article6.domain.errors import InvariantViolation
from article6.domain.journal import GENESIS_HASH, Event, canonical, chain_hash, event_body
from article6.domain.model import (
    Account,
    Approach,
    AuthorizationVersion,
    Block,
    BlockState,
    Entity,
    Issuance,
    Party,
    Purpose,
    Registry,
)
from article6.store import tables as t

BLOCK_COLUMNS = [t.blocks.c[name] for name in BLOCK_FIELDS]
# A transfer reads held blocks a page at a time until they cover its quantity:
# first this many, then eight times as many each time.
FIRST_PAGE_BLOCKS = 64


def ensure_head(connection: Connection) -> None:
    exists = connection.execute(select(t.journal_head.c.id)).first()
    if exists is None:
        connection.execute(
            insert(t.journal_head).values(
                id=1, seq=0, hash=GENESIS_HASH, next_block_id=1, next_issuance_id=1
            )
        )


def row_to_block(row: Any) -> Block:
    return block_from_dict(dict(zip(BLOCK_FIELDS, row, strict=True)))


class LedgerTransaction:
    """The write side of one command, inside an open transaction."""

    def __init__(
        self, connection: Connection, actor_id: str, clock: datetime | None = None
    ) -> None:
        self._connection = connection
        self._pending: list[tuple[Executable, Any]] = []
        self._direct = _Direct(connection) if connection.dialect.driver == "psycopg" else None
        self._accounts: dict[str, Account] = {}
        self.actor_id = actor_id
        self.recorded_at = (clock or datetime.now(UTC)).isoformat(timespec="microseconds")
        heads = self._read(_LOCK_HEAD)
        if not heads:
            raise InvariantViolation("the database has no journal head: run `article6 db upgrade`")
        head = heads[0]
        self.seq: int = head[1]
        self.hash: str = head[2]
        self._next_block_id: int = head[3]
        self._next_issuance_id: int = head[4]
        self.events: list[Event] = []

    # --- the connection and queued writes -----------------------------------

    @property
    def connection(self) -> Connection:
        """The open connection, once every queued write has been sent."""
        self.flush()
        return self._connection

    def write(self, statement: Executable, parameters: Any = None) -> None:
        """Queue a write that returns nothing; it is sent before the next read.

        The statement should be built once (a module constant), with plain bound
        parameters (no expanding IN lists): on PostgreSQL it is compiled once for
        the driver and reused.
        """
        self._pending.append((statement, parameters))

    def flush(self) -> None:
        """Send the queued writes in order; on PostgreSQL as one pipeline.

        A failed statement fails the whole command as it would have unqueued:
        the driver's error is raised as SQLAlchemy's (so deadlocks are still
        retried) and the transaction rolls back.
        """
        pending, self._pending = self._pending, []
        if self._direct is not None:
            self._direct.write(pending)
            return
        for statement, parameters in pending:
            self._connection.execute(statement, parameters)

    def _read(self, statement: Executable, parameters: Any = None) -> list[tuple[Any, ...]]:
        """Rows of a hot read, as tuples in the statement's column order."""
        self.flush()
        if self._direct is not None:
            return self._direct.read(statement, parameters)
        return [tuple(row) for row in self._connection.execute(statement, parameters)]

    # --- ids and the chain -------------------------------------------------

    def next_block_id(self) -> int:
        value = self._next_block_id
        self._next_block_id += 1
        return value

    def next_issuance_id(self) -> int:
        value = self._next_issuance_id
        self._next_issuance_id += 1
        return value

    def append(self, command: str, registry_id: str | None, payload: dict[str, Any]) -> Event:
        seq = self.seq + 1
        body = event_body(seq, command, registry_id, self.actor_id, self.recorded_at, payload)
        event = Event(
            seq,
            command,
            registry_id,
            self.actor_id,
            self.recorded_at,
            payload,
            self.hash,
            chain_hash(self.hash, body),
        )
        self.write(
            _INSERT_EVENT,
            {
                "seq": event.seq,
                "command": command,
                "registry_id": registry_id,
                "actor": self.actor_id,
                "recorded_at": self.recorded_at,
                "body": body.decode("utf-8"),
                "prev_hash": event.prev_hash,
                "hash": event.hash,
            },
        )
        self.seq, self.hash = event.seq, event.hash
        self.events.append(event)
        return event

    def close(self) -> None:
        """Store the new head and send every queued write; call once, after the last append."""
        self.write(
            _UPDATE_HEAD,
            {
                "h_seq": self.seq,
                "h_hash": self.hash,
                "h_block": self._next_block_id,
                "h_issuance": self._next_issuance_id,
            },
        )
        self.flush()

    # --- reference data ---------------------------------------------------------

    def party(self, code: str) -> Party | None:
        row = self.connection.execute(select(t.parties).where(t.parties.c.code == code)).first()
        return None if row is None else Party(code=row.code, name=row.name)

    def registry(self, registry_id: str) -> Registry | None:
        row = self.connection.execute(
            select(t.registries).where(t.registries.c.registry_id == registry_id)
        ).first()
        return None if row is None else Registry(**row._asdict())

    def entity(self, entity_id: str) -> Entity | None:
        row = self.connection.execute(
            select(t.entities).where(t.entities.c.entity_id == entity_id)
        ).first()
        return None if row is None else Entity(**row._asdict())

    def account(self, account_id: str) -> Account | None:
        return self.accounts(account_id).get(account_id)

    def accounts(self, *account_ids: str) -> dict[str, Account]:
        """The named accounts that exist, read in one query.

        Accounts never change once opened, so the transaction keeps those it has
        read; one it did not find is asked for again next time.
        """
        missing = [a for a in dict.fromkeys(account_ids) if a not in self._accounts]
        if missing:
            statement = _SELECT_ACCOUNTS.get(len(missing))
            if statement is None:
                statement = select(t.accounts).where(
                    t.accounts.c.account_id.in_([bindparam(f"a{i}") for i in range(len(missing))])
                )
                if len(missing) <= 4:
                    _SELECT_ACCOUNTS[len(missing)] = statement
            rows = self._read(statement, {f"a{i}": a for i, a in enumerate(missing)})
            for row in rows:
                account = codec.account_from_dict(dict(zip(_ACCOUNT_FIELDS, row, strict=True)))
                self._accounts[account.account_id] = account
        return {a: self._accounts[a] for a in account_ids if a in self._accounts}

    def approach(self, approach_id: str) -> Approach | None:
        row = self.connection.execute(
            select(t.approaches.c.data).where(t.approaches.c.approach_id == approach_id)
        ).first()
        return None if row is None else codec.approach_from_dict(json.loads(row.data))

    def authorization_versions(self, authorization_id: str) -> list[AuthorizationVersion]:
        rows = self.connection.execute(
            select(t.authorizations.c.data)
            .where(t.authorizations.c.authorization_id == authorization_id)
            .order_by(t.authorizations.c.version)
        ).all()
        return [codec.authorization_from_dict(json.loads(r.data)) for r in rows]

    def usage(self, authorization_id: str) -> dict[Purpose, int]:
        rows = self.connection.execute(
            select(t.authorization_usage).where(
                t.authorization_usage.c.authorization_id == authorization_id
            )
        ).all()
        return {Purpose(r.purpose): r.quantity_t for r in rows}

    def insert_party(self, party: Party) -> None:
        self.connection.execute(insert(t.parties).values(codec.party_to_dict(party)))

    def insert_registry(self, registry: Registry) -> None:
        self.connection.execute(insert(t.registries).values(codec.registry_to_dict(registry)))

    def insert_entity(self, entity: Entity) -> None:
        self.connection.execute(insert(t.entities).values(codec.entity_to_dict(entity)))

    def insert_account(self, account: Account) -> None:
        self.connection.execute(insert(t.accounts).values(codec.account_to_dict(account)))

    def insert_approach(self, approach: Approach) -> None:
        data = canonical(codec.approach_to_dict(approach)).decode()
        self.connection.execute(
            insert(t.approaches).values(
                approach_id=approach.approach_id, host_party=approach.host_party, data=data
            )
        )

    def insert_authorization(self, version: AuthorizationVersion, seq: int) -> None:
        self.connection.execute(
            insert(t.authorizations).values(
                authorization_id=version.authorization_id,
                version=version.version,
                approach_id=version.approach_id,
                effective_from=version.effective_from,
                revoked=version.revoked,
                data=canonical(codec.authorization_to_dict(version)).decode(),
                seq=seq,
            )
        )

    # --- serials and issuances -----------------------------------------------

    def reserve_serials(
        self, approach_id: str, registry_id: str, party: str, vintage: int, quantity_t: int
    ) -> tuple[int, int]:
        key = and_(
            t.serial_counters.c.approach_id == approach_id,
            t.serial_counters.c.registry_id == registry_id,
            t.serial_counters.c.party == party,
            t.serial_counters.c.vintage == vintage,
        )
        row = self.connection.execute(select(t.serial_counters.c.last_serial).where(key)).first()
        first = 1 if row is None else row.last_serial + 1
        last = first + quantity_t - 1
        if row is None:
            self.connection.execute(
                insert(t.serial_counters).values(
                    approach_id=approach_id,
                    registry_id=registry_id,
                    party=party,
                    vintage=vintage,
                    last_serial=last,
                )
            )
        else:
            self.connection.execute(update(t.serial_counters).where(key).values(last_serial=last))
        return first, last

    def insert_issuance(self, issuance: Issuance, seq: int) -> None:
        self.connection.execute(
            insert(t.issuances).values(**codec.issuance_to_dict(issuance), seq=seq)
        )

    # --- blocks -------------------------------------------------------------------

    def held_blocks(
        self,
        account_id: str,
        approach_id: str | None = None,
        vintage: int | None = None,
        *,
        first_transferred: bool | None = None,
        authorization_id: str | None = None,
        authorized: bool | None = None,
        containing: tuple[int, int] | None = None,
        enough_t: int | None = None,
        limit: int | None = None,
    ) -> list[Block]:
        """Held blocks in selection order (vintage, issuance, first serial).

        With `enough_t`, only the shortest prefix that covers that quantity (or
        every block, if they do not), read a page at a time in index order: a
        transfer from an account fragmented into many thousand blocks reads the
        few it takes, not all of them.
        """
        if enough_t is not None:
            size = FIRST_PAGE_BLOCKS
            while True:
                page = self.held_blocks(
                    account_id,
                    approach_id,
                    vintage,
                    first_transferred=first_transferred,
                    authorization_id=authorization_id,
                    authorized=authorized,
                    containing=containing,
                    limit=size if limit is None else min(size, limit),
                )
                covered = 0
                for count, block in enumerate(page, start=1):
                    covered += block.quantity_t
                    if covered >= enough_t:
                        return page[:count]
                if len(page) < size or (limit is not None and size >= limit):
                    return page
                size *= 8
        filters: dict[str, Any] = {
            "approach_id": approach_id,
            "vintage": vintage,
            "first_transferred": first_transferred,
            "authorization_id": authorization_id,
        }
        parameters = {name: value for name, value in filters.items() if value is not None}
        if containing is not None:
            parameters["containing_first"], parameters["containing_last"] = containing
        if limit is not None:
            parameters["limit"] = limit
        statement = _held_statement(tuple(sorted(parameters)), authorized)
        parameters["account_id"] = account_id
        return [row_to_block(r) for r in self._read(statement, parameters)]

    def blocks_by_id(self, block_ids: Iterable[int]) -> dict[int, Block]:
        ids = sorted(set(block_ids))
        found: dict[int, Block] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = self.connection.execute(
                select(*BLOCK_COLUMNS).where(t.blocks.c.block_id.in_(chunk))
            )
            found.update((b.block_id, b) for b in map(row_to_block, rows))
        return found

    def apply_ops(self, ops: Sequence[Op], known: dict[int, Block], seq: int) -> list[Block]:
        """Apply block operations to the projections; returns the blocks that moved.

        `known` must hold every pre-existing block the ops touch; it is updated.
        """
        created: dict[int, Block] = {}
        changed: dict[int, Block] = {}
        moved: list[Block] = []
        deltas: dict[tuple[str, str, int], int] = defaultdict(int)

        def current(block_id: int) -> Block:
            return created.get(block_id) or changed.get(block_id) or known[block_id]

        def store(block: Block) -> None:
            (created if block.block_id in created else changed)[block.block_id] = block

        for op in ops:
            if isinstance(op, CreateBlock):
                created[op.block.block_id] = op.block
                deltas[(op.block.account_id, op.block.approach_id, op.block.vintage)] += (
                    op.block.quantity_t
                )
            elif isinstance(op, SplitBlock):
                parent = current(op.parent_id)
                low, high = split(parent, op.at, op.low_id, op.high_id)
                store(replace(parent, state=BlockState.SPLIT))
                created[low.block_id], created[high.block_id] = low, high
            elif isinstance(op, MoveBlock):
                block = current(op.block_id)
                after = move(block, op.to_account, op.changes)
                store(after)
                moved.append(after)
                deltas[(op.from_account, block.approach_id, block.vintage)] -= block.quantity_t
                deltas[(op.to_account, block.approach_id, block.vintage)] += block.quantity_t
        known.update(created)
        known.update(changed)
        if created:
            self.write(
                _INSERT_BLOCK,
                [{**block_to_dict(b), "updated_seq": seq} for b in created.values()],
            )
        if changed:
            self.write(
                _UPDATE_BLOCK,
                [
                    {
                        "b_id": b.block_id,
                        "b_account": b.account_id,
                        "b_state": b.state.value,
                        "b_ft": b.first_transferred,
                        "b_av": b.authorization_version,
                        "b_purpose": None if b.purpose is None else b.purpose.value,
                        "b_use_year": b.use_year,
                        "b_seq": seq,
                    }
                    for b in changed.values()
                ],
            )
        self._write_balances(deltas)
        return moved

    def _write_balances(self, deltas: dict[tuple[str, str, int], int]) -> None:
        """Add the deltas to the balances (insert, or add on conflict), rows in key order."""
        rows = [
            {"account_id": a, "approach_id": p, "vintage": v, "quantity_t": delta}
            for (a, p, v), delta in sorted(deltas.items())
            if delta != 0
        ]
        if rows:
            self.write(_upsert(self._connection.dialect.name, _BALANCES_KEY), rows)

    def add_usage(self, authorization_id: str, purpose: Purpose, quantity_t: int) -> None:
        """Add first-transferred tonnes to an authorization's usage (insert, or add on conflict)."""
        self.write(
            _upsert(self._connection.dialect.name, _USAGE_KEY),
            {
                "authorization_id": authorization_id,
                "purpose": purpose.value,
                "quantity_t": quantity_t,
            },
        )


_LOCK_HEAD = select(t.journal_head).where(t.journal_head.c.id == 1).with_for_update()

_UPDATE_HEAD = (
    update(t.journal_head)
    .where(t.journal_head.c.id == 1)
    .values(
        seq=bindparam("h_seq"),
        hash=bindparam("h_hash"),
        next_block_id=bindparam("h_block"),
        next_issuance_id=bindparam("h_issuance"),
    )
)

_INSERT_EVENT = insert(t.journal)

_ACCOUNT_FIELDS = tuple(t.accounts.c.keys())

_INSERT_BLOCK = insert(t.blocks)

# Account reads by number of ids (the common one and two are built once).
_SELECT_ACCOUNTS: dict[int, Select[Any]] = {}

# Held-block reads by the filters they use (a handful of shapes), built once each.
_HELD_STATEMENTS: dict[tuple[tuple[str, ...], bool | None], Select[Any]] = {}


def _held_statement(filters: tuple[str, ...], authorized: bool | None) -> Select[Any]:
    """The held-blocks query for one set of filters, with every value a bound parameter."""
    key = (filters, authorized)
    statement = _HELD_STATEMENTS.get(key)
    if statement is not None:
        return statement
    c = t.blocks.c
    conditions = [c.account_id == bindparam("account_id"), c.state == BlockState.HELD.value]
    for name in ("approach_id", "vintage", "first_transferred", "authorization_id"):
        if name in filters:
            conditions.append(c[name] == bindparam(name))
    if authorized is not None:
        conditions.append(
            c.authorization_id.is_not(None) if authorized else c.authorization_id.is_(None)
        )
    if "containing_first" in filters:
        conditions += [
            c.first <= bindparam("containing_first"),
            c.last >= bindparam("containing_last"),
        ]
    statement = (
        select(*BLOCK_COLUMNS).where(*conditions).order_by(c.vintage, c.issuance_id, c.first)
    )
    if "limit" in filters:
        statement = statement.limit(bindparam("limit", type_=BigInteger))
    _HELD_STATEMENTS[key] = statement
    return statement


_BALANCES_KEY = (t.balances, ("account_id", "approach_id", "vintage"))
_USAGE_KEY = (t.authorization_usage, ("authorization_id", "purpose"))
_UPSERTS: dict[tuple[str, str], Insert] = {}


class _Direct:
    """Statements run on the psycopg connection itself, compiled once each.

    A transfer runs eight statements, and SQLAlchemy's work around each one
    (compiled-cache lookup, parameter and result objects) takes longer than
    PostgreSQL takes to run it. The ledger's hot statements are therefore
    compiled once per parameter names into the driver's SQL and run on its
    cursor; the queued writes go as one pipeline. Driver errors are raised as
    SQLAlchemy's, so conflicts are still retried and constraint errors keep
    their type. Parameters go through their types' conversions as SQLAlchemy
    would send them; statements with expanding IN lists cannot go this way.
    """

    def __init__(self, connection: Connection) -> None:
        self._dialect = connection.dialect
        driver: Any = connection.connection.driver_connection
        self._driver = driver
        self._cursor: Any = driver.cursor()

    def read(self, statement: Executable, parameters: Any) -> list[tuple[Any, ...]]:
        sql, bind = self._compiled(statement, parameters)
        try:
            self._cursor.execute(sql, bind(parameters))
            return self._cursor.fetchall()  # type: ignore[no-any-return]
        except psycopg.Error as exc:
            raise self._error(sql, exc) from exc

    def write(self, pending: list[tuple[Executable, Any]]) -> None:
        if not pending:
            return
        try:
            with self._driver.pipeline():
                for statement, parameters in pending:
                    sql, bind = self._compiled(statement, parameters)
                    if isinstance(parameters, list):
                        self._cursor.executemany(sql, [bind(p) for p in parameters])
                    else:
                        self._cursor.execute(sql, bind(parameters))
        except psycopg.Error as exc:
            raise self._error(None, exc) from exc

    def _compiled(self, statement: Executable, parameters: Any) -> tuple[str, _Bind]:
        """The SQL text and the parameter builder for this statement and these names."""
        first = parameters[0] if isinstance(parameters, list) else parameters
        keys = tuple(first or ())
        key = (id(statement), keys)
        found = _COMPILED.get(key)
        if found is None or found[0] is not statement:
            compiled = statement.compile(  # type: ignore[attr-defined]
                dialect=self._dialect, column_keys=list(keys)
            )
            found = (statement, compiled.string, _binder(compiled))
            if len(_COMPILED) >= _COMPILED_MAX:
                _COMPILED.clear()  # statements built on the fly must not pile up
            _COMPILED[key] = found
        return found[1], found[2]

    def _error(self, sql: str | None, exc: psycopg.Error) -> Exception:
        return DBAPIError.instance(sql, None, exc, psycopg.Error, dialect=self._dialect)


_Bind = Callable[[Any], dict[str, Any]]


def _binder(compiled: Compiled) -> _Bind:
    """Parameters as SQLAlchemy would send them: bound literals filled in, then each
    value through its type's conversion (booleans are checked to be booleans)."""
    processors = dict(compiled._bind_processors)  # type: ignore[attr-defined]

    def bind(parameters: Any) -> dict[str, Any]:
        values: dict[str, Any] = compiled.construct_params(parameters)  # type: ignore[assignment]
        for name, process in processors.items():
            if name in values:
                values[name] = process(values[name])
        return values

    return bind


# Compiled statements by (statement, parameter names); statements are module constants.
_COMPILED: dict[tuple[int, tuple[str, ...]], tuple[Executable, str, _Bind]] = {}
_COMPILED_MAX = 256


def _upsert(dialect: str, key: tuple[Table, tuple[str, ...]]) -> Insert:
    """INSERT ... ON CONFLICT (key) DO UPDATE quantity_t += new, for many rows at once."""
    table, columns = key
    cached = _UPSERTS.get((dialect, table.name))
    if cached is not None:
        return cached
    if dialect == "postgresql":
        base: Any = postgresql.insert(table)
    elif dialect == "sqlite":
        base = sqlite.insert(table)
    else:
        raise InvariantViolation(f"the {table.name} upsert is not written for {dialect}")
    statement: Insert = base.on_conflict_do_update(
        index_elements=[table.c[name] for name in columns],
        set_={"quantity_t": table.c.quantity_t + base.excluded.quantity_t},
    )
    _UPSERTS[(dialect, table.name)] = statement
    return statement


_UPDATE_BLOCK = (
    update(t.blocks)
    .where(t.blocks.c.block_id == bindparam("b_id"))
    .values(
        account_id=bindparam("b_account"),
        state=bindparam("b_state"),
        first_transferred=bindparam("b_ft"),
        authorization_version=bindparam("b_av"),
        purpose=bindparam("b_purpose"),
        use_year=bindparam("b_use_year"),
        updated_seq=bindparam("b_seq"),
    )
)
