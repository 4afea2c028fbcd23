"""`permanence doctor` against the local Graph (real msgraph-sdk and azure-identity): every
mailbox read, one refused by Graph (an application access policy that leaves her out)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.cli import main
from bot.runtime import open_store
from bot.settings import Settings
from tests.bot.conftest import REPLACEMENT_OID, WORKER_OID, scrape
from tests.graph.conftest import CLIENT_ID, CLIENT_STATE
from tests.graph.fake_graph import FakeGraph

AS_OF = datetime(2027, 3, 1, 8, tzinfo=UTC)  # the sample plan's 2027 fits its 68 days


@pytest.fixture
async def configured(graph: FakeGraph, tmp_path, monkeypatch) -> Settings:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)  # no .env from the checkout
    identities = {
        "ass": {"object_id": WORKER_OID, "mailbox": "ass@cned.example"},
        "remplacante": {"object_id": REPLACEMENT_OID, "mailbox": "remplacante@cned.example"},
    }
    for name, value in {
        "PERMANENCE_DATA_DIR": str(tmp_path / "var"),
        "PERMANENCE_KEY_FILE": str(tmp_path / "config" / "keys.json"),
        "PERMANENCE_CALENDAR_PROVIDER": "microsoft",
        "PERMANENCE_GRAPH_BASE_URL": f"{graph.base}/v1.0",
        "PERMANENCE_AUTHORITY_HOST": graph.base,
        "PERMANENCE_GRAPH_CA_BUNDLE": graph.ca_bundle,
        "MicrosoftAppTenantId": graph.tenant,
        "MicrosoftAppId": CLIENT_ID,
        "MicrosoftAppPassword": "graph-secret",
        "PERMANENCE_PUBLIC_URL": "https://permanence.cned.example",
        "PERMANENCE_GRAPH_CLIENT_STATE": CLIENT_STATE,
        "PERMANENCE_IDENTITIES": json.dumps(identities),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PERMANENCE_DATABASE_URL", raising=False)
    monkeypatch.delenv("PERMANENCE_PLAN_FILE", raising=False)
    settings = Settings(_env_file=None)
    store = await open_store(settings, upgrade=True)
    try:
        async with store.unit_of_work() as uow:
            await uow.workers.sync(settings.load_deployment().directory.workers)
            for worker_id, oid in (("ass", WORKER_OID), ("remplacante", REPLACEMENT_OID)):
                agent_id = await uow.agents.ensure(oid, f"SENTINEL-{worker_id}", AS_OF)
                await uow.agents.set_conversation(agent_id, {"conversation": {"id": f"a:{worker_id}"}}, AS_OF)
                await uow.sync_state.put(
                    f"subscription:{worker_id}",
                    {"id": f"sub-{worker_id}", "expires": (AS_OF + timedelta(days=2)).isoformat()},
                    AS_OF,
                )
            await uow.commit()
    finally:
        await store.dispose()
    return settings


async def doctor(capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any], str]:
    # `main` runs its own event loop: in a thread, while this loop serves the local Graph.
    code = await asyncio.to_thread(main, ["doctor", "--json", "--as-of", AS_OF.isoformat()])
    out = capsys.readouterr().out
    return code, json.loads(out), out


def by_area(document: dict[str, Any], area: str) -> dict[str, tuple[str, str]]:
    return {c["subject"]: (c["status"], c["code"]) for c in document["checks"] if c["area"] == area}


async def test_doctor_reads_every_mailbox_and_finds_nothing_wrong(configured, graph, capsys):
    code, document, out = await doctor(capsys)
    assert code == 0, out
    assert document["ok"] is True and document["problems"] == 0
    assert by_area(document, "mailbox") == {"ass": ("ok", "ok"), "remplacante": ("ok", "ok")}
    assert by_area(document, "teams") == {"ass": ("ok", "ok"), "remplacante": ("ok", "ok")}
    assert by_area(document, "subscription") == {"ass": ("ok", "ok"), "remplacante": ("ok", "ok")}
    assert by_area(document, "calendar") == {"": ("ok", "ok")}
    # Both reads of each mailbox went through Graph with the SDK's headers.
    assert {r.path for r in graph.graph_requests("GET", "/mailboxSettings")} == {
        "/v1.0/users/ass@cned.example/mailboxSettings",
        "/v1.0/users/remplacante@cned.example/mailboxSettings",
    }
    assert sum(1 for r in graph.graph_requests("GET") if r.path.endswith("/calendarView")) == 2


async def test_one_mailbox_refused_by_graph_is_reported_and_exits_1(configured, graph, capsys):
    graph.forbidden.add("remplacante@cned.example")
    code, document, out = await doctor(capsys)
    assert code == 1
    assert document["problems"] == 1
    assert by_area(document, "mailbox") == {"ass": ("ok", "ok"), "remplacante": ("problem", "graph_403")}
    refused = next(c for c in document["checks"] if c["area"] == "mailbox" and c["subject"] == "remplacante")
    assert "stratégie d'accès" in refused["detail"]
    # Workers are named by their plan key only: no Entra id, no name, no address.
    for secret in (WORKER_OID, REPLACEMENT_OID, "SENTINEL", "@cned.example"):
        assert secret not in out


async def test_an_unknown_mailbox_and_an_expiring_subscription_are_reported(configured, graph, capsys):
    graph.forbidden.add("ass@cned.example")
    store = await open_store(configured)
    try:
        async with store.unit_of_work() as uow:
            await uow.sync_state.put(
                "subscription:ass", {"id": "sub-ass", "expires": (AS_OF + timedelta(hours=3)).isoformat()}, AS_OF
            )
            await uow.commit()
    finally:
        await store.dispose()
    code, document, _ = await doctor(capsys)
    assert code == 1
    assert by_area(document, "mailbox")["ass"] == ("problem", "graph_403")
    assert by_area(document, "subscription") == {"ass": ("problem", "expiring"), "remplacante": ("ok", "ok")}


async def test_readyz_says_which_mailbox_is_unreadable_by_plan_key_only(configured, graph):
    from aiohttp.test_utils import TestClient, TestServer
    from prometheus_client.parser import text_string_to_metric_families

    from bot.bootstrap import Overrides
    from bot.web.app import create_app
    from tests.bot.conftest import Clock

    graph.forbidden.add("remplacante@cned.example")
    overrides = Overrides(clock=Clock(AS_OF))
    async with TestClient(TestServer(create_app(configured, overrides=overrides))) as client:
        response = await client.get("/readyz")
        text = await response.text()
        body = json.loads(text)
        assert response.status == 200 and body["status"] == "degraded"
        assert body["checks"]["database"] == "ok" and body["checks"]["calendar"] == "ok"
        assert body["workers"] == {
            "ass": {"teams": "ok", "mailbox": "ok", "subscription": "ok"},
            "remplacante": {"teams": "ok", "mailbox": "graph_403", "subscription": "ok"},
        }
        assert body["counts"] == {"workers": 2, "without_teams": 0, "unreadable_mailboxes": 1}
        for secret in (WORKER_OID, REPLACEMENT_OID, "SENTINEL", "@cned.example"):
            assert secret not in text
        _, metrics = await scrape(client)
        values = {s.name: s.value for f in text_string_to_metric_families(metrics) for s in f.samples}
        assert values["permanence_mailboxes_unreadable"] == 1
        assert values["permanence_workers_without_teams"] == 0

        # The facts are kept a minute: a second probe makes no new Graph call (the calendar
        # sync running meanwhile reads the delta, never the plain calendar view).
        def views() -> int:
            return sum(1 for r in graph.graph_requests("GET") if r.path.endswith("/calendarView"))

        before = views()
        assert before == 1  # the refused mailbox stopped at its settings
        assert (await client.get("/readyz")).status == 200
        assert views() == before
