"""Outbox leases: short, renewed by the claimer's heartbeat, taken over soon after a crash.
Runs on SQLite and PostgreSQL; the clock is driven explicitly."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from booking.records import OutboxMessage
from bot.application import Application
from bot.application.outbox import OutboxDispatcher
from bot.metrics import Metrics
from graph.local import LocalCalendar, LocalReach
from storage.repositories.outbox import LEASE
from storage.store import Store
from tests.bot.conftest import Clock, sample_deployment

NOW = datetime(2027, 3, 1, 8, tzinfo=UTC)


async def queue(store: Store, count: int) -> list[int]:
    async with store.unit_of_work() as uow:
        ids = [
            await uow.outbox.add("notify.agent", {"agent_id": f"g{n}", "what": "link", "appointment_id": f"a{n}"}, NOW)
            for n in range(count)
        ]
        await uow.commit()
    return ids


async def claim(store: Store, claimer: str, at: datetime) -> list[int]:
    async with store.unit_of_work() as uow:
        messages = await uow.outbox.claim(claimer, at)
        await uow.commit()
    return [m.id for m in messages]


async def test_a_claim_that_stops_being_renewed_is_taken_over_once_its_short_lease_passes(store):
    renewed, abandoned = await queue(store, 2)
    assert await claim(store, "replica-a", NOW) == [renewed, abandoned]
    # replica-a keeps working on the first message only (its heartbeat), then dies.
    async with store.unit_of_work() as uow:
        assert await uow.outbox.renew([renewed], "replica-a", NOW + timedelta(seconds=10)) == 1
        await uow.commit()
    assert await claim(store, "replica-b", NOW + LEASE - timedelta(seconds=1)) == []  # both still leased
    assert await claim(store, "replica-b", NOW + LEASE) == [abandoned]  # seconds after the crash
    assert await claim(store, "replica-b", NOW + timedelta(seconds=10) + LEASE - timedelta(seconds=1)) == []
    assert await claim(store, "replica-b", NOW + timedelta(seconds=10) + LEASE) == [renewed]
    assert timedelta(seconds=30) >= LEASE


async def test_a_claimer_cannot_renew_what_another_took_over(store):
    (message,) = await queue(store, 1)
    assert await claim(store, "replica-a", NOW) == [message]
    assert await claim(store, "replica-b", NOW + LEASE) == [message]
    async with store.unit_of_work() as uow:
        assert await uow.outbox.renew([message], "replica-a", NOW + LEASE) == 0  # late heartbeat
        assert await uow.outbox.renew([message], "replica-b", NOW + LEASE) == 1
        assert await uow.outbox.complete(message, "replica-b", NOW + LEASE)
        assert await uow.outbox.renew([message], "replica-b", NOW + LEASE) == 0  # done: nothing to hold
        await uow.commit()


class SlowNotifier:
    """A channel that takes its time: the dispatcher must keep its claim meanwhile."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.delivered: list[int] = []

    async def deliver(self, message: OutboxMessage) -> None:
        self.started.set()
        await self.release.wait()
        self.delivered.append(message.id)


async def test_the_dispatcher_heartbeat_keeps_a_long_delivery_claimed(store):
    (message,) = await queue(store, 1)
    clock = Clock(NOW)
    notifier = SlowNotifier()
    dispatcher = OutboxDispatcher(
        context=Application(store, sample_deployment()).context,
        provider=LocalCalendar(),
        reach=LocalReach(),
        notifier=notifier,
        clock=clock,
        name="replica-a",
        metrics=Metrics(),
        subject="Rendez-vous",
        heartbeat=0.01,
    )
    work = asyncio.create_task(dispatcher.run_once())
    await notifier.started.wait()
    clock.advance(LEASE * 4)  # far beyond the first lease: only renewals can keep the claim

    async def renewed() -> bool:
        async with store.unit_of_work() as uow:  # rolled back: a probe, not a claim
            return await uow.outbox.claim("replica-b", clock()) == []

    for _ in range(100):
        if await renewed():
            break
        await asyncio.sleep(0.01)
    assert await renewed()  # the heartbeat renewed the lease from the (advanced) clock
    notifier.release.set()
    assert await work == 1
    assert notifier.delivered == [message]
    clock.advance(LEASE * 4)
    assert await claim(store, "replica-b", clock()) == []  # done once, nothing left to take over
