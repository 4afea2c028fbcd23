"""On PostgreSQL, a turn holds one pooled connection at a time: more conversations at once than the
pool holds all get an answer (they queue for the pool, never hold one while waiting for another),
and when the pool stays exhausted a turn is told to retry in a few seconds, counted and shown."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from botbuilder.core.adapters import TestAdapter
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from bot import texts
from bot.bootstrap import Overrides, bootstrap
from bot.checks.doctor import examine
from bot.settings import Settings
from bot.web.app import RUNTIME, create_app
from storage.crypto import Keyring
from storage.models import AppointmentRow
from storage.store import Store
from tests.bot.conftest import MEETING_URL, Clock, Person, World, sample_deployment, scrape
from tests.dates import DEFAULT, bookable_plan_text, served_environment
from tests.e2e.conftest import METRICS_TOKEN, free_port, wait_http
from tests.helpers.bot_http import Connector, card_action
from tests.helpers.conversation import open_slots
from tests.helpers.postgres import fresh_database
from tests.helpers.replicas import start_replicas
from tests.storage.conftest import PG_ADMIN, pg_url

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def now() -> datetime:
    # The pool's behaviour does not depend on the date (bookable_plan_text opens slots on any
    # date): one instant is enough, and keeps the two-replica race out of the date matrix.
    return DEFAULT.instant


@pytest.fixture
async def database() -> AsyncIterator[str]:
    """A fresh, migrated PostgreSQL database."""
    async with fresh_database("permanence_pool") as name:
        store = Store(pg_url(name), Keyring(keys={"m": secrets.token_bytes(32)}, current="m", lookup_key=b"0" * 32))
        await store.migrate()
        await store.dispose()
        yield pg_url(name)


def pool_settings(tmp_path: Path, url: str, **values: Any) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=tmp_path,
        database_url=url,
        encryption_key=f"k1:{base64.b64encode(secrets.token_bytes(32)).decode()}",
        lookup_key=base64.b64encode(secrets.token_bytes(32)).decode(),
        local_meeting_url=MEETING_URL,
        **values,
    )


async def pool_world(tmp_path: Path, url: str, now: datetime, **pool: Any) -> World:
    """The real composition on PostgreSQL with the pool sizes given, the embedded calendar as it ships."""
    clock = Clock(now)
    proactive = TestAdapter()
    overrides = Overrides(clock=clock, channel=proactive, deployment=sample_deployment(bookable_plan_text(now)))
    runtime = await bootstrap(pool_settings(tmp_path, url, **pool), overrides)
    return World(runtime, clock, proactive)


async def booked(world: World) -> list[datetime]:
    async with world.store.unit_of_work(read_only=True) as uow:
        rows = await uow.session.execute(select(AppointmentRow.start_at).where(AppointmentRow.status == "confirmed"))
        return sorted(start for (start,) in rows.all())


async def race(world: World, agents: int) -> None:
    """`agents` agents, all at once, reach the summary of one of the first three slots (turn by
    turn, concurrently), then all press « Confirmer » at once: one booking per slot, every
    other agent told « pris » with the nearest slots, no error."""
    people = [world.person(f"Agent {n}") for n in range(agents)]

    async def summary(n: int, person: Person) -> Any:
        slots = await open_slots(person, "vanves")
        picks = slots.actions("pick")
        assert len(picks) >= 3
        return await person.submit(picks[n % 3])

    summaries = await asyncio.gather(*(summary(n, p) for n, p in enumerate(people)))
    assert all(texts.SUMMARY_TITLE in s.text for s in summaries)
    replies = await asyncio.gather(*(p.submit(s.action(texts.CONFIRM)) for p, s in zip(people, summaries, strict=True)))
    said = [r.text for r in replies]
    assert not [s for s in said if texts.ERROR in s or texts.BUSY in s]
    won = [r for r in replies if texts.CONFIRMED_TITLE in r.text]
    lost = [r for r in replies if texts.REFUSALS["slot_taken"] in r.text]
    assert len(won) == 3
    assert len(lost) == agents - 3
    assert all(r.actions("pick") for r in lost)  # the nearest slots, to pick at once
    starts = await booked(world)
    assert len(starts) == len(set(starts)) == 3


async def test_sixty_agents_race_on_three_slots_through_a_pool_of_five(tmp_path, database, now):
    world = await pool_world(tmp_path, database, now, db_pool_size=5, db_max_overflow=0, db_pool_timeout=30)
    try:
        await race(world, 60)
        assert world.store.exhausted == {"turn": 0, "job": 0}
    finally:
        await world.runtime.close()


async def test_a_pool_of_one_connection_serves_every_turn(tmp_path, database, now):
    """Every turn of every journey here needs one connection at a time: with one in the pool,
    twenty agents at once all book or are offered the nearest slots (none waits for a second)."""
    world = await pool_world(tmp_path, database, now, db_pool_size=1, db_max_overflow=0, db_pool_timeout=30)
    try:
        await race(world, 20)
        mine = await asyncio.gather(*(world.person(f"Autre {n}").say("mes rendez-vous") for n in range(10)))
        assert all(r.text and texts.ERROR not in r.text for r in mine)
    finally:
        await world.runtime.close()


def metric(text: str, name: str, **labels: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


async def test_an_exhausted_pool_answers_retry_shortly_counted_and_shown(tmp_path, database, now):
    """Every connection held elsewhere beyond the pool's timeout: the agent is asked to retry in
    a few seconds (not « un problème technique »), the metrics count it and /healthz shows it."""
    connector = Connector()
    runner = web.AppRunner(connector.app(), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    settings = pool_settings(
        tmp_path,
        database,
        db_pool_size=1,
        db_max_overflow=0,
        db_pool_timeout=0.3,
        test_mode=True,
        test_now=now,
    )
    body = {
        "type": "message",
        "id": "m1",
        "channelId": "msteams",
        "text": "mes rendez-vous",
        "serviceUrl": f"http://127.0.0.1:{port}/",
        "from": {"id": "29:busy", "aadObjectId": "aaaaaaaa-0000-0000-0000-0000000b0531", "name": "Agent"},
        "recipient": {"id": "28:bot"},
        "conversation": {"id": "a:busy", "conversationType": "personal"},
        "channelData": {"tenant": {"id": "00000000-0000-0000-0000-0000000000e1"}},
    }
    try:
        async with TestClient(TestServer(create_app(settings))) as client:
            store = client.app[RUNTIME].store
            async with store.engine.connect() as held:  # the pool's only connection, taken
                await held.exec_driver_sql("SELECT 1")
                response = await client.post("/api/messages", json=body)
                assert response.status == 200
            replies = connector.activities["a:busy"]
            assert [r.get("text") for r in replies] == [texts.BUSY]
            _, metrics = await scrape(client)
            assert metric(metrics, "permanence_pool_exhausted_total", who="turn") == 1
            assert metric(metrics, "permanence_turn_errors_total") == 0
            health = await (await client.get("/healthz")).json()
            assert health["status"] == "ok"
            assert health["database"]["exhausted"] == {"turn": 1, "job": 0}
            assert health["database"]["size"] == 1
            # The connection back in the pool, the same agent is answered.
            response = await client.post("/api/messages", json={**body, "id": "m2"})
            assert response.status == 200
            assert len(connector.activities["a:busy"]) == 2
            assert texts.BUSY not in str(connector.activities["a:busy"][-1])
    finally:
        await runner.cleanup()


async def test_two_replicas_with_pools_of_five_answer_sixty_agents_racing_on_three_slots(tmp_path, database, now):
    """The deployment guide's two `permanence serve` replicas, each with a pool of five and no
    overflow, sixty agents at once, every turn on the other replica than the one before."""
    connector = Connector()
    runner = web.AppRunner(connector.app(), access_log=None)
    await runner.setup()
    connector_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", connector_port).start()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PERMANENCE_DATABASE_URL": database,
        "PERMANENCE_ENCRYPTION_KEY": f"k1:{base64.b64encode(secrets.token_bytes(32)).decode()}",
        "PERMANENCE_LOOKUP_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "PERMANENCE_DATA_DIR": str(tmp_path),
        "PERMANENCE_LOCAL_MEETING_URL": MEETING_URL,
        "PERMANENCE_LOG_LEVEL": "WARNING",
        "PERMANENCE_DB_POOL_SIZE": "5",
        "PERMANENCE_DB_MAX_OVERFLOW": "0",
        "PERMANENCE_DB_POOL_TIMEOUT": "30",
        **served_environment(now, tmp_path),
        "PERMANENCE_METRICS_TOKEN": METRICS_TOKEN,
    }
    ports, replicas = start_replicas(env, tmp_path)
    turns = 0
    try:
        for port in ports:
            await wait_http(f"http://127.0.0.1:{port}/readyz")
        async with aiohttp.ClientSession() as session:

            async def send(user: int, text: str | None = None, value: dict[str, Any] | None = None) -> dict[str, Any]:
                nonlocal turns
                conversation = f"a:pool-user-{user}"
                before = len(connector.activities.get(conversation, []))
                activity = {
                    "type": "message",
                    "id": f"in-{user}-{before}",
                    "channelId": "msteams",
                    "text": text,
                    "value": value,
                    "serviceUrl": f"http://127.0.0.1:{connector_port}/",
                    "from": {"id": f"29:{user}", "aadObjectId": f"00000000-0000-0000-0000-{user:012d}", "name": "A"},
                    "recipient": {"id": "28:bot"},
                    "conversation": {"id": conversation, "conversationType": "personal"},
                    "channelData": {"tenant": {"id": "00000000-0000-0000-0000-0000000000e1"}},
                    "replyToId": connector.activities[conversation][-1]["id"] if before else None,
                }
                port = ports[(user + before) % 2]  # each turn of a conversation on the other replica
                turns += 1
                async with session.post(f"http://127.0.0.1:{port}/api/messages", json=activity) as response:
                    assert response.status == 200, await response.text()
                replies = connector.activities[conversation][before:]
                assert replies, "no reply"
                return replies[-1]

            async def summary(user: int) -> dict[str, Any]:
                picker = await send(user, "rendez-vous")
                form = await send(user, value={**card_action(picker, "site"), "site": "vanves"})
                inputs = {"mode": "teams", "topic": "", "message": "", "phone": ""}
                slots = await send(user, value={**card_action(form, "slots"), **inputs})
                return await send(user, value=card_action(slots, "pick", user % 3))

            agents = range(60)
            summaries = await asyncio.gather(*(summary(user) for user in agents))
            done = await asyncio.gather(
                *(send(user, value=card_action(s, "confirm")) for user, s in zip(agents, summaries, strict=True))
            )
            said = [str(d) for d in done]
            assert not [s for s in said if texts.ERROR in s or texts.BUSY in s]
            assert sum(texts.CONFIRMED_TITLE in s for s in said) == 3
            lost = [d for d in done if texts.REFUSALS["slot_taken"] in str(d)]
            assert len(lost) == 57
            assert all(card_action(d, "pick") for d in lost)  # the nearest slots offered
            errors = 0.0
            for port in ports:
                bearer = {"Authorization": f"Bearer {METRICS_TOKEN}"}
                async with session.get(f"http://127.0.0.1:{port}/metrics", headers=bearer) as response:
                    page = await response.text()
                errors += metric(page, "permanence_turn_errors_total")
                errors += metric(page, "permanence_pool_exhausted_total")
            assert errors == 0
            assert turns == 60 * 5
    finally:
        for replica in replicas:
            replica.terminate()
            replica.wait(timeout=10)
        await runner.cleanup()
        store = Store(database, Keyring(keys={"m": secrets.token_bytes(32)}, current="m", lookup_key=b"0" * 32))
        try:
            async with store.unit_of_work(read_only=True) as uow:
                rows = (await uow.session.execute(select(AppointmentRow.start_at))).all()
        finally:
            await store.dispose()
    assert len({start for (start,) in rows}) == len(rows) == 3


async def test_doctor_warns_when_the_replicas_pools_exceed_what_the_server_allows(tmp_path, database, now):
    admin = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        allowed = int(await admin.fetchval("SHOW max_connections"))
        reserved = int(await admin.fetchval("SHOW superuser_reserved_connections"))
    finally:
        await admin.close()
    usable = allowed - reserved
    per_replica = 4 + 2 + 1  # pool + overflow + jobs, as set below

    async def pool_check(replicas: int) -> tuple[str, str, str]:
        settings = pool_settings(
            tmp_path, database, db_pool_size=4, db_max_overflow=2, db_job_pool_size=1, replicas=replicas
        )
        (check,) = [c for c in await examine(settings, now=now) if (c.area, c.subject) == ("database", "pool")]
        return check.status.value, check.code, check.detail

    fits = usable // per_replica
    status, _, detail = await pool_check(fits)
    assert status == "ok"
    assert f"= {fits * per_replica} connections" in detail
    status, code, detail = await pool_check(fits + 1)
    assert (status, code) == ("warning", "pool_exceeds_server")
    assert f"{fits + 1} replica(s) × (4 pool + 2 overflow + 1 jobs) = {(fits + 1) * per_replica}" in detail
    assert f"max_connections - {reserved} reserved" in detail


async def test_background_jobs_holding_all_their_connections_never_stop_the_turns(tmp_path, database, now):
    """A job stuck with every connection of the jobs' pool (a slow calendar sync): the turns
    have their own, and twenty agents racing on three slots are all answered."""
    world = await pool_world(
        tmp_path, database, now, db_pool_size=2, db_max_overflow=0, db_job_pool_size=1, db_pool_timeout=30
    )
    stuck = asyncio.Event()
    release = asyncio.Event()

    async def slow_job() -> None:
        with world.store.for_jobs():
            async with world.store.advisory_lock("a-slow-job") as mine:
                assert mine
                async with world.store.unit_of_work(read_only=True) as uow:
                    await uow.session.execute(select(AppointmentRow.id).limit(1))
                    stuck.set()
                    await release.wait()

    job = asyncio.create_task(slow_job())
    try:
        await stuck.wait()
        await race(world, 20)
        assert not job.done()  # the job still holds the jobs' only connection
        assert world.store.exhausted["turn"] == 0
    finally:
        release.set()
        await job
        await world.runtime.close()
