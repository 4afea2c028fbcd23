"""/api/messages over HTTP: JWTs from a local OpenID issuer, tenants, malformed bodies, health."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric import rsa
from prometheus_client.parser import text_string_to_metric_families

from bot.runtime import StartupError
from bot.settings import Settings
from bot.web.app import RUNTIME, check_listen_address, create_app
from tests.bot.conftest import scrape
from tests.helpers.bot_http import APP_ID, SERVICE_URL, TENANT


def settings(tmp_path, **overrides: Any) -> Settings:  # type: ignore[no-untyped-def]
    return Settings(_env_file=None, data_dir=tmp_path, key_file=tmp_path / "config" / "keys.json", **overrides)


@pytest.fixture
async def secured(tmp_path, issuer, pinned_now) -> AsyncIterator[TestClient]:  # type: ignore[no-untyped-def]
    config = settings(
        tmp_path,
        MicrosoftAppId=APP_ID,
        MicrosoftAppPassword="not-used-here",
        MicrosoftAppTenantId=TENANT,
        MicrosoftAppType="SingleTenant",
        botframework_openid_metadata_url=issuer.metadata_url,
        test_mode=True,
        test_now=pinned_now,
    )
    async with TestClient(TestServer(create_app(config))) as client:
        yield client


@pytest.fixture
async def open_client(tmp_path, pinned_now) -> AsyncIterator[TestClient]:  # type: ignore[no-untyped-def]
    async with TestClient(TestServer(create_app(settings(tmp_path, test_mode=True, test_now=pinned_now)))) as client:
        yield client


def activity(kind: str = "typing", tenant: str = TENANT) -> dict[str, Any]:
    return {
        "type": kind,
        "id": "1",
        "channelId": "msteams",
        "serviceUrl": SERVICE_URL,
        "from": {"id": "29:user", "aadObjectId": "aaaaaaaa-0000-0000-0000-00000000000a"},
        "recipient": {"id": f"28:{APP_ID}"},
        "conversation": {"id": "a:1", "conversationType": "personal", "tenantId": tenant},
        "channelData": {"tenant": {"id": tenant}},
    }


async def post(client: TestClient, body: Any, token: str | None = None) -> tuple[int, str]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    response = await client.post(
        "/api/messages", data=json.dumps(body) if not isinstance(body, str) else body, headers=headers
    )
    return response.status, await response.text()


async def test_a_valid_bot_framework_token_is_accepted(secured, issuer):
    status, _ = await post(secured, activity(), issuer.token())
    assert status == 200


@pytest.mark.parametrize(
    "make_token",
    [
        lambda issuer: None,  # no Authorization header
        lambda issuer: "not-a-jwt",
        lambda issuer: issuer.token(aud="someone-else"),
        # Expired by the wall clock, which is what botbuilder's JWT check reads (not a business date).
        lambda issuer: issuer.token(exp=int(time.time()) - 3600, nbf=int(time.time()) - 7200),
        lambda issuer: issuer.token(key=rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        lambda issuer: issuer.token(iss="https://evil.example"),
        lambda issuer: issuer.token(serviceurl="https://evil.example/"),
    ],
    ids=["missing", "garbage", "wrong-audience", "expired", "wrong-key", "wrong-issuer", "wrong-service-url"],
)
async def test_requests_without_a_valid_token_are_refused(secured, issuer, make_token):
    status, body = await post(secured, activity(), make_token(issuer))
    assert status in (401, 403)
    assert "Traceback" not in body


async def test_another_tenant_is_refused_even_with_a_valid_token(secured, issuer):
    status, body = await post(secured, activity(tenant="99999999-9999-9999-9999-999999999999"), issuer.token())
    assert status == 403 and "tenant" in body


async def test_malformed_requests_get_a_clear_400_without_a_stack_trace(open_client):
    for body in ("{not json", "[]", json.dumps({"text": "no type"})):
        status, text = await post(open_client, body)
        assert status == 400 and "Traceback" not in text
    response = await open_client.post("/api/messages", data="hello", headers={"Content-Type": "text/plain"})
    assert response.status == 415


async def test_health_readiness_and_metrics(open_client):
    assert (await open_client.get("/healthz")).status == 200
    ready = await open_client.get("/readyz")
    body = await ready.json()
    assert ready.status == 200 and body["checks"]["database"] == "ok" and body["checks"]["calendar"] == "ok"
    # The workers of the plan have no Entra id here: reachable by nobody, said without a name.
    assert body["status"] == "degraded"
    assert body["workers"] == {
        "ass": {"teams": "no_object_id", "mailbox": "local_calendar"},
        "remplacante": {"teams": "no_object_id", "mailbox": "local_calendar"},
    }
    assert body["counts"] == {"workers": 2, "without_teams": 2, "unreadable_mailboxes": 0}
    await post(open_client, activity())
    content_type, page = await scrape(open_client)
    assert content_type.startswith("text/plain; version=0.0.4")
    parsed = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(page)
        for s in family.samples
    }
    assert parsed[("permanence_turns_total", (("type", "typing"),))] == 1
    assert parsed[("permanence_turn_seconds_count", (("type", "typing"),))] == 1
    assert parsed[("permanence_outbox_depth", ())] == 0
    assert parsed[("permanence_outbox_overdue", ())] == 0
    assert parsed[("permanence_outbox_dead", ())] == 0
    assert parsed[("permanence_workers_without_teams", ())] == 2
    assert parsed[("permanence_mailboxes_unreadable", ())] == 0
    assert "X-Request-Id" in (await open_client.get("/healthz")).headers


async def test_readyz_is_503_when_the_database_is_not_the_migrated_one(open_client, tmp_path):
    store = open_client.app[RUNTIME].store
    await store.engine.dispose()
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / f"permanence.db{suffix}").unlink(missing_ok=True)
    response = await open_client.get("/readyz")
    body = await response.json()
    assert response.status == 503 and body["status"] == "not ready"
    assert body["checks"]["database"] == "not_at_head"


def test_no_credentials_means_loopback_only(tmp_path):
    check_listen_address(settings(tmp_path))
    check_listen_address(settings(tmp_path, host="::1"))
    check_listen_address(settings(tmp_path, host="localhost"))
    for address in ("0.0.0.0", "10.1.2.3", "bot.example.org"):
        with pytest.raises(StartupError, match="refusing to listen"):
            check_listen_address(settings(tmp_path, host=address))
    check_listen_address(settings(tmp_path, host="0.0.0.0", MicrosoftAppId=APP_ID))


def test_settings_refuse_malformed_ids(tmp_path):
    with pytest.raises(ValueError, match="GUID"):
        settings(tmp_path, MicrosoftAppId="not-a-guid")


async def test_graph_webhooks_answer_the_validation_handshake_as_plain_text(open_client):
    for path in ("/api/graph/notifications", "/api/graph/lifecycle"):
        response = await open_client.post(f"{path}?validationToken=Validation%3A%20Testing%20client%20%3Cb%3E")
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        assert await response.text() == "Validation: Testing client &lt;b&gt;"  # decoded, escaped


async def test_graph_notifications_are_refused_when_graph_is_not_configured(open_client):
    body = json.dumps({"value": [{"subscriptionId": "x", "clientState": "y"}]})
    response = await open_client.post(
        "/api/graph/notifications", data=body, headers={"Content-Type": "application/json"}
    )
    assert response.status == 404
