"""Engines and transactions for SQLite and PostgreSQL.

Every mutating command runs in one write transaction that first locks the
journal head: on SQLite an immediate transaction (the database write lock),
on PostgreSQL a row lock on the head. Two commands therefore never plan
against the same state, so no serial can be spent twice. Transient conflicts
(deadlock, serialization failure, a busy SQLite file) are retried.

SQLite writers of one process also queue, first come first served, on a lock
of the engine before they ask for the database write lock, and the writers of
several processes (the workers of one server) then take turns on a file lock
beside the database. SQLite's own busy handler polls with sleeps that grow to
a tenth of a second, so under load a waiting writer can lose the race again and
again (seconds of latency) while its pooled connection idles; the queue hands
the lock straight to the next writer of the process, and the file lock is
polled at most a millisecond apart. SQLite's lock stays the authority: a writer
that has waited longer than the busy timeout goes on to ask SQLite directly.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import sqlite3
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Select, create_engine, event
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import NullPool, QueuePool

T = TypeVar("T")

RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "55P03"})
MAX_ATTEMPTS = 20
WRITE_TRANSACTION = "article6_write_transaction"
SQLITE_BUSY_TIMEOUT_S = 60
# Opening a SQLite connection and setting its pragmas costs about as much as a
# small query, so connections are kept: enough for every worker thread of a
# server (40 by default) without opening and closing under load.
SQLITE_POOL_SIZE = 20
SQLITE_MAX_OVERFLOW = 30


class WriterQueue:
    """A lock that is handed to waiting threads in the order they asked for it."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiters: deque[threading.Lock] = deque()
        self._held = False

    def acquire(self, timeout: float) -> bool:
        """Wait at most `timeout` seconds for the lock; True if it is now held."""
        with self._mutex:
            if not self._held:
                self._held = True
                return True
            turn = threading.Lock()
            turn.acquire()
            self._waiters.append(turn)
        if turn.acquire(timeout=timeout):
            return True
        with self._mutex:
            if turn in self._waiters:
                self._waiters.remove(turn)
                return False
        return True  # handed over just as the wait timed out

    def release(self) -> None:
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().release()  # the next writer holds it now
            else:
                self._held = False


class ProcessWriterLock:
    """An exclusive lock on a file beside the database, for the writers of every process.

    One thread of a process at a time asks for it (the engine's WriterQueue
    comes first). The file is opened by each process for itself, so a forked
    child never shares its parent's lock; the operating system releases the lock
    of a process that ends, however it ends.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd = -1
        self._pid = -1

    def acquire(self, timeout: float) -> bool:
        """Wait at most `timeout` seconds for the lock; True if it is now held."""
        if self._pid != os.getpid():
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
            weakref.finalize(self, os.close, self._fd)  # closed with its engine
        deadline = time.monotonic() + timeout
        delay = 0.0001
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
            time.sleep(delay)
            delay = min(delay * 2, 0.001)

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)


class WriterLocks:
    """The in-process queue, then the lock shared with other processes."""

    def __init__(self, database: Path) -> None:
        self.queue = WriterQueue()
        self.process = ProcessWriterLock(database.with_name(database.name + "-writer"))

    def acquire(self, timeout: float) -> tuple[bool, bool]:
        queued = self.queue.acquire(timeout)
        return queued, queued and self.process.acquire(timeout)

    def release(self, queued: bool, locked: bool) -> None:
        if locked:
            self.process.release()
        if queued:
            self.queue.release()


_WRITER_LOCKS: weakref.WeakKeyDictionary[Engine, WriterLocks] = weakref.WeakKeyDictionary()


# With checkpoints taken in the background, a commit copies the WAL back into the
# database itself only past this many pages (a backstop should the background stop).
BACKGROUND_CHECKPOINT_BACKSTOP_PAGES = 20_000


def make_engine(url: str, background_checkpoints: bool = False) -> Engine:
    """An engine on `url`. `background_checkpoints` (SQLite files, for servers): commits
    leave the WAL to a `WalCheckpointer` instead of copying it back themselves."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url, background_checkpoints)
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def _sqlite_engine(url: str, background_checkpoints: bool) -> Engine:
    path = url.split("///", 1)[1] if "///" in url else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}
    if path and path != ":memory:":
        engine = create_engine(
            url,
            poolclass=QueuePool,
            pool_size=SQLITE_POOL_SIZE,
            max_overflow=SQLITE_MAX_OVERFLOW,
            connect_args=connect_args,
        )
        _WRITER_LOCKS[engine] = WriterLocks(Path(path))
    else:
        engine = create_engine(url, poolclass=NullPool, connect_args=connect_args)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy's BEGIN below decide
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        if background_checkpoints:
            cursor.execute(f"PRAGMA wal_autocheckpoint={BACKGROUND_CHECKPOINT_BACKSTOP_PAGES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # Writers take the database write lock at once; readers share the WAL snapshot.
        write = connection.get_execution_options().get(WRITE_TRANSACTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN DEFERRED")

    return engine


class WalCheckpointer:
    """Copies a SQLite file's write-ahead log back into the database, off the commit path.

    By default the commit that makes the log pass 1,000 pages copies it back and
    waits for the disk, holding the write lock all the while: every writer behind
    it waits too, a fifth of a second under load. Here a thread of its own does
    it every `every_s` seconds, in SQLite's passive mode, which waits for no
    reader and no writer. On other databases it does nothing.
    """

    def __init__(self, engine: Engine, every_s: float = 0.25) -> None:
        self._engine = engine
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last: tuple[int, int, int] | None = None  # the thread's latest checkpoint
        database = engine.url.database
        self._active = engine.dialect.name == "sqlite" and database not in (None, "", ":memory:")

    def start(self) -> None:
        if self._active and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def checkpoint(self) -> tuple[int, int, int]:
        """One passive checkpoint: (busy, log pages, pages copied back), as SQLite says."""
        connection = self._engine.raw_connection()  # no transaction: a checkpoint needs none
        try:
            cursor = connection.cursor()
            busy, pages, copied = cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            cursor.close()
            return int(busy), int(pages), int(copied)
        finally:
            connection.close()

    def _run(self) -> None:
        while not self._stop.wait(self._every_s):
            # Busy or locked: the next turn tries again, and commits have a backstop.
            with contextlib.suppress(sqlite3.Error):
                self.last = self.checkpoint()


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
    locks = _WRITER_LOCKS.get(engine)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        queued, locked = (False, False) if locks is None else locks.acquire(SQLITE_BUSY_TIMEOUT_S)
        try:
            with engine.connect() as connection:
                connection.execution_options(**{WRITE_TRANSACTION: True})
                with connection.begin():
                    return work(connection)
        except DBAPIError as exc:
            if attempt == MAX_ATTEMPTS or not is_retryable(exc):
                raise
        finally:
            if locks is not None:
                locks.release(queued, locked)
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
    """A connection whose reads all see the database as it was at the first read.

    A check that reads the journal, then the blocks, must not see a transfer
    committed in between: PostgreSQL gives one snapshot per transaction only
    at REPEATABLE READ; SQLite's deferred transaction keeps its first snapshot.
    """
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            yield connection
