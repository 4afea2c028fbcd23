"""The bot over HTTP: a local OpenID issuer of Bot Framework tokens, the app with a recording
channel (the `harness` fixture), and the raw connector of the replica tests."""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from sqlalchemy import text

from bot.settings import Settings
from bot.web.app import RUNTIME, create_app
from tests.dates import DEFAULT
from tests.graph.fake_graph import make_certificate
from tests.helpers.channel import RecordingChannel, serve_channel

APP_ID = "c0ffee00-1234-4abc-8def-000000000001"

TENANT = "11111111-2222-3333-4444-555555555555"

SERVICE_URL = "https://smba.trafficmanager.net/emea/"


class Issuer:
    """Bot Framework's OpenID metadata and signing keys, served locally (botbuilder fetches
    them with blocking `requests`, so this runs in its own thread)."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update({"kid": self.kid, "use": "sig", "endorsements": ["msteams", "webchat"]})
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.endswith("openid-configuration"):
                    body = {
                        "issuer": "https://api.botframework.com",
                        "jwks_uri": f"http://127.0.0.1:{issuer.port}/keys",
                    }
                else:
                    body = {"keys": [jwk]}
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def metadata_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/.well-known/openid-configuration"

    def token(self, *, key: Any = None, kid: str | None = None, **claims: Any) -> str:
        # Real time, not the pinned clock: botbuilder checks iat/nbf/exp against the wall clock,
        # and no business expectation depends on it.
        now = int(time.time())
        payload = {
            "iss": "https://api.botframework.com",
            "aud": APP_ID,
            "serviceurl": SERVICE_URL,
            "nbf": now - 60,
            "exp": now + 3600,
            **claims,
        }
        return jwt.encode(payload, key or self.key, algorithm="RS256", headers={"kid": kid or self.kid})


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    instance = Issuer()
    yield instance
    instance.server.shutdown()


SECRET = "bot-secret"

EFFECT_TABLES = (
    "appointments",
    "appointment_changes",
    "urgent_requests",
    "absences",
    "calendar_entries",
    "outbox",
    "audit",
)


@pytest.fixture(scope="module")
def bot_framework() -> Iterator[Issuer]:
    instance = Issuer()
    yield instance
    instance.server.shutdown()


@dataclass
class Harness:
    client: TestClient
    app: web.Application
    channel: RecordingChannel
    service_url: str
    issuer: Issuer

    def activity(self, kind: str = "message", user: int = 1, **fields: Any) -> dict[str, Any]:
        """The shape Teams sends in a personal chat."""
        body: dict[str, Any] = {
            "type": kind,
            "id": f"1:{secrets.token_hex(8)}",
            "timestamp": "2027-01-04T09:15:00.123Z",
            "localTimestamp": "2027-01-04T10:15:00.123+01:00",
            "channelId": "msteams",
            "serviceUrl": self.service_url,
            "from": {
                "id": f"29:1user{user}",
                "name": "Agent Cned",
                "aadObjectId": f"aaaaaaaa-0000-0000-0000-{user:012d}",
            },
            "conversation": {
                "conversationType": "personal",
                "tenantId": TENANT,
                "id": f"a:1conversation{user}",
            },
            "recipient": {"id": f"28:{APP_ID}", "name": "Permanence"},
            "entities": [
                {
                    "locale": "fr-FR",
                    "country": "FR",
                    "platform": "Web",
                    "timezone": "Europe/Paris",
                    "type": "clientInfo",
                }
            ],
            "channelData": {"tenant": {"id": TENANT}},
            "locale": "fr-FR",
            "localTimezone": "Europe/Paris",
        }
        body.update(fields)
        return body

    async def post(self, body: Any, *, raw: bytes | None = None) -> tuple[int, str]:
        token = self.issuer.token(serviceurl=self.service_url)
        response = await self.client.post(
            "/api/messages",
            data=raw if raw is not None else json.dumps(body),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        )
        return response.status, await response.text()

    async def effects(self) -> dict[str, int]:
        engine = self.app[RUNTIME].store.engine
        async with engine.connect() as connection:
            counts = {}
            for table in EFFECT_TABLES:
                # The background jobs (the retention purge starts a minute after start-up, which a
                # slow run reaches) audit their own runs: not an effect of any activity.
                where = " WHERE action NOT IN ('retention.purge')" if table == "audit" else ""
                query = text(f"SELECT count(*) FROM {table}{where}")
                counts[table] = int((await connection.execute(query)).scalar_one())
            return counts


@pytest.fixture
async def harness(tmp_path, bot_framework, monkeypatch) -> AsyncIterator[Harness]:  # type: ignore[no-untyped-def]
    (tmp_path / "tls").mkdir()
    cert, key = make_certificate(tmp_path / "tls")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    channel = RecordingChannel(tenant=TENANT, client_id=APP_ID, secret=SECRET)
    async with serve_channel(channel, (cert, key)) as base:
        settings = Settings(
            _env_file=None,
            data_dir=tmp_path / "data",
            MicrosoftAppId=APP_ID,
            MicrosoftAppPassword=SECRET,
            MicrosoftAppTenantId=TENANT,
            MicrosoftAppType="SingleTenant",
            botframework_openid_metadata_url=bot_framework.metadata_url,
            test_mode=True,
            test_now=DEFAULT.instant,  # what is offered never decides these tests: one instant is enough
            authority_host=base,
            log_level="CRITICAL",
        )
        app = create_app(settings)
        async with TestClient(TestServer(app)) as client:
            yield Harness(client, app, channel, f"{base}/", bot_framework)


class Connector:
    """The Bot Connector side: stores every activity the replicas send, by conversation."""

    def __init__(self) -> None:
        self.activities: dict[str, list[dict[str, Any]]] = {}
        self.ids = iter(range(1, 10_000))

    async def post(self, request: web.Request) -> web.Response:
        body = await request.json()
        body["id"] = f"act-{next(self.ids)}"
        self.activities.setdefault(request.match_info["conversation"], []).append(body)
        return web.json_response({"id": body["id"]})

    async def member(self, request: web.Request) -> web.Response:
        return web.json_response({"id": request.match_info["member"], "email": "agent@cned.example"})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v3/conversations/{conversation}/activities", self.post)
        app.router.add_post("/v3/conversations/{conversation}/activities/{id}", self.post)
        app.router.add_put("/v3/conversations/{conversation}/activities/{id}", self.post)
        app.router.add_get("/v3/conversations/{conversation}/members/{member}", self.member)
        return app


def card_action(activity: dict[str, Any], action: str, index: int = 0) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "Action.Submit" and node.get("data", {}).get("action") == action:
                found.append(node["data"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(activity.get("attachments", []))
    return found[index]
