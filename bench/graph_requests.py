"""Graph requests per booking, per idle sync cycle and per worker change, counted by the local
Graph-compatible server's request log (the real msgraph-sdk and azure-identity on the client side).

    .venv/bin/python bench/graph_requests.py
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from storage.crypto import Keyring
from storage.store import Store
from tests.bot.conftest import Clock
from tests.graph.conftest import MAILBOX, GraphWorld
from tests.graph.fake_graph import FakeGraph, make_certificate


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = make_certificate(Path(tmp))
        os.environ["SSL_CERT_FILE"] = str(cert)
        fake = FakeGraph(ca_bundle=str(cert))
        runner = web.AppRunner(fake.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=fake.ssl_context(cert, key))
        await site.start()
        fake.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        keyring = Keyring(keys={"k1": secrets.token_bytes(32)}, current="k1", lookup_key=secrets.token_bytes(32))
        store = Store(f"sqlite+aiosqlite:///{tmp}/bench.db", keyring)
        await store.migrate()
        world = GraphWorld(store, fake, Clock(datetime(2027, 3, 1, 8, tzinfo=UTC)))
        await world.app.sync_workers()
        for day in range(0, 40, 3):  # a realistic calendar: 14 busy blocks
            start = datetime(2027, 3, 1, 9, tzinfo=UTC) + timedelta(days=day)
            fake.add_event(MAILBOX, subject="Réunion", start=start, end=start + timedelta(hours=1))

        def graph_calls() -> int:
            return len(fake.graph_requests())

        figures = []
        before, tokens = graph_calls(), fake.tokens_issued
        await world.sync.sync_worker("ass")
        figures.append(("first full sync (14 events, 2 a page)", graph_calls() - before))
        before = graph_calls()
        await world.sync.sync_worker("ass")
        figures.append(("idle sync cycle", graph_calls() - before))
        before = graph_calls()
        ids = [await world.book(f"oid-{i}", index=i) for i in range(10)]
        await world.drain()
        figures.append(("per booking (10 bookings)", (graph_calls() - before) / len(ids)))
        async with store.unit_of_work(read_only=True) as uow:
            event_id = (await uow.appointments.get(ids[0])).outlook_event_id
        assert event_id
        fake.move_event(
            MAILBOX, event_id, datetime(2027, 3, 11, 13, tzinfo=UTC), datetime(2027, 3, 11, 13, 45, tzinfo=UTC)
        )
        before = graph_calls()
        await world.sync.sync_worker("ass")
        figures.append(("worker moves one event in Outlook", graph_calls() - before))
        fake.failure_rate = 0.3
        before = graph_calls()
        more = [await world.book(f"oid-f{i}", index=20 + i) for i in range(10)]
        await world.drain(rounds=200)
        figures.append(("per booking with 30% of calls failing", (graph_calls() - before) / len(more)))
        print(
            "Graph requests, from the local server's log (token requests apart: "
            f"{fake.tokens_issued - tokens} for the whole run)"
        )
        for label, value in figures:
            print(f"  {label:<42}{value:>6.1f}")
        await world.calendar.close()
        await store.dispose()
        await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
