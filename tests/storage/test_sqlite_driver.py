"""The embedded database's driver: statements run on the event loop's thread and never wait
there; when another process holds the write lock, a writer waits on aiosqlite's thread while
the loop goes on serving reads, and nothing is lost when several writers meet."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

from storage.crypto import Keyring
from storage.store import Store

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
ROOT = str(Path(__file__).resolve().parents[2])

HOLD_THE_LOCK = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()  # holds the write lock until told to let go
connection.execute("COMMIT")
"""


async def migrated(path: Path, keyring: Keyring) -> Store:
    store = Store(f"sqlite+aiosqlite:///{path}", keyring)
    await store.migrate()
    return store


async def write_state(store: Store, key: str, value: int) -> str:
    async with store.unit_of_work() as uow:
        etag = await uow.state.write(key, {"n": value}, None, NOW)
        await uow.commit()
    return etag


async def read_state(store: Store, *keys: str) -> dict[str, int]:
    async with store.unit_of_work(read_only=True) as uow:
        found = await uow.state.read(list(keys))
    return {key: value["n"] for key, (value, _) in found.items()}


async def test_a_writer_waits_for_another_process_while_reads_go_on(tmp_path, keyring):
    path = tmp_path / "permanence.db"
    store = await migrated(path, keyring)
    try:
        await write_state(store, "before", 1)
        other = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            HOLD_THE_LOCK,
            str(path),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert other.stdout is not None and other.stdin is not None
        assert (await other.stdout.readline()).strip() == b"locked"
        finished: list[str] = []

        async def writer() -> None:
            await write_state(store, "during", 2)  # BEGIN IMMEDIATE is busy: it waits, off the loop
            finished.append("write")

        waiting = asyncio.create_task(writer())
        await asyncio.sleep(0.2)
        # The loop is free meanwhile: reads are served while the write waits for the lock.
        for _ in range(20):
            assert await read_state(store, "before") == {"before": 1}
        finished.append("reads")
        assert not waiting.done()
        other.stdin.write(b"go\n")
        await other.stdin.drain()
        assert await other.wait() == 0
        await asyncio.wait_for(waiting, 30)
        assert finished == ["reads", "write"]
        assert await read_state(store, "before", "during") == {"before": 1, "during": 2}
    finally:
        await store.dispose()


async def test_writers_of_two_stores_at_once_all_commit(tmp_path, keyring):
    """Two stores on one file stand for two processes: each has its own connections and its own
    in-process write queue, so they really meet on SQLite's lock."""
    path = tmp_path / "permanence.db"
    first = await migrated(path, keyring)
    second = Store(f"sqlite+aiosqlite:///{path}", keyring)
    try:
        writes = [write_state(store, f"k{i}", i) for i in range(40) for store in ((first, second)[i % 2],)]
        reads = [read_state(second, "k0", "k1") for _ in range(20)]
        await asyncio.gather(*writes, *reads)
        assert await read_state(first, *(f"k{i}" for i in range(40))) == {f"k{i}": i for i in range(40)}
    finally:
        await first.dispose()
        await second.dispose()


async def synchronous(uow: object) -> int:
    from sqlalchemy import text

    return int((await uow.session.execute(text("PRAGMA synchronous"))).scalar())  # type: ignore[attr-defined]


async def test_only_a_draft_commits_without_the_disk_sync_and_the_connection_is_durable_again(tmp_path, keyring):
    """SQLite's synchronous level per transaction: FULL (2) for everything a person confirmed,
    NORMAL (1) for a unit of work that keeps drafts; the next transaction on the same pooled
    connection is FULL again, after a commit as after a rollback. A killed process loses no
    draft either (the WAL is written at commit)."""
    path = tmp_path / "permanence.db"
    store = await migrated(path, keyring)
    try:
        levels = []
        for durable, commit in ((False, True), (True, True), (False, False), (True, True)):
            async with store.unit_of_work(durable=durable) as uow:
                await uow.state.write(f"draft-{len(levels)}", {"n": len(levels)}, None, NOW)
                levels.append(await synchronous(uow))
                if commit:
                    await uow.commit()
        assert levels == [1, 2, 1, 2]
        async with store.unit_of_work(read_only=True) as uow:
            assert await synchronous(uow) == 2
    finally:
        await store.dispose()
    killed = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        DRAFT_THEN_DIE,
        str(path),
        keyring.keys["k1"].hex(),
        keyring.lookup_key.hex(),
        env={"PYTHONPATH": ROOT},
    )
    assert await killed.wait() == 9  # os._exit: no clean shutdown of anything
    store = Store(f"sqlite+aiosqlite:///{path}", keyring)
    try:
        assert await read_state(store, "draft-0", "draft-1", "draft-2", "draft-3", "after-kill") == {
            "draft-0": 0,
            "draft-1": 1,
            "draft-3": 3,
            "after-kill": 7,
        }
    finally:
        await store.dispose()


DRAFT_THEN_DIE = """
import asyncio, os, sys
from datetime import UTC, datetime
from storage.crypto import Keyring
from storage.store import Store

async def main():
    keyring = Keyring(keys={"k1": bytes.fromhex(sys.argv[2])}, current="k1", lookup_key=bytes.fromhex(sys.argv[3]))
    store = Store(f"sqlite+aiosqlite:///{sys.argv[1]}", keyring)
    async with store.unit_of_work(durable=False) as uow:
        await uow.state.write("after-kill", {"n": 7}, None, datetime(2026, 11, 24, tzinfo=UTC))
        await uow.commit()
    os._exit(9)

asyncio.run(main())
"""


async def test_no_commit_checkpoints_the_log_the_store_does_it_beside(tmp_path, keyring):
    """A WAL checkpoint writes and syncs the database file: inside a commit, a turn would wait
    for it. No connection of the store checkpoints on its own; `Store.checkpoint` (run every
    second by the service, on its own connection and thread) copies the log, and what was
    committed reads the same before and after, also from another store."""
    path = tmp_path / "permanence.db"
    store = await migrated(path, keyring)
    try:
        async with store.unit_of_work() as uow:
            from sqlalchemy import text

            assert (await uow.session.execute(text("PRAGMA wal_autocheckpoint"))).scalar() == 0
        for n in range(30):
            await write_state(store, f"key-{n}", n)
        logged, copied = await store.checkpoint() or (0, 0)
        assert logged > 0 and copied == logged
        await write_state(store, "after", 99)
        again = await store.checkpoint()
        assert again is not None and again[1] == again[0]
        other = Store(f"sqlite+aiosqlite:///{path}", keyring)
        try:
            assert await read_state(other, "key-0", "key-29", "after") == {"key-0": 0, "key-29": 29, "after": 99}
        finally:
            await other.dispose()
    finally:
        await store.dispose()


async def test_checkpoints_cancelled_at_shutdown_share_nothing_with_what_is_closed(tmp_path, keyring):
    """The service's checkpoint job is cancelled when it stops, while its thread may still be in
    SQLite: disposing of the store meanwhile must not pull a connection from under it (this once
    crashed the process), and a checkpoint never creates a database that is gone."""
    path = tmp_path / "permanence.db"
    for _ in range(3):
        store = await migrated(path, keyring)
        running = []
        for n in range(20):
            await write_state(store, f"key-{n}", n)
            running.append(asyncio.create_task(store.checkpoint()))
            await asyncio.sleep(0)
            running[-1].cancel()
        await asyncio.gather(*running, store.dispose(), return_exceptions=True)
    store = Store(f"sqlite+aiosqlite:///{path}", keyring)
    try:
        assert await read_state(store, "key-0", "key-19") == {"key-0": 0, "key-19": 19}
    finally:
        await store.dispose()
    gone = Store(f"sqlite+aiosqlite:///{tmp_path / 'gone' / 'permanence.db'}", keyring)
    try:
        await gone.checkpoint()
    except Exception as err:  # noqa: BLE001 - sqlite3's own error, whatever its class
        assert "unable to open" in str(err)
    else:
        raise AssertionError("a checkpoint of a missing database should fail")
    assert not (tmp_path / "gone").exists()
    await gone.dispose()
