"""A local Bot Connector service (and Entra token endpoint) that records what the bot sends."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

BOT_FRAMEWORK_SCOPE = "https://api.botframework.com/.default"


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    id: str = ""  # the id the channel gave a sent (POST) or updated (PUT) activity


RECORDED = web.RequestKey("recorded", Recorded)


@dataclass
class RecordingChannel:
    """Answers like the Bot Connector: replies get an id, members are found; all is recorded."""

    tenant: str = ""
    client_id: str = ""
    secret: str = ""
    requests: list[Recorded] = field(default_factory=list)
    peers: set[tuple[str, int]] = field(default_factory=set)  # TCP connections seen
    tokens_issued: int = 0
    token_requests: list[dict[str, str]] = field(default_factory=list)
    replied: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._record])
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self.token)
        app.router.add_post(r"/{prefix:.*}v3/conversations/{conversation}/activities", self.reply)
        app.router.add_post(r"/{prefix:.*}v3/conversations/{conversation}/activities/{id}", self.reply)
        app.router.add_put(r"/{prefix:.*}v3/conversations/{conversation}/activities/{id}", self.reply)
        app.router.add_get(r"/{prefix:.*}v3/conversations/{conversation}/members/{member}", self.member)
        return app

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if peer:
            self.peers.add((str(peer[0]), int(peer[1])))
        if "/oauth2/" not in request.path:
            raw = await request.read()
            body = json.loads(raw) if raw else None
            recorded = Recorded(request.method, request.raw_path, dict(request.headers), body)
            self.requests.append(recorded)
            request[RECORDED] = recorded
        response: web.StreamResponse = await handler(request)
        return response

    async def token(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.token_requests.append(form)
        if form.get("grant_type") != "client_credentials" or form.get("scope") != BOT_FRAMEWORK_SCOPE:
            return web.json_response({"error": "invalid_request"}, status=400)
        if (
            request.match_info["tenant"] != self.tenant
            or form.get("client_id") != self.client_id
            or form.get("client_secret") != self.secret
        ):
            return web.json_response({"error": "invalid_client"}, status=401)
        self.tokens_issued += 1
        return web.json_response(
            {"token_type": "Bearer", "expires_in": 3599, "access_token": f"bf-token-{self.tokens_issued}"}
        )

    async def reply(self, request: web.Request) -> web.Response:
        self.replied.set()
        # An update keeps its message's id; a new message gets one of its own.
        activity_id = request.match_info["id"] if request.method == "PUT" else f"reply-{len(self.requests)}"
        if RECORDED in request:
            request[RECORDED].id = activity_id
        return web.json_response({"id": activity_id})

    async def member(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"id": request.match_info["member"], "name": "Agent", "email": "agent@cned.example", "objectId": "x"}
        )

    def activities(self) -> list[Recorded]:
        return [r for r in self.requests if "/activities" in r.path]

    def updates(self) -> list[Recorded]:
        """The card updates (Bot Connector updateActivity: PUT .../activities/{id})."""
        return [r for r in self.activities() if r.method == "PUT"]


class DeadEndpoint:
    """Accepts connections and never answers, until released (then drops them)."""

    def __init__(self) -> None:
        self.writers: list[asyncio.StreamWriter] = []
        self.connected = asyncio.Condition()
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            async with self.connected:
                self.writers.append(writer)
                self.connected.notify_all()
            await reader.read(-1)  # until the peer or the release closes it

        self.server = await asyncio.start_server(hold, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def wait_for(self, connections: int) -> None:
        # A safety net, not a timing assertion: fail instead of hanging if the calls never come.
        async with asyncio.timeout(60), self.connected:
            await self.connected.wait_for(lambda: len(self.writers) >= connections)

    async def release(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()
        await self.server.wait_closed()


@contextlib.asynccontextmanager
async def serve_channel(channel: RecordingChannel, tls: tuple[Path, Path] | None = None) -> AsyncIterator[str]:
    """Runs the channel on loopback (over TLS with a certificate and key); yields its base URL."""
    context = None
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*tls)
    runner = web.AppRunner(channel.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
