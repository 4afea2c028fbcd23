"""The deploy guide's set-up, run for real: `permanence db upgrade`, then two `permanence serve`
replicas on one PostgreSQL database, agents alternating between them turn by turn."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from bot import texts
from storage.crypto import Keyring
from storage.models import AppointmentRow, OutboxRow
from storage.store import Store
from tests.dates import served_environment
from tests.e2e.conftest import METRICS_TOKEN, free_port, wait_http
from tests.graph.fake_graph import make_certificate
from tests.helpers.bot_http import APP_ID, TENANT, Connector, Issuer, card_action
from tests.helpers.channel import Recorded, RecordingChannel, serve_channel
from tests.helpers.postgres import fresh_database
from tests.helpers.replicas import start_replicas
from tests.storage.conftest import pg_url

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
async def database() -> AsyncIterator[str]:
    async with fresh_database("permanence_replicas") as name:
        yield name


async def stored(database: str, key: str, lookup: str, column: Any) -> tuple[list[Any], list[Any]]:
    """What the replicas left: (`column`, event id) of each appointment, and the calendar
    writes queued (kind, status, attempts)."""
    store = Store(pg_url(database), Keyring.from_setting(f"k1:{key}", lookup))
    try:
        async with store.unit_of_work(read_only=True) as uow:
            appointments = (await uow.session.execute(select(column, AppointmentRow.outlook_event_id))).all()
            writes = (
                await uow.session.execute(
                    select(OutboxRow.kind, OutboxRow.status, OutboxRow.attempts).where(
                        OutboxRow.kind == "calendar.create"
                    )
                )
            ).all()
    finally:
        await store.dispose()
    return list(appointments), list(writes)


async def test_two_replicas_share_state_and_name_each_calendar_event_once(tmp_path, database, pinned_now):
    connector = Connector()
    runner = web.AppRunner(connector.app(), access_log=None)
    await runner.setup()
    connector_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", connector_port).start()
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    lookup = base64.b64encode(secrets.token_bytes(32)).decode()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PERMANENCE_DATABASE_URL": pg_url(database),
        "PERMANENCE_ENCRYPTION_KEY": f"k1:{key}",
        "PERMANENCE_LOOKUP_KEY": lookup,
        "PERMANENCE_DATA_DIR": str(tmp_path),
        "PERMANENCE_LOCAL_MEETING_URL": "https://teams.microsoft.com/l/x",
        "PERMANENCE_LOG_LEVEL": "WARNING",
        "PERMANENCE_METRICS_TOKEN": METRICS_TOKEN,
        **served_environment(pinned_now, tmp_path),
    }
    ports, replicas = start_replicas(env, tmp_path)
    try:
        for port in ports:
            await wait_http(f"http://127.0.0.1:{port}/readyz")
        turn = 0
        async with aiohttp.ClientSession() as session:

            async def send(user: int, text: str | None = None, value: dict[str, Any] | None = None) -> dict[str, Any]:
                nonlocal turn
                conversation = f"a:replica-user-{user}"
                before = len(connector.activities.get(conversation, []))
                activity = {
                    "type": "message",
                    "id": f"in-{turn}",
                    "channelId": "msteams",
                    "text": text,
                    "value": value,
                    "serviceUrl": f"http://127.0.0.1:{connector_port}/",
                    "from": {
                        "id": f"29:{user}",
                        "aadObjectId": f"00000000-0000-0000-0000-{user:012d}",
                        "name": f"Agent {user}",
                    },
                    "recipient": {"id": "28:bot"},
                    "conversation": {"id": conversation, "conversationType": "personal"},
                    "channelData": {"tenant": {"id": "00000000-0000-0000-0000-0000000000e1"}},
                    "replyToId": connector.activities[conversation][-1]["id"] if before else None,
                }
                port = ports[turn % 2]  # every turn goes to the other replica
                turn += 1
                async with session.post(f"http://127.0.0.1:{port}/api/messages", json=activity) as response:
                    assert response.status < 300, await response.text()
                replies = connector.activities[conversation][before:]
                assert replies, "no reply"
                return replies[-1]

            for user in range(6):
                picker = await send(user, "rendez-vous")
                form = await send(user, value={**card_action(picker, "site"), "site": "vanves"})
                slots = await send(
                    user, value={**card_action(form, "slots"), "mode": "teams", "topic": "", "message": "", "phone": ""}
                )
                # The first slot still free: each agent's offer leaves out what the ones before booked.
                summary = await send(user, value=card_action(slots, "pick"))
                done = await send(user, value=card_action(summary, "confirm"))
                assert "C'est réservé" in json.dumps(done, ensure_ascii=False)
        async with aiohttp.ClientSession() as session:
            for port in ports:
                async with session.get(
                    f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
                ) as response:
                    assert 'permanence_turns_total{type="message"} 15.0' in await response.text()
    finally:
        for replica in replicas:
            replica.terminate()
            replica.wait(timeout=10)
        await runner.cleanup()

    appointments, outbox = await stored(database, key, lookup, AppointmentRow.start_at)
    assert len({start for start, _ in appointments}) == 6
    # The embedded calendar names each event in its booking's transaction: one each, distinct,
    # and nothing queued that a replica could write twice.
    assert len({event for _, event in appointments if event and event.startswith("local:")}) == 6
    assert outbox == []


@pytest.fixture(scope="module")
def bot_framework() -> Iterator[Issuer]:
    instance = Issuer()
    yield instance
    instance.server.shutdown()


def metric_total(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


async def test_the_same_confirm_sent_to_two_replicas_at_once_books_once(tmp_path, database, bot_framework, pinned_now):
    """A double click whose two submits reach two replicas: Bot Framework JWTs from a local issuer,
    replies through the recording Bot Connector (with its token endpoint) over TLS."""
    (tmp_path / "tls").mkdir()
    cert, tls_key = make_certificate(tmp_path / "tls")
    channel = RecordingChannel(tenant=TENANT, client_id=APP_ID, secret="bot-secret")
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    lookup = base64.b64encode(secrets.token_bytes(32)).decode()
    async with serve_channel(channel, (cert, tls_key)) as base:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "SSL_CERT_FILE": str(cert),
            "PERMANENCE_DATABASE_URL": pg_url(database),
            "PERMANENCE_ENCRYPTION_KEY": f"k1:{key}",
            "PERMANENCE_LOOKUP_KEY": lookup,
            "PERMANENCE_DATA_DIR": str(tmp_path),
            "PERMANENCE_LOCAL_MEETING_URL": "https://teams.microsoft.com/l/x",
            "PERMANENCE_LOG_LEVEL": "WARNING",
            "MicrosoftAppId": APP_ID,
            "MicrosoftAppPassword": "bot-secret",
            "MicrosoftAppTenantId": TENANT,
            "MicrosoftAppType": "SingleTenant",
            "PERMANENCE_BOTFRAMEWORK_OPENID_METADATA_URL": bot_framework.metadata_url,
            "PERMANENCE_AUTHORITY_HOST": base,
            # Test mode (the issuer above is a test one; loopback only) at the pinned instant.
            **served_environment(pinned_now, tmp_path),
        }
        ports, replicas = start_replicas(env, tmp_path)
        service_url = f"{base}/"
        conversation = "a:1double-click"
        try:
            for port in ports:
                await wait_http(f"http://127.0.0.1:{port}/readyz")
            async with aiohttp.ClientSession() as session:

                def activity(**fields: Any) -> dict[str, Any]:
                    return {
                        "type": "message",
                        "id": f"1:{secrets.token_hex(8)}",
                        "channelId": "msteams",
                        "serviceUrl": service_url,
                        "from": {"id": "29:1user", "aadObjectId": "aaaaaaaa-0000-0000-0000-00000000c0de", "name": "A"},
                        "recipient": {"id": f"28:{APP_ID}"},
                        "conversation": {"id": conversation, "conversationType": "personal", "tenantId": TENANT},
                        "channelData": {"tenant": {"id": TENANT}},
                        "locale": "fr-FR",
                        **fields,
                    }

                async def post(port: int, body: dict[str, Any]) -> list[Recorded]:
                    """Returns what the bot sent or updated in answer (its replyToId names the activity)."""
                    token = bot_framework.token(serviceurl=service_url)
                    async with session.post(
                        f"http://127.0.0.1:{port}/api/messages", json=body, headers={"Authorization": f"Bearer {token}"}
                    ) as response:
                        assert response.status == 200, await response.text()
                    return [r for r in channel.activities() if r.body and r.body.get("replyToId") == body["id"]]

                def card(answers: list[Recorded]) -> Recorded:
                    return [r for r in answers if r.body.get("attachments")][-1]

                picker = card(await post(ports[0], activity(text="rendez-vous")))
                site = {**card_action(picker.body, "site"), "site": "vanves"}
                form = card(await post(ports[1], activity(value=site, replyToId=picker.id)))
                inputs = {"mode": "teams", "topic": "", "message": "", "phone": ""}
                slots = card(
                    await post(
                        ports[0], activity(value={**card_action(form.body, "slots"), **inputs}, replyToId=form.id)
                    )
                )
                summary = card(
                    await post(ports[1], activity(value=card_action(slots.body, "pick"), replyToId=slots.id))
                )
                confirm = card_action(summary.body, "confirm")
                # The person clicks « Confirmer » twice; each click reaches another replica.
                first, second = await asyncio.gather(
                    post(ports[0], activity(value=confirm, replyToId=summary.id)),
                    post(ports[1], activity(value=confirm, replyToId=summary.id)),
                )
            said = [json.dumps(r.body, ensure_ascii=False) for r in (*first, *second)]
            assert first and second, "each click is answered"
            assert not [s for s in said if texts.ERROR in s or texts.STALE_CARD in s]
            assert any(texts.CONFIRMED_TITLE in s for s in said)  # the confirmation card
            assert any("C'est déjà fait : votre rendez-vous du" in s for s in said)  # and what was done
        finally:
            for replica in replicas:
                replica.terminate()
                replica.wait(timeout=10)

    appointments, creates = await stored(database, key, lookup, AppointmentRow.status)
    # One appointment, its event named once in the booking's transaction (the embedded
    # calendar): no calendar write queued.
    assert [status for status, _ in appointments] == ["confirmed"]
    assert all(event and event.startswith("local:") for _, event in appointments)
    assert creates == []
