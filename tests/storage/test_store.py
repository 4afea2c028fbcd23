"""Repository behaviour on SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from booking.absence import Absence, AbsenceSource
from booking.model import Appointment, AppointmentStatus, DayKind, Interval, Mode, Worker, WorkerRole
from booking.records import ConcurrentChange, Conflict, NotFound
from storage.crypto import Keyring, KeyringError
from storage.sealing import appointment_context
from storage.store import Store
from tests.storage.conftest import OPERATOR

NOW = datetime(2027, 3, 1, 8, tzinfo=UTC)
SLOT = datetime(2027, 3, 4, 8, tzinfo=UTC)
WORKERS = [
    Worker(id="ass", name="Assistante sociale", role=WorkerRole.TITULAR),
    Worker(id="remplacante", name="Remplaçante", role=WorkerRole.REPLACEMENT),
]


def appointment(agent_id: str, start: datetime = SLOT, minutes: int = 45, worker: str = "ass") -> Appointment:
    return Appointment(
        id=str(uuid.uuid4()),
        worker_id=worker,
        agent_id=agent_id,
        start=start,
        end=start + timedelta(minutes=minutes),
        mode=Mode.TEAMS,
        kind=DayKind.PERMANENCE,
        status=AppointmentStatus.CONFIRMED,
    )


async def seed(store: Store, *object_ids: str) -> list[str]:
    async with store.unit_of_work() as uow:
        await uow.workers.sync(WORKERS)
        agents = [await uow.agents.ensure(oid, f"Agent {oid}", NOW) for oid in object_ids]
        await uow.commit()
    return agents


async def book(store: Store, appt: Appointment, message: str = "", topic: str | None = None) -> str:
    async with store.unit_of_work() as uow:
        stored = await uow.appointments.add(appt, site_id="vanves", topic_id=topic, message=message, now=NOW)
        await uow.outbox.add("create_event", {"appointment_id": stored.id}, NOW, aggregate_id=stored.id)
        await uow.audit.record(actor="agent", action="book", subject_type="appointment", subject_id=stored.id, now=NOW)
        await uow.commit()
    return stored.id


async def test_replicas_mirroring_the_plan_at_once_both_succeed_and_a_rename_is_kept(store, database_url, keyring):
    """Two replicas start together: both mirror the same workers at the same moment."""
    other = Store(database_url, keyring)

    async def mirror(instance: Store, workers: list[Worker]) -> None:
        async with instance.unit_of_work() as uow:
            await uow.workers.sync(workers)
            await uow.commit()

    try:
        await asyncio.gather(*(mirror(s, WORKERS) for s in (store, other, store, other)))
        renamed = [dataclasses.replace(WORKERS[0], name="Assistante sociale (Paris)"), WORKERS[1]]
        await mirror(other, renamed)
    finally:
        await other.dispose()
    async with store.unit_of_work() as uow:
        assert await uow.workers.ids() == ["ass", "remplacante"]
        names = (await uow.session.execute(text("SELECT id, name FROM workers ORDER BY id"))).all()
    assert [tuple(row) for row in names] == [("ass", "Assistante sociale (Paris)"), ("remplacante", "Remplaçante")]


async def test_appointment_round_trip_with_aware_utc_datetimes(store):
    (agent,) = await seed(store, "oid-1")
    appointment_id = await book(store, appointment(agent), message="hello", topic="logement")
    async with store.unit_of_work() as uow:
        stored = await uow.appointments.get(appointment_id)
        assert stored.appointment.start == SLOT and stored.appointment.start.tzinfo is not None
        assert stored.appointment.start.utcoffset() == timedelta(0)
        assert stored.reference.startswith("RDV-") and len(stored.reference) == 10
        upcoming = await uow.appointments.upcoming_for_agent(agent, NOW)
        assert [u.id for u in upcoming] == [appointment_id]
        assert await uow.appointments.upcoming_for_agent(agent, SLOT + timedelta(hours=1)) == []
        details = await uow.appointments.details(appointment_id, grant=OPERATOR)
        assert (details.agent_name, details.topic_id, details.message) == ("Agent oid-1", "logement", "hello")
        assert await uow.outbox.statuses(appointment_id) == [("create_event", "pending", 0)]
        assert [e[2] for e in await uow.audit.entries(appointment_id)] == ["book"]


async def test_agents_are_found_by_object_id_only_through_the_keyed_hash(store):
    (agent,) = await seed(store, "oid-1")
    async with store.unit_of_work() as uow:
        assert await uow.agents.find("oid-1") == agent
        assert await uow.agents.find("oid-2") is None
        assert await uow.agents.ensure("oid-1", "Agent oid-1", NOW) == agent
        lookups = (await uow.session.execute(text("SELECT lookup FROM agents"))).scalars().all()
        assert lookups == [store.keyring.lookup("oid-1")] and "oid-1" not in lookups[0]


async def test_a_slot_is_booked_once_then_free_again_after_cancellation(store):
    first, second = await seed(store, "a", "b")
    appointment_id = await book(store, appointment(first))
    with pytest.raises(Conflict):  # the store refuses; the use case says « slot taken »
        await book(store, appointment(second))
    async with store.unit_of_work() as uow:
        assert await uow.outbox.depth() == 1  # the refused booking left nothing behind
        current = await uow.appointments.get(appointment_id)
        await uow.appointments.set_status(
            appointment_id, AppointmentStatus.CANCELLED, version=current.appointment.version, now=NOW, actor="agent"
        )
        await uow.commit()
    await book(store, appointment(second))
    async with store.unit_of_work() as uow:
        history = await uow.appointments.history(appointment_id)
        assert [h[1] for h in history] == ["confirmed", "cancelled"]


async def test_overlapping_intervals_of_other_lengths_are_refused(store):
    first, second = await seed(store, "a", "b")
    await book(store, appointment(first, SLOT, 45))
    with pytest.raises(Conflict):
        await book(store, appointment(second, SLOT + timedelta(minutes=30), 60))
    # Touching intervals and other workers are fine.
    await book(store, appointment(second, SLOT + timedelta(minutes=45), 45))
    await book(store, appointment(second, SLOT, 45, worker="remplacante"))


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # the constraint is PostgreSQL's
async def test_postgres_exclusion_constraint_refuses_overlaps_the_application_did_not_check(store):
    assert store.dialect == "postgresql"
    first, second = await seed(store, "a", "b")
    await book(store, appointment(first, SLOT, 45))
    with pytest.raises(IntegrityError, match="ex_appointments_no_overlap"):
        async with store.engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO appointments (id, reference, worker_id, agent_id, site_id, start_at, end_at, mode, "
                    "kind, status, urgent, topic_enc, message_enc, notes_enc, transaction_id, version, created_at, "
                    "updated_at) VALUES (:id, 'RDV-XXXXXX', 'ass', :agent, 'vanves', :start, :end, 'teams', "
                    "'permanence', 'confirmed', false, '', '', '', :tx, 1, :now, :now)"
                ),
                {
                    "id": str(uuid.uuid4()),
                    "agent": second,
                    "start": SLOT + timedelta(minutes=10),
                    "end": SLOT + timedelta(minutes=100),
                    "tx": str(uuid.uuid4()),
                    "now": NOW,
                },
            )


async def test_two_hundred_concurrent_attempts_make_exactly_one_appointment(store):
    agents = await seed(store, *(f"oid-{i}" for i in range(200)))

    async def attempt(agent: str) -> bool:
        try:
            await book(store, appointment(agent))
        except Conflict:
            return False
        return True

    results = await asyncio.gather(*(attempt(a) for a in agents))
    assert results.count(True) == 1
    async with store.unit_of_work() as uow:
        active = await uow.appointments.active_between(["ass"], SLOT, SLOT + timedelta(hours=1))
        assert len(active) == 1
        assert await uow.outbox.depth() == 1


async def test_move_releases_the_old_slot_only_when_the_new_one_is_secured(store):
    first, second = await seed(store, "a", "b")
    mine = await book(store, appointment(first, SLOT))
    await book(store, appointment(second, SLOT + timedelta(hours=1)))
    target_taken = Interval(start=SLOT + timedelta(hours=1), end=SLOT + timedelta(hours=1, minutes=45))
    with pytest.raises(Conflict):
        async with store.unit_of_work() as uow:
            current = await uow.appointments.get(mine)
            await uow.appointments.move(mine, target_taken, version=current.appointment.version, now=NOW, actor="agent")
            await uow.commit()
    async with store.unit_of_work() as uow:
        assert (await uow.appointments.get(mine)).appointment.start == SLOT  # unchanged
        free = Interval(start=SLOT + timedelta(hours=2), end=SLOT + timedelta(hours=2, minutes=45))
        current = await uow.appointments.get(mine)
        moved = await uow.appointments.move(mine, free, version=current.appointment.version, now=NOW, actor="agent")
        await uow.commit()
    assert moved.appointment.start == free.start
    await book(store, appointment(second, SLOT))  # the old slot is free again


async def test_stale_versions_are_refused(store):
    (agent,) = await seed(store, "a")
    appointment_id = await book(store, appointment(agent))
    async with store.unit_of_work() as uow:
        with pytest.raises(ConcurrentChange):
            await uow.appointments.set_status(
                appointment_id, AppointmentStatus.CANCELLED, version=99, now=NOW, actor="agent"
            )
    async with store.unit_of_work() as uow:
        with pytest.raises(NotFound):
            await uow.appointments.get(str(uuid.uuid4()))


async def test_outbox_rows_commit_with_the_booking_or_not_at_all(store):
    (agent,) = await seed(store, "a")
    async with store.unit_of_work() as uow:
        stored = await uow.appointments.add(appointment(agent), site_id="vanves", topic_id=None, message="", now=NOW)
        await uow.outbox.add("create_event", {"appointment_id": stored.id}, NOW, aggregate_id=stored.id)
        # no commit: rolled back on exit
    async with store.unit_of_work() as uow:
        assert await uow.outbox.depth() == 0
        assert await uow.appointments.active_between(["ass"], SLOT, SLOT + timedelta(hours=1)) == []


async def test_outbox_claims_are_exclusive_and_completed_exactly_once(store):
    async with store.unit_of_work() as uow:
        for i in range(30):
            await uow.outbox.add("send_mail", {"n": i}, NOW)
        await uow.commit()

    async def claimer(name: str) -> list[int]:
        claimed: list[int] = []
        while True:
            async with store.unit_of_work() as uow:
                batch = await uow.outbox.claim(name, NOW, limit=3)
                await uow.commit()
            if not batch:
                return claimed
            for message in batch:
                async with store.unit_of_work() as uow:
                    assert await uow.outbox.complete(message.id, name, NOW)
                    await uow.commit()
                claimed.append(message.payload["n"])

    results = await asyncio.gather(*(claimer(f"replica-{i}") for i in range(4)))
    everything = [n for r in results for n in r]
    assert sorted(everything) == list(range(30))
    async with store.unit_of_work() as uow:
        assert await uow.outbox.depth() == 0
        assert not await uow.outbox.complete(1, "replica-0", NOW)  # already done: not twice


async def test_outbox_retries_and_expired_leases(store):
    async with store.unit_of_work() as uow:
        message_id = await uow.outbox.add("create_event", {}, NOW)
        await uow.commit()
    async with store.unit_of_work() as uow:
        (claimed,) = await uow.outbox.claim("a", NOW, lease=timedelta(minutes=2))
        await uow.commit()
    async with store.unit_of_work() as uow:
        assert await uow.outbox.claim("b", NOW + timedelta(minutes=1)) == []  # still leased
        (again,) = await uow.outbox.claim("b", NOW + timedelta(minutes=3))  # "a" was killed
        assert again.id == message_id and again.attempts == 2
        assert not await uow.outbox.complete(message_id, "a", NOW)  # the old claimer cannot
        await uow.outbox.retry_later(message_id, "b", "graph_503", NOW + timedelta(minutes=10))
        await uow.commit()
    async with store.unit_of_work() as uow:
        assert await uow.outbox.claim("c", NOW + timedelta(minutes=5)) == []
        assert [m.id for m in await uow.outbox.claim("c", NOW + timedelta(minutes=10))] == [claimed.id]


async def test_urgent_request_is_acknowledged_once(store):
    (agent,) = await seed(store, "a")
    route = [("ass", NOW + timedelta(hours=4)), ("remplacante", NOW + timedelta(hours=8)), (None, None)]
    async with store.unit_of_work() as uow:
        request = await uow.urgent.add(
            agent_id=agent,
            site_id="lyon",
            route=route,
            description="help",
            phone="0600000000",
            availability="matin",
            now=NOW,
        )
        await uow.commit()
    assert request.reference.startswith("URG-") and request.handler_id == "ass"
    assert request.route == tuple(route)
    async with store.unit_of_work() as uow:
        escalated = await uow.urgent.escalate(request.id, 1, "remplacante", version=request.version)
        await uow.commit()
    async with store.unit_of_work() as uow:
        acknowledged = await uow.urgent.acknowledge(request.id, "remplacante", NOW)
        await uow.commit()
    assert acknowledged.status == "acknowledged" and acknowledged.acknowledged_by == "remplacante"
    async with store.unit_of_work() as uow:
        with pytest.raises(ConcurrentChange):
            await uow.urgent.acknowledge(request.id, "ass", NOW)
        with pytest.raises(ConcurrentChange):
            await uow.urgent.escalate(request.id, 2, None, version=escalated.version)
        assert await uow.urgent.open_requests() == []
        assert await uow.urgent.details(request.id, grant=OPERATOR) == ("help", "0600000000", "matin")


async def test_absences_and_calendar_entries(store):
    await seed(store)
    away = Absence(worker_id="ass", start=NOW, end=NOW + timedelta(days=3), source=AbsenceSource.OOF_EVENT)
    async with store.unit_of_work() as uow:
        await uow.absences.add(away, NOW)
        await uow.absences.replace_from_source(
            "ass",
            AbsenceSource.AUTOMATIC_REPLIES,
            [dataclasses.replace(away, source=AbsenceSource.AUTOMATIC_REPLIES, end=NOW + timedelta(days=20))],
            NOW,
        )
        block = Interval(start=SLOT, end=SLOT + timedelta(hours=2))
        first = await uow.calendar.put(worker_id="ass", interval=block, category="busy", now=NOW, external_id="evt-1")
        again = await uow.calendar.put(worker_id="ass", interval=block, category="busy", now=NOW, external_id="evt-1")
        await uow.commit()
    assert first == again
    async with store.unit_of_work() as uow:
        absences = await uow.absences.overlapping(NOW, NOW + timedelta(days=1))
        assert {a.source for a in absences} == {AbsenceSource.OOF_EVENT, AbsenceSource.AUTOMATIC_REPLIES}
        entries = await uow.calendar.between(["ass"], SLOT, SLOT + timedelta(hours=1))
        assert [(e.external_id, e.category) for e in entries] == [("evt-1", "busy")]
        await uow.calendar.remove_external("ass", "evt-1")
        await uow.commit()
    async with store.unit_of_work() as uow:
        assert await uow.calendar.between(["ass"], SLOT, SLOT + timedelta(hours=1)) == []


async def test_key_value_state_uses_etags(store):
    async with store.unit_of_work() as uow:
        etag = await uow.state.write("conv/1", {"step": "site"}, None, NOW)
        await uow.commit()
    async with store.unit_of_work() as uow:
        assert await uow.state.read(["conv/1", "missing"]) == {"conv/1": ({"step": "site"}, etag)}
        new = await uow.state.write("conv/1", {"step": "topic"}, etag, NOW)
        await uow.commit()
    async with store.unit_of_work() as uow:
        with pytest.raises(ConcurrentChange):
            await uow.state.write("conv/1", {"step": "stale"}, etag, NOW)
    async with store.unit_of_work() as uow:
        await uow.state.write("conv/1", {"step": "forced"}, "*", NOW)
        await uow.state.delete(["conv/1"])
        await uow.commit()
    assert new != etag
    async with store.unit_of_work() as uow:
        assert await uow.state.read(["conv/1"]) == {}


async def test_naive_datetimes_never_reach_the_database(store):
    async with store.unit_of_work() as uow:
        with pytest.raises(Exception, match="naive"):
            await uow.outbox.add("x", {}, datetime(2027, 3, 1))


async def test_key_rotation_re_encrypts_everything(store):
    (agent,) = await seed(store, "oid-1")
    appointment_id = await book(store, appointment(agent), message="secret words", topic="budget")
    async with store.unit_of_work() as uow:
        await uow.state.write("conv/1", {"message": "draft"}, None, NOW)
        await uow.commit()
    rotated, _ = store.keyring.with_new_key()
    changed = await store.rotate_keys(rotated, grant=OPERATOR)
    assert changed == 9  # agent name, phone, e-mail (empty), Entra id; topic, message, notes, link; state
    async with store.unit_of_work() as uow:
        tokens = (await uow.session.execute(text("SELECT topic_enc, message_enc FROM appointments"))).one()
        assert all(t.startswith(f"{rotated.current}:") for t in tokens)
        details = await uow.appointments.details(appointment_id, grant=OPERATOR)
        assert (details.topic_id, details.message) == ("budget", "secret words")
        assert await uow.state.read(["conv/1"]) == {"conv/1": ({"message": "draft"}, "1")}
    without_old = Keyring(
        keys={rotated.current: rotated.keys[rotated.current]}, current=rotated.current, lookup_key=rotated.lookup_key
    )
    without_old.decrypt(tokens[0], appointment_context("topic", appointment_id, agent))
    with pytest.raises(KeyringError):
        without_old.decrypt(tokens[0], appointment_context("topic", str(uuid.uuid4()), agent))  # bound to its row
    with pytest.raises(KeyringError):
        without_old.decrypt(tokens[0], appointment_context("topic", appointment_id, str(uuid.uuid4())))  # and owner


SENTINEL_MESSAGE = "SENTINEL-message-7f3a9c"
SENTINEL_TOPIC = "SENTINEL-topic-b41d2e"
SENTINEL_NAME = "SENTINEL-name-Dupont"


async def test_confidential_texts_are_not_in_clear_in_the_database(store, tmp_path):
    await seed(store)
    async with store.unit_of_work() as uow:
        agent = await uow.agents.ensure("oid-s", SENTINEL_NAME, NOW)
        await uow.commit()
    await book(store, appointment(agent), message=SENTINEL_MESSAGE, topic=SENTINEL_TOPIC)
    await store.dispose()  # checkpoint and close SQLite's WAL
    if store.dialect == "sqlite":
        db_file = Path(store.url.split("///", 1)[1])
        raw = b"".join([p.read_bytes() for p in db_file.parent.glob(db_file.name + "*")])
    else:
        database = store.url.rsplit("/", 1)[1]
        dump = await asyncio.create_subprocess_exec(
            "pg_dump",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "--data-only",
            database,
            stdout=asyncio.subprocess.PIPE,
        )
        raw, _ = await dump.communicate()
        assert dump.returncode == 0
        assert b"COPY public.appointments" in raw  # the dump does hold the rows
    assert b"vanves" in raw  # positive control: plain columns are readable in these bytes
    for sentinel in (SENTINEL_MESSAGE, SENTINEL_TOPIC, SENTINEL_NAME, "oid-s"):
        assert sentinel.encode() not in raw


async def test_an_open_ended_absence_round_trips_on_both_databases(store):
    await seed(store)
    away = Absence.open_ended(worker_id="ass", start=NOW, source=AbsenceSource.AUTOMATIC_REPLIES)
    async with store.unit_of_work() as uow:
        await uow.absences.replace_from_source("ass", AbsenceSource.AUTOMATIC_REPLIES, [away], NOW)
        await uow.commit()
    async with store.unit_of_work(read_only=True) as uow:
        (found,) = await uow.absences.overlapping(NOW + timedelta(days=3000), NOW + timedelta(days=3001))
    assert found == away and found.is_open_ended and found.return_at is None
