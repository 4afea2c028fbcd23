"""Bookings per second on SQLite and PostgreSQL: sequential, concurrent on distinct slots,
and under contention (many agents racing for the same few slots). Prints figures.

    .venv/bin/python bench/storage_bookings.py [--bookings 400] [--concurrency 20]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from booking.model import Appointment, AppointmentStatus, DayKind, Mode, Worker, WorkerRole
from booking.records import Conflict
from storage.crypto import Keyring
from storage.store import Store

NOW = datetime(2027, 3, 1, 8, tzinfo=UTC)
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


async def prepare(url: str, agents: int) -> tuple[Store, list[str]]:
    keyring = Keyring(keys={"k1": secrets.token_bytes(32)}, current="k1", lookup_key=secrets.token_bytes(32))
    store = Store(url, keyring)
    await store.migrate()
    async with store.unit_of_work() as uow:
        await uow.workers.sync([Worker(id="ass", name="ASS", role=WorkerRole.TITULAR)])
        ids = [await uow.agents.ensure(f"oid-{i}", f"Agent {i}", NOW) for i in range(agents)]
        await uow.commit()
    return store, ids


async def book(store: Store, agent: str, start: datetime) -> bool:
    appointment = Appointment(
        id=str(uuid.uuid4()),
        worker_id="ass",
        agent_id=agent,
        start=start,
        end=start + timedelta(minutes=45),
        mode=Mode.TEAMS,
        kind=DayKind.PERMANENCE,
        status=AppointmentStatus.CONFIRMED,
    )
    try:
        async with store.unit_of_work() as uow:
            stored = await uow.appointments.add(
                appointment, site_id="vanves", topic_id="budget", message="Un message confidentiel", now=NOW
            )
            await uow.outbox.add("calendar.create", {"appointment_id": stored.id}, NOW, aggregate_id=stored.id)
            await uow.audit.record(
                actor="agent", action="appointment.book", subject_type="appointment", subject_id=stored.id, now=NOW
            )
            await uow.commit()
        return True
    except Conflict:
        return False


def slot(i: int) -> datetime:
    return NOW + timedelta(hours=i)


async def scenario(url: str, bookings: int, concurrency: int) -> dict[str, float]:
    figures = {}
    store, agents = await prepare(url, bookings)
    started = time.perf_counter()
    for i in range(bookings):
        await book(store, agents[i], slot(i))
    figures["sequential"] = bookings / (time.perf_counter() - started)
    await store.dispose()

    store, agents = await prepare(url.replace("bench_a", "bench_b"), bookings)
    queue = list(range(bookings))

    async def worker() -> None:
        while queue:
            i = queue.pop()
            await book(store, agents[i], slot(10_000 + i))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    figures["concurrent"] = bookings / (time.perf_counter() - started)

    # Contention: every agent tries the same 10 slots; exactly 10 succeed.
    started = time.perf_counter()
    results = await asyncio.gather(*(book(store, agents[i], slot(20_000 + i % 10)) for i in range(bookings)))
    elapsed = time.perf_counter() - started
    figures["contended_attempts"] = bookings / elapsed
    figures["contended_successes"] = float(sum(results))
    await store.dispose()
    return figures


async def with_postgres(run):  # type: ignore[no-untyped-def]
    names = [f"permanence_bench_a_{uuid.uuid4().hex[:6]}"]
    names.append(names[0].replace("bench_a", "bench_b"))
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        for name in names:
            await admin.execute(f'CREATE DATABASE "{name}"')
        return await run(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{names[0]}")
    finally:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bookings", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        sqlite = await scenario(f"sqlite+aiosqlite:///{tmp}/bench_a.db", args.bookings, args.concurrency)
    postgres = await with_postgres(lambda url: scenario(url, args.bookings, args.concurrency))
    print(
        f"bookings: {args.bookings} per scenario, concurrency {args.concurrency} "
        "(each booking: appointment + history + outbox + audit rows, two fields encrypted)"
    )
    print(f"{'scenario':<34}{'SQLite':>12}{'PostgreSQL':>14}")
    rows = [
        ("sequential (bookings/s)", "sequential"),
        ("concurrent, distinct slots (/s)", "concurrent"),
        ("contended, 10 slots (attempts/s)", "contended_attempts"),
        ("contended: successes", "contended_successes"),
    ]
    for label, key in rows:
        print(f"{label:<34}{sqlite[key]:>12.1f}{postgres[key]:>14.1f}")


if __name__ == "__main__":
    asyncio.run(main())
