"""Finding 5 of issue 22: /metrics is for operators. Not on the public listener unless a bearer
token is set; no `_created` series; nothing that moves with one person's action (an urgent
notice, a reminder) before the day is over, and then only as the day's total."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from bot.metrics import Metrics
from bot.runtime import StartupError
from bot.web.app import METRICS_PORT, check_listen_address, create_app
from tests.bot.conftest import Clock, scrape
from tests.bot.conftest import test_settings as bot_settings

TOKEN = "operators-only-token"


def series(page: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(page)
        for s in family.samples
        if not s.name.startswith("process_")
    }


@pytest.fixture
async def public(tmp_path) -> AsyncIterator[TestClient]:  # type: ignore[no-untyped-def]
    async with TestClient(TestServer(create_app(bot_settings(tmp_path / "var")))) as client:
        yield client


async def test_metrics_are_not_on_the_public_listener_by_default(public):
    assert (await public.get("/metrics")).status == 404
    content_type, page = await scrape(public)  # the operators' listener, on loopback
    assert content_type.startswith("text/plain") and "permanence_outbox_depth" in page


async def test_with_a_token_both_listeners_require_it(tmp_path):
    settings = bot_settings(tmp_path / "var", metrics_token=TOKEN)
    async with TestClient(TestServer(create_app(settings))) as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            assert (await client.get("/metrics", headers=headers)).status == 401
        ok = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status == 200 and "permanence_outbox_depth" in await ok.text()
        url = f"http://127.0.0.1:{client.app[METRICS_PORT]}/metrics"
        async with aiohttp.ClientSession() as session:
            async with session.get(url) as response:
                assert response.status == 401
            async with session.get(url, headers={"Authorization": f"Bearer {TOKEN}"}) as response:
                assert response.status == 200


def test_metrics_off_loopback_need_a_token(tmp_path):
    with pytest.raises(StartupError, match="METRICS_TOKEN"):
        check_listen_address(bot_settings(tmp_path, metrics_host="0.0.0.0"))
    check_listen_address(bot_settings(tmp_path, metrics_host="0.0.0.0", metrics_token=TOKEN))


async def test_no_created_series_and_person_events_only_as_daily_totals():
    clock = Clock(datetime(2027, 3, 4, 9, 2, 17, tzinfo=UTC))
    metrics = Metrics(process=False, clock=clock)
    metrics.inc("permanence_turns_total", type="message")
    before = series(await metrics.render())
    assert not any(name.endswith("_created") for name, _ in before)
    assert "_created" not in await metrics.render()

    # One urgent request, its notice delivered, and a reminder an hour before an appointment.
    metrics.inc("permanence_urgent_notices_total", channel="teams", outcome="sent")
    metrics.inc("permanence_outbox_done_total", kind="notify.worker")
    metrics.observe("permanence_outbox_lag_seconds", 0.4, kind="notify.worker")
    clock.advance(timedelta(hours=3))
    metrics.inc("permanence_outbox_done_total", kind="notify.agent")
    metrics.inc("permanence_calendar_writes_total", operation="create")
    assert series(await metrics.render()) == before  # nothing moved during the day

    # Operational work (Graph's sync) stays live: it says nothing about a person.
    metrics.inc("permanence_outbox_done_total", kind="calendar.sync")
    assert series(await metrics.render())[("permanence_outbox_done_total", (("kind", "calendar.sync"),))] == 1

    clock.advance(timedelta(days=1))
    metrics.inc("permanence_urgent_notices_total", channel="teams", outcome="sent")  # the next day's
    after = series(await metrics.render())
    assert after[("permanence_urgent_notices_total", (("channel", "teams"), ("outcome", "sent")))] == 1
    assert after[("permanence_outbox_done_total", (("kind", "notify.agent"),))] == 1
    assert after[("permanence_outbox_lag_seconds_count", (("kind", "notify.worker"),))] == 1
    assert after[("permanence_calendar_writes_total", (("operation", "create"),))] == 1
    assert not any(name.endswith("_created") for name, _ in after)
