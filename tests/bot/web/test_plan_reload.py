"""Reloading the plan without a restart: through `permanence plan reload` (the loopback endpoint)
and SIGHUP; a valid plan changes the slots offered at once, an invalid one leaves the old plan."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from booking.model import Mode
from bot.bootstrap import Overrides
from bot.cli import main
from bot.settings import Settings
from bot.texts import PARIS
from bot.web.app import RUNTIME, create_app
from tests.bot.conftest import Clock, scrape
from tests.helpers.plan_reload import NOW, SAMPLE, reload

THURSDAYS = 'weekday = "thursday"'


@pytest.fixture
async def service(tmp_path, monkeypatch) -> AsyncIterator[tuple[TestClient, Path]]:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    plan = tmp_path / "plan.toml"
    plan.write_text(SAMPLE, encoding="utf-8")
    settings = Settings(_env_file=None, data_dir=tmp_path / "var", key_file=tmp_path / "keys.json", plan_file=plan)
    app = create_app(settings, overrides=Overrides(clock=Clock(NOW)))
    async with TestClient(TestServer(app)) as client:
        yield client, plan


async def weekdays(client: TestClient) -> set[str]:
    offer = await client.app[RUNTIME].app.offers.offer(now=NOW, site_id="vanves", topic_id="logement", days=30)
    return {s.start.astimezone(PARIS).strftime("%A") for s in offer.slots}


async def test_a_reloaded_plan_changes_the_slots_offered_and_reports_orphans(service):
    client, plan = service
    runtime = client.app[RUNTIME]
    assert await weekdays(client) == {"Thursday"}
    async with runtime.store.unit_of_work() as uow:
        agent_id = await uow.agents.ensure("agent-oid", "SENTINEL-Agent", NOW)
        await uow.commit()
    offer = await runtime.app.offers.offer(now=NOW, site_id="vanves", topic_id="logement", days=30)
    booked = await runtime.app.bookings.book(
        now=NOW,
        agent_id=agent_id,
        site_id="vanves",
        slot_key=offer.slots[0].key,
        mode=Mode.TEAMS,
        topic_id="logement",
        message="SENTINEL-message",
    )

    plan.write_text(SAMPLE.replace(THURSDAYS, 'weekday = "tuesday"'), encoding="utf-8")
    status, body = await reload(client)
    assert status == 200 and body["applied"] is True
    assert body["orphans"] == [booked.reference]  # the Thursday booked is outside the new plan
    assert await weekdays(client) == {"Tuesday"}
    assert runtime.deployment.plans["ass"].weekly[0].weekday == 1  # what the runtime exposes too


async def test_an_invalid_plan_is_refused_and_the_old_one_kept(service):
    client, plan = service
    plan.write_text(SAMPLE.replace(THURSDAYS, 'weekday = "jeudi"'), encoding="utf-8")
    status, body = await reload(client)
    assert status == 422 and body["applied"] is False
    problems = body["problems"]
    assert isinstance(problems, list) and any("ligne" in p for p in problems) and not any("line" in p for p in problems)
    assert await weekdays(client) == {"Thursday"}
    plan.unlink()
    status, body = await reload(client)
    assert status == 422 and "unreadable" in str(body["problems"])
    assert await weekdays(client) == {"Thursday"}
    _, metrics = await scrape(client)
    assert 'permanence_plan_reloads_total{result="refused"} 2.0' in metrics


async def test_the_endpoint_refuses_what_came_through_a_proxy(service):
    client, plan = service
    plan.write_text(SAMPLE.replace(THURSDAYS, 'weekday = "tuesday"'), encoding="utf-8")
    for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
        status, _ = await reload(client, **{header: "203.0.113.7"})
        assert status == 403
    assert await weekdays(client) == {"Thursday"}


async def test_sighup_reloads_the_plan(service):
    client, plan = service
    assert signal.getsignal(signal.SIGHUP) is not signal.SIG_DFL  # the service handles it: safe to send
    plan.write_text(SAMPLE.replace(THURSDAYS, 'weekday = "wednesday"'), encoding="utf-8")
    os.kill(os.getpid(), signal.SIGHUP)
    for _ in range(400):  # the reload runs as a task of the loop: wait for it, not for a duration
        if await weekdays(client) == {"Wednesday"}:
            break
        await asyncio.sleep(0.05)
    assert await weekdays(client) == {"Wednesday"}


async def test_the_command_reloads_the_running_service_with_exit_codes(service, capsys):
    client, plan = service
    url = f"http://127.0.0.1:{client.server.port}"
    plan.write_text(SAMPLE.replace(THURSDAYS, 'weekday = "tuesday"'), encoding="utf-8")
    assert await asyncio.to_thread(main, ["plan", "reload", "--url", url]) == 0
    assert "planning relu depuis" in capsys.readouterr().out
    assert await weekdays(client) == {"Tuesday"}
    plan.write_text(SAMPLE.replace(THURSDAYS, 'weekday = "jeudi"'), encoding="utf-8")
    assert await asyncio.to_thread(main, ["plan", "reload", "--url", url]) == 1
    err = capsys.readouterr().err
    assert "garde son planning actuel" in err and "weekday" in err
    assert await weekdays(client) == {"Tuesday"}
    closed = "http://127.0.0.1:9"  # discard port: nobody listens
    assert await asyncio.to_thread(main, ["plan", "reload", "--url", closed, "--timeout", "5"]) == 2
    assert "systemctl reload permanence" in capsys.readouterr().err
