"""Fixtures: the local Graph over TLS, and the product wired to it through the real
msgraph-sdk and azure-identity (service, outbox, calendar sync)."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web

from booking.records import OutboxMessage
from bot.application import Application
from bot.application.calendar_sync import CalendarSync
from bot.application.outbox import OutboxDispatcher
from bot.metrics import Metrics
from bot.settings import Settings
from graph.client import GraphOptions
from graph.credentials import CredentialKind, graph_credential
from graph.microsoft import MicrosoftCalendar
from storage.crypto import Keyring
from storage.store import Store
from tests.bot.conftest import Clock, sample_deployment
from tests.graph.fake_graph import EXAMPLES, FakeGraph, make_certificate

MAILBOX = "ass@cned.example"
CLIENT_STATE = "a-secret-client-state"
CLIENT_ID = "c0ffee00-1234-4abc-8def-000000000002"
CATALOG_ID = "1542629c-01b3-4a6d-8f76-1938b779e48d"  # the app's id in the tenant catalog
NOTIFICATION_MAILBOX = "permanence-notifications@cned.example"


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
async def graph(certificate, monkeypatch) -> AsyncIterator[FakeGraph]:  # type: ignore[no-untyped-def]
    if not EXAMPLES.is_dir():
        reason = f"Graph payload examples not found at {EXAMPLES} (the shared/ folder beside the checkout)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    cert, key = certificate
    # azure-identity (aiohttp) and msgraph-sdk (httpx) trust the test certificate, as they would a CA.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    fake = FakeGraph(catalog={CATALOG_ID}, ca_bundle=str(cert))
    runner = web.AppRunner(fake.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=fake.ssl_context(cert, key))
    await site.start()
    fake.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield fake
    await runner.cleanup()


class RecordingNotifier:
    """Proactive messages are tested through Teams elsewhere; here, what would be sent."""

    def __init__(self) -> None:
        self.sent: list[dict[str, object]] = []

    async def deliver(self, message: OutboxMessage) -> None:
        self.sent.append({"kind": message.kind, **message.payload})


class GraphWorld:
    def __init__(self, store: Store, graph: FakeGraph, clock: Clock) -> None:
        self.store, self.graph, self.clock = store, graph, clock
        self.deployment = sample_deployment()
        self.app = Application(store, self.deployment)
        credential = graph_credential(
            CredentialKind.SECRET,
            tenant_id=graph.tenant,
            client_id=CLIENT_ID,
            authority_host=graph.base,
            secret="graph-secret",
            ca_bundle=graph.ca_bundle,  # aiohttp (azure-identity) reads SSL_CERT_FILE at import only
        )
        self.calendar = MicrosoftCalendar(
            credential,
            GraphOptions(
                base_url=f"{graph.base}/v1.0",
                attempts=3,
                max_wait=1.0,
                teams_app_catalog_id=CATALOG_ID,
                notification_mailbox=NOTIFICATION_MAILBOX,
            ),
        )
        self.notifier = RecordingNotifier()
        self.metrics = Metrics(clock=clock)
        self.sync = CalendarSync(
            context=self.app.context,
            outlook=self.app.outlook,
            provider=self.calendar,
            clock=clock,
            metrics=self.metrics,
            public_url="https://permanence.cned.example",
            client_state=CLIENT_STATE,
        )
        self.dispatcher = OutboxDispatcher(
            context=self.app.context,
            provider=self.calendar,
            reach=self.calendar.reach,
            notifier=self.notifier,
            clock=clock,
            name="test",
            metrics=self.metrics,
            subject=Settings(_env_file=None).event_subject,  # the product's default
            calendar_work=self.sync.handle_outbox,
        )

    async def drain(self, *, rounds: int = 60) -> None:
        """Run the outbox until nothing is left, moving the clock past every retry delay."""
        for _ in range(rounds):
            await self.dispatcher.run_once(limit=50)
            async with self.store.unit_of_work(read_only=True) as uow:
                if await uow.outbox.depth() == 0:
                    return
            self.clock.advance(timedelta(minutes=61))
        raise AssertionError("the outbox did not drain")

    async def book(
        self, agent: str, index: int = 0, mode: str = "teams", *, site: str = "vanves", invite: bool = False
    ) -> str:
        from booking.model import Mode

        async with self.store.unit_of_work() as uow:
            agent_id = await uow.agents.ensure(agent, "Agent", self.clock())
            await uow.agents.set_email(agent_id, f"{agent}@cned.example", self.clock())
            await uow.commit()
        offer = await self.app.offers.offer(now=self.clock(), site_id=site, topic_id=None, days=60)
        stored = await self.app.bookings.book(
            now=self.clock(),
            agent_id=agent_id,
            site_id=site,
            slot_key=offer.slots[index].key,
            mode=Mode(mode),
            topic_id="logement",
            message="SENTINEL-confidential-message",
            invite_agent=invite,
        )
        return stored.id


@pytest.fixture
async def world(tmp_path, graph) -> AsyncIterator[GraphWorld]:  # type: ignore[no-untyped-def]
    keyring = Keyring(keys={"k1": secrets.token_bytes(32)}, current="k1", lookup_key=secrets.token_bytes(32))
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'graph.db'}", keyring)
    await store.migrate()
    instance = GraphWorld(store, graph, Clock(datetime(2027, 3, 1, 8, tzinfo=UTC)))
    await instance.app.sync_workers()
    async with store.unit_of_work() as uow:
        await uow.sync_state.put(
            "subscription:ass", {"id": "sub-ass", "expires": "2027-03-03T00:00:00+00:00"}, instance.clock()
        )
        await uow.commit()
    yield instance
    await instance.calendar.close()
    await store.dispose()
