"""/healthz reflects the background work: a stopped or silent task makes it answer 503, by name."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.settings import Settings
from bot.web.app import HEARTBEATS, OUTBOX_TASK, SCHEDULER, create_app
from bot.web.liveness import Heartbeats
from tests.dates import DEFAULT


@pytest.fixture
async def client(tmp_path) -> AsyncIterator[TestClient]:  # type: ignore[no-untyped-def]
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path,
        key_file=tmp_path / "config" / "keys.json",
        test_mode=True,
        test_now=DEFAULT.instant,
    )
    async with TestClient(TestServer(create_app(settings))) as client:
        yield client


async def health(client: TestClient) -> tuple[int, dict[str, object]]:
    response = await client.get("/healthz")
    return response.status, await response.json()


async def test_healthy_service_names_every_background_task(client):
    status, body = await health(client)
    assert status == 200
    assert body == {
        "status": "ok",
        "tasks": ["audit-anchor", "checkpoint", "escalate", "outbox", "reach-workers", "retention"],
        "database": {"exhausted": {"turn": 0, "job": 0}},  # SQLite: no pool; PostgreSQL: tests/bot/test_pool.py
    }


async def test_a_cancelled_outbox_task_makes_healthz_503_naming_it(client):
    task = client.app[OUTBOX_TASK]
    task.cancel()
    await asyncio.wait([task])
    status, body = await health(client)
    assert status == 503
    assert body == {
        "status": "unhealthy",
        "tasks": {"outbox": "stopped"},
        "database": {"exhausted": {"turn": 0, "job": 0}},
    }


async def test_an_unscheduled_job_or_a_stopped_scheduler_is_named(client):
    client.app[SCHEDULER].remove_job("escalate")
    status, body = await health(client)
    assert status == 503 and body["tasks"] == {"escalate": "stopped"}
    client.app[SCHEDULER].shutdown(wait=False)
    status, body = await health(client)
    assert status == 503 and body["tasks"] == {
        "audit-anchor": "stopped",
        "checkpoint": "stopped",
        "escalate": "stopped",
        "reach-workers": "stopped",
        "retention": "stopped",
    }


async def test_a_silent_job_is_reported_stuck(client):
    heartbeats = client.app[HEARTBEATS]
    real = heartbeats.clock
    heartbeats.clock = lambda: real() + 2 * 86400  # two days without the daily purge ticking
    status, body = await health(client)
    assert status == 503
    tasks = body["tasks"]
    assert isinstance(tasks, dict) and tasks["retention"].startswith("no heartbeat for ")
    assert "escalate" in tasks


def test_heartbeats_stuck_stopped_and_revived():
    now = [1000.0]
    beats = Heartbeats(clock=lambda: now[0])
    running = [True]
    beats.expect("outbox", max_age=60, alive=lambda: running[0])
    beats.expect("job", max_age=10)
    assert beats.problems() == {}
    now[0] += 30
    beats.beat("outbox")
    assert beats.problems() == {"job": "no heartbeat for 30 s"}
    beats.beat("job")
    assert beats.problems() == {}
    running[0] = False
    assert beats.problems() == {"outbox": "stopped"}
    beats.beat("unknown")  # a task nobody watches is ignored
    assert beats.names() == ["job", "outbox"]
