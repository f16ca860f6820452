"""The SQLite writer queue: first come, first served; a timed-out wait leaves no trace.

And through it, many threads of one process writing at once to one SQLite
file: every command commits exactly once and the journal stays whole. The
file lock that the writers of several processes take turns on excludes other
processes, and several processes transferring at once lose nothing either.
"""

from __future__ import annotations

import gc
import multiprocessing
import multiprocessing.synchronize
import os
import threading
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from sqlalchemy import Engine

from article6.domain.model import Account, AccountKind
from article6.domain.permissions import Actor
from article6.services import actions, identity, queries, setup
from article6.services.reference_workflow import APPROACH_ID, load_reference_workflow
from article6.services.verify import verify
from article6.store.database import (
    BACKGROUND_CHECKPOINT_BACKSTOP_PAGES,
    ProcessWriterLock,
    WalCheckpointer,
    WriterQueue,
    make_engine,
    run_transaction,
)
from article6.store.migrate import upgrade

WAIT_S = 30.0


def _wait_until(condition: Callable[[], bool]) -> None:
    event = threading.Event()
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "waited too long"
        event.wait(0.001)


def test_waiting_threads_get_the_lock_in_arrival_order() -> None:
    queue = WriterQueue()
    assert queue.acquire(WAIT_S)
    order: list[int] = []

    def writer(number: int) -> None:
        assert queue.acquire(WAIT_S)
        order.append(number)
        queue.release()

    threads = []
    for number in range(6):
        thread = threading.Thread(target=writer, args=(number,))
        thread.start()
        threads.append(thread)
        _wait_until(lambda n=number: len(queue._waiters) == n + 1)
    queue.release()
    for thread in threads:
        thread.join(WAIT_S)
    assert order == list(range(6))
    assert queue.acquire(0.0), "the last release must leave the lock free"


def test_a_timed_out_wait_leaves_the_queue_as_it_was() -> None:
    queue = WriterQueue()
    assert queue.acquire(WAIT_S)
    assert not queue.acquire(0.0)
    assert not queue._waiters
    queue.release()
    assert queue.acquire(0.0)


def _registry_with_account(tmp_path: Path, account_id: str) -> Engine:
    """The reference case in a SQLite file, with a second Korean holding account."""
    engine = make_engine(f"sqlite:///{tmp_path / 'registry.db'}")
    upgrade(engine)
    cast = load_reference_workflow(engine, tmp_path / "keys")
    setup.open_account(
        engine,
        actor=cast["kor-registry"],
        account=Account(account_id, "KOR01", AccountKind.HOLDING, "KOR", account_id),
    )
    return engine


def _transfer_one(engine: Engine, actor: Actor, to_account: str) -> int:
    receipt = actions.transfer(
        engine,
        actor=actor,
        from_account="KOR01-HOLDING",
        to_account=to_account,
        selection=actions.Selection(APPROACH_ID, 2025, 1),
        action_date=date(2026, 6, 1),
    )
    return receipt.seq


def _held_by(engine: Engine, account_id: str) -> int:
    return sum(
        r.quantity_t for r in queries.holdings(engine, "KOR01") if r.account_id == account_id
    )


def test_threads_of_one_process_transfer_at_once_without_loss(tmp_path: Path) -> None:
    engine = _registry_with_account(tmp_path, "KOR01-THREADS")
    actor = identity.load_actor(engine, "kor-registry")
    threads, per_thread = 8, 5
    errors: list[BaseException] = []
    seqs: list[int] = []

    def transfers() -> None:
        try:
            for _ in range(per_thread):
                seqs.append(_transfer_one(engine, actor, "KOR01-THREADS"))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    workers = [threading.Thread(target=transfers) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert errors == []
    assert len(set(seqs)) == threads * per_thread, "every transfer has its own journal entry"
    assert _held_by(engine, "KOR01-THREADS") == threads * per_thread
    assert verify(engine).ok
    engine.dispose()


def _hold_lock(
    path: Path, held: multiprocessing.synchronize.Event, done: multiprocessing.synchronize.Event
) -> None:
    lock = ProcessWriterLock(path)
    assert lock.acquire(WAIT_S)
    held.set()
    done.wait(WAIT_S)
    lock.release()


def test_the_process_lock_excludes_another_process_until_released(tmp_path: Path) -> None:
    path = tmp_path / "registry.db-writer"
    context = multiprocessing.get_context("spawn")
    held, done = context.Event(), context.Event()
    holder = context.Process(target=_hold_lock, args=(path, held, done))
    holder.start()
    try:
        assert held.wait(WAIT_S)
        lock = ProcessWriterLock(path)
        assert not lock.acquire(0.05), "another process holds the lock"
        done.set()
        assert lock.acquire(WAIT_S), "released when the holder lets go"
        lock.release()
    finally:
        done.set()
        holder.join(WAIT_S)


def _transfer_from_a_process(url: str, count: int) -> None:
    engine = make_engine(url)
    actor = identity.load_actor(engine, "kor-registry")
    for _ in range(count):
        _transfer_one(engine, actor, "KOR01-PROCESSES")
    engine.dispose()


def test_processes_transfer_at_once_without_loss(tmp_path: Path) -> None:
    engine = _registry_with_account(tmp_path, "KOR01-PROCESSES")
    url = str(engine.url)
    processes, per_process = 4, 10
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_transfer_from_a_process, args=(url, per_process))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert [worker.exitcode for worker in workers] == [0] * processes
    assert _held_by(engine, "KOR01-PROCESSES") == processes * per_process
    assert verify(engine).ok
    engine.dispose()


def test_a_server_engine_leaves_the_write_ahead_log_to_the_checkpointer(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'registry.db'}", background_checkpoints=True)
    upgrade(engine)
    with engine.connect() as connection:
        backstop = connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one()
    assert backstop == BACKGROUND_CHECKPOINT_BACKSTOP_PAGES, "commits no longer copy the log back"
    load_reference_workflow(engine, tmp_path / "keys")  # writes enough to fill the log
    checkpointer = WalCheckpointer(engine, every_s=0.01)
    checkpointer.start()
    try:
        _wait_until(lambda: _log_copied_back(checkpointer.last))
    finally:
        checkpointer.stop()
    assert verify(engine).ok
    engine.dispose()


def _log_copied_back(result: tuple[int, int, int] | None) -> bool:
    return result is not None and result[0] == 0 and 0 < result[1] == result[2]


def test_the_checkpointer_does_nothing_on_a_database_in_memory() -> None:
    engine = make_engine("sqlite://", background_checkpoints=True)
    checkpointer = WalCheckpointer(engine)
    checkpointer.start()
    assert checkpointer._thread is None
    checkpointer.stop()


def test_the_lock_file_is_closed_with_its_engine(tmp_path: Path) -> None:
    def open_files() -> int:
        return len(os.listdir("/proc/self/fd"))

    before = open_files()
    for _ in range(20):
        engine = make_engine(f"sqlite:///{tmp_path / 'registry.db'}")
        run_transaction(engine, lambda connection: connection.exec_driver_sql("SELECT 1"))
        engine.dispose()
        del engine
    gc.collect()
    assert open_files() <= before + 1
