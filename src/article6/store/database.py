"""Engines and transactions for SQLite and PostgreSQL.

Every mutating command runs in one write transaction that first locks the
journal head: on SQLite an immediate transaction (the database write lock),
on PostgreSQL a row lock on the head. Two commands therefore never plan
against the same state, so no serial can be spent twice. Transient conflicts
(deadlock, serialization failure, a busy SQLite file) are retried.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Select, create_engine, event
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import NullPool

T = TypeVar("T")

RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "55P03"})
MAX_ATTEMPTS = 20
WRITE_TRANSACTION = "article6_write_transaction"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def _sqlite_engine(url: str) -> Engine:
    path = url.split("///", 1)[1] if "///" in url else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, poolclass=NullPool, connect_args={"timeout": 60})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy's BEGIN below decide
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # Writers take the database write lock at once; readers share the WAL snapshot.
        write = connection.get_execution_options().get(WRITE_TRANSACTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN DEFERRED")

    return engine


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError):
        sqlstate = getattr(exc.orig, "sqlstate", None)
        if sqlstate in RETRYABLE_SQLSTATES:
            return True
        if isinstance(exc, OperationalError) and "database is locked" in str(exc):
            return True
    return False


def run_transaction(engine: Engine, work: Callable[[Connection], T]) -> T:
    """Run `work` in one transaction, retrying transient conflicts; commit or roll back whole."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            with engine.connect() as connection:
                connection.execution_options(**{WRITE_TRANSACTION: True})
                with connection.begin():
                    return work(connection)
        except DBAPIError as exc:
            if attempt == MAX_ATTEMPTS or not is_retryable(exc):
                raise
            time.sleep(min(0.002 * 2**attempt, 0.5))
    raise RuntimeError("unreachable")


def stream_rows(
    connection: Connection, statement: Select[Any], batch: int = 5000
) -> Iterator[tuple[Any, ...]]:
    """The rows of a query as the driver's plain tuples, fetched `batch` at a time.

    For reads of whole tables (verify reads every event and every block): the
    driver's own cursor hands out tuples without a result row object each, which
    over a long journal costs more than hashing it. On PostgreSQL the cursor is
    server-side, so memory stays flat however long the journal. Values come as
    the driver gives them (SQLite booleans as 0 and 1). The connection's
    transaction is begun first, so every read of one check sees one snapshot.
    """
    if not connection.in_transaction():
        connection.begin()
    sql = str(statement.compile(dialect=connection.dialect))
    driver: Any = connection.connection.driver_connection
    if connection.dialect.driver == "psycopg":
        cursor = driver.cursor(name=f"article6_stream_{next(_STREAMS)}")
    else:
        cursor = driver.cursor()
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(batch):
            yield from rows
    finally:
        cursor.close()


_STREAMS = itertools.count(1)


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as connection:
        yield connection
