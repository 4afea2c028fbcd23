"""Outgoing calls over the shared asynchronous session: what reaches the channel, with which
token, and how a dead channel endpoint or many service URLs leave other turns alone."""

from __future__ import annotations

import asyncio
import json
import ssl
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from botbuilder.schema import Activity

from bot.channel.connector import ChannelConnector, ChannelError, ChannelOptions
from bot.settings import Settings
from bot.web.app import RUNTIME, create_app
from tests.graph.fake_graph import make_certificate
from tests.helpers.bot_http import APP_ID, TENANT, Issuer
from tests.helpers.channel import DeadEndpoint, RecordingChannel

SECRET = "bot-secret"


async def serve(app: web.Application, ssl_context: Any = None) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def bot_framework() -> Iterator[Issuer]:
    instance = Issuer()
    yield instance
    instance.server.shutdown()


@pytest.fixture
async def channel() -> AsyncIterator[tuple[RecordingChannel, str]]:
    recording = RecordingChannel()
    runner, port = await serve(recording.app())
    yield recording, f"http://127.0.0.1:{port}/"
    await runner.cleanup()


def message(text: str, service_url: str, user: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "type": "message",
        "id": f"m-{user}-{uuid.uuid4().hex}",  # every activity its own id (a repeated id is a redelivery)
        "text": text,
        "channelId": "msteams",
        "serviceUrl": service_url,
        "from": {"id": f"29:user{user}", "aadObjectId": f"aaaaaaaa-0000-0000-0000-{user:012d}", "name": "Agent"},
        "recipient": {"id": f"28:{APP_ID}"},
        "conversation": {"id": f"a:conv{user}", "conversationType": "personal", "tenantId": TENANT},
        "channelData": {"tenant": {"id": TENANT}},
        **extra,
    }


async def post(client: TestClient, body: dict[str, Any], token: str | None = None) -> int:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    response = await client.post("/api/messages", data=json.dumps(body), headers=headers)
    await response.read()
    return response.status


async def test_replies_reach_the_channel_without_a_token_when_there_are_no_credentials(tmp_path, channel):
    recording, url = channel
    app = create_app(Settings(_env_file=None, data_dir=tmp_path))
    async with TestClient(TestServer(app)) as client:
        assert await post(client, message("aide", url, id="m-1-aide")) == 200
    [reply] = recording.activities()
    assert reply.method == "POST"
    assert reply.path == "/v3/conversations/a%3Aconv1/activities/m-1-aide"  # a reply to the message
    assert "Authorization" not in reply.headers
    assert reply.body["type"] == "message"
    assert reply.body["conversation"]["id"] == "a:conv1"
    assert reply.body["replyToId"] == "m-1-aide"
    assert reply.body["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"


async def test_with_credentials_every_call_carries_the_app_token_acquired_once(tmp_path, bot_framework, monkeypatch):
    (tmp_path / "tls").mkdir()
    cert, key = make_certificate(tmp_path / "tls")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the service trusts the local CA, as a real one
    recording = RecordingChannel(tenant=TENANT, client_id=APP_ID, secret=SECRET)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    runner, port = await serve(recording.app(), context)
    base = f"https://127.0.0.1:{port}"
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path,
        MicrosoftAppId=APP_ID,
        MicrosoftAppPassword=SECRET,
        MicrosoftAppTenantId=TENANT,
        MicrosoftAppType="SingleTenant",
        botframework_openid_metadata_url=bot_framework.metadata_url,
        test_mode=True,
        authority_host=base,
    )
    try:
        async with TestClient(TestServer(create_app(settings))) as client:
            token = bot_framework.token(serviceurl=f"{base}/")
            assert await post(client, message("aide", f"{base}/"), token) == 200
            assert await post(client, message("mes rendez-vous", f"{base}/"), token) == 200
    finally:
        await runner.cleanup()
    calls = recording.requests
    assert [c.method for c in calls] == ["GET", "POST", "POST"]  # the member (e-mail), then two replies
    assert all(c.headers["Authorization"] == "Bearer bf-token-1" for c in calls)
    assert recording.tokens_issued == 1  # cached across turns
    assert recording.token_requests[0]["scope"] == "https://api.botframework.com/.default"


async def test_a_token_is_never_sent_in_clear_text_to_a_remote_host(tmp_path):
    class Token:
        async def get(self, audience: str) -> str:
            return "secret-token"

    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        return web.json_response({"id": "1"})

    app = web.Application()
    app.router.add_post("/v3/conversations/{c}/activities", handler)
    runner, port = await serve(app)
    try:
        async with ChannelConnector.open(Settings(_env_file=None, data_dir=tmp_path)) as connector:
            connector.token = Token()  # type: ignore[assignment]
            activity = Activity(type="message", text="x")
            await connector.client(f"http://127.0.0.1:{port}/").conversations.send_to_conversation("c", activity)
            assert seen == ["Bearer secret-token"]  # loopback: the Emulator's and the tests' case
            with pytest.raises(ChannelError):
                # A remote host over http gets no token (and here, no answer at all).
                await connector.client("http://192.0.2.1:9/").conversations.send_to_conversation("c", activity)
    finally:
        await runner.cleanup()


async def test_a_dead_endpoint_fails_the_call_after_the_timeout(tmp_path):
    dead = DeadEndpoint()
    await dead.start()
    options = ChannelOptions(connect_timeout=0.2, total_timeout=0.3)
    try:
        async with ChannelConnector.open(Settings(_env_file=None, data_dir=tmp_path), options) as connector:
            client = connector.client(f"http://127.0.0.1:{dead.port}/")
            with pytest.raises(ChannelError, match="timeout"):
                await client.conversations.send_to_conversation("c", Activity(type="message", text="x"))
    finally:
        await dead.release()


async def test_a_dead_channel_endpoint_does_not_hold_up_another_agents_turn(tmp_path, channel):
    recording, url = channel
    dead = DeadEndpoint()
    await dead.start()
    dead_url = f"http://127.0.0.1:{dead.port}/"
    # A long timeout: the stuck turns stay stuck until released, whatever the machine's speed.
    app = create_app(Settings(_env_file=None, data_dir=tmp_path, channel_timeout_seconds=60))
    async with TestClient(TestServer(app)) as client:
        assert await post(client, message("aide", url, user=99)) == 200  # the live agent is known
        recording.requests.clear()
        stuck = [asyncio.create_task(post(client, message("aide", dead_url, user=i))) for i in range(40)]
        await dead.wait_for(32)  # more stuck calls than botbuilder's thread pool had threads
        assert await post(client, message("mes rendez-vous", url, user=99)) == 200
        assert [r.method for r in recording.activities()] == ["POST"]  # her reply went out...
        assert not any(task.done() for task in stuck)  # ...while every stuck turn still waits
        await dead.release()
        statuses = await asyncio.gather(*stuck)
    assert all(status < 500 for status in statuses)


async def test_a_thousand_service_urls_leave_nothing_behind(tmp_path, channel):
    recording, url = channel
    app = create_app(Settings(_env_file=None, data_dir=tmp_path))
    async with TestClient(TestServer(app)) as client:
        assert await post(client, message("aide", url)) == 200
        runtime = app[RUNTIME]
        gate = asyncio.Semaphore(8)

        async def turn(i: int) -> int:
            async with gate:
                return await post(client, message("aide", f"{url}s{i}/", user=1 + i % 8))

        statuses = await asyncio.gather(*(turn(i) for i in range(1000)))
        auth = runtime.adapter.bot_framework_authentication
        assert auth.cached_token_clients() <= 1  # per audience, never per service URL
    assert set(statuses) == {200}
    prefixes = {r.path.split("/v3/")[0] for r in recording.activities()}
    assert len(prefixes) == 1001  # each reply went to its own service URL...
    assert len(recording.peers) <= 32  # ...over a bounded pool of kept-alive connections


def test_channel_options_come_from_the_settings(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None, data_dir=tmp_path, channel_timeout_seconds=4, channel_connect_timeout_seconds=1.5
    )
    assert ChannelOptions.from_settings(settings) == ChannelOptions(connect_timeout=1.5, total_timeout=4)
    with pytest.raises(ValueError):
        Settings(_env_file=None, data_dir=tmp_path, channel_timeout_seconds=0)
