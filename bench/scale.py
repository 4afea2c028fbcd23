"""Permanence at ministry scale, on PostgreSQL: 40 workers over 40 sites, 100,000 agents and one
million past and upcoming appointments, loaded through the real schema (the migrations) with
every confidential field really encrypted (the product's keyring, AES-GCM, padded and bound to
its row), by COPY from several processes. Then, through the use cases:

- the slot offer for 60 days (p50/p99), a booking (p50), the yearly report, the retention purge
  (the first one, which removes years of history, then a daily one),
- a 10-minute idle sync of the 40 mailboxes against the local Graph server (the real msgraph-sdk),
  with a fake clock: Graph requests per mailbox per cycle.

    .venv/bin/python bench/scale.py [--agents 100000] [--appointments 1000000] [--processes 2]

A smaller size (`--agents 2000 --appointments 20000`) runs in a minute; the test suite runs a
tiny one (tests/storage/test_scale_bench.py) for correctness only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from booking.document import Deployment, parse_deployment  # noqa: E402
from booking.grants import Purpose, issue_grant  # noqa: E402
from booking.model import Mode  # noqa: E402
from booking.reports import year_reports  # noqa: E402
from bot.application import Application, retention  # noqa: E402
from bot.application.reports import report_rows  # noqa: E402
from storage.crypto import Keyring  # noqa: E402
from storage.sealing import appointment_context, object_id_context  # noqa: E402
from storage.store import Store  # noqa: E402

PG_ADMIN = os.environ.get("PERMANENCE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
NOW = datetime(2027, 3, 1, 8, tzinfo=UTC)  # Monday 1 March 2027, 9:00 in Paris
WORKERS = 40
TOPICS = ["travail", "budget", "famille", "logement", "sante", "handicap", "juridique", "autre"]
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")
SLOT_HOURS = (9, 10, 11, 12, 14, 15, 16)  # 45 minutes every hour (the plan's slots), local time
UPCOMING_SHARE = 0.5  # half the slots of the next 60 days are taken


def deployment(workers: int = WORKERS) -> Deployment:
    """One worker a site, each with a weekly permanence every working day and a mailbox."""
    wid = [f"w{i:02d}" for i in range(workers)]
    return parse_deployment(
        {
            "timezone": "Europe/Paris",
            "sites": [
                {"id": f"s{i:02d}", "name": f"Site {i}", "department": "75", "head_office": i == 0}
                for i in range(workers)
            ],
            "workers": [
                {
                    "id": w,
                    "name": f"Assistante sociale {i}",
                    "role": "titular",
                    "phone": "01 99 00 12 34",
                    "mailbox": f"{w}@ministere.example",
                    "object_id": str(uuid.UUID(int=0xA000 + i)),
                }
                for i, w in enumerate(wid)
            ],
            "zones": [{"id": f"z{i:02d}", "worker": w, "sites": [f"s{i:02d}"]} for i, w in enumerate(wid)],
            "topics": [{"id": t, "label": t.capitalize()} for t in TOPICS],
            "plans": {
                w: {
                    "site": f"s{i:02d}",
                    "place": "Bureau",
                    "slot_minutes": 45,
                    "buffer_minutes": 15,
                    "min_notice_hours": 24,
                    "horizon_days": 60,
                    "yearly_budget_days": 250,
                    "weekly": [
                        {"weekday": d, "kind": "permanence", "hours": "09:00-17:00", "breaks": ["13:00-14:00"]}
                        for d in WEEKDAYS
                    ],
                }
                for i, w in enumerate(wid)
            },
            "booking": {"max_upcoming": 2, "change_notice_hours": 24},
            "urgent": {
                "response_working_hours": 4,
                "working_hours": "09:00-17:00",
                "working_days": list(WEEKDAYS),
                "hotline_name": "Permanence téléphonique",
                "hotline_phone": "01 99 00 99 99",
            },
            "information": {"phone": "01 99 00 99 99", "hours": "du lundi au vendredi"},
        }
    )


# -- loading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Size:
    agents: int
    appointments: int
    workers: int = WORKERS


def slot_starts(first: date, last: date) -> list[datetime]:
    """Every slot start of a working day in [first, last), in UTC (Paris: UTC+1 or +2)."""
    from zoneinfo import ZoneInfo

    paris = ZoneInfo("Europe/Paris")
    found = []
    day = first
    while day < last:
        if day.weekday() < 5:
            for hour in SLOT_HOURS:
                found.append(datetime(day.year, day.month, day.day, hour, tzinfo=paris).astimezone(UTC))
        day += timedelta(days=1)
    return found


def plan_appointments(size: Size) -> tuple[list[tuple[int, datetime, str]], date]:
    """(worker index, start, status) for every appointment: half the slots of the next 60 days,
    then, going back in time, 85% of past slots (some cancelled) until the count is reached."""
    rng = random.Random(1)
    today = NOW.date()
    upcoming_slots = slot_starts(today + timedelta(days=2), today + timedelta(days=60))
    planned: list[tuple[int, datetime, str]] = []
    for start in upcoming_slots:
        for worker in range(size.workers):
            if rng.random() < UPCOMING_SHARE and len(planned) < size.appointments // 10:
                planned.append((worker, start, "confirmed"))
    per_day = len(SLOT_HOURS) * size.workers * 0.85
    days_back = int((size.appointments - len(planned)) / per_day * 7 / 5) + 7
    first = today - timedelta(days=days_back)
    for start in slot_starts(first, today):
        for worker in range(size.workers):
            if len(planned) >= size.appointments:
                break
            if rng.random() < 0.85:
                planned.append((worker, start, "cancelled" if rng.random() < 0.08 else "confirmed"))
    return planned, first


def _keyring(material: tuple[bytes, bytes]) -> Keyring:
    return Keyring(keys={"k1": material[0]}, current="k1", lookup_key=material[1])


def _load_agents(dsn: str, material: tuple[bytes, bytes], first: int, count: int) -> int:
    keyring = _keyring(material)

    def rows() -> list[tuple[Any, ...]]:
        out = []
        for n in range(first, first + count):
            agent = str(uuid.UUID(int=n + 1))
            object_id = str(uuid.UUID(int=(1 << 100) + n))
            out.append(
                (
                    agent,
                    keyring.lookup(object_id),
                    keyring.encrypt(f"Agent {n}", f"agents.name:{agent}"),
                    keyring.encrypt("", f"agents.phone:{agent}"),
                    keyring.encrypt(f"agent{n}@ministere.example", f"agents.email:{agent}"),
                    keyring.encrypt("{}", f"agents.conversation:{agent}"),
                    keyring.encrypt(object_id, object_id_context(agent, keyring.lookup(object_id))),
                    f"s{n % WORKERS:02d}",
                    None,
                    NOW - timedelta(days=400),
                    NOW - timedelta(days=(n % 900)),
                )
            )
        return out

    async def copy() -> None:
        connection = await asyncpg.connect(dsn)
        try:
            await connection.copy_records_to_table(
                "agents",
                records=rows(),
                columns=[
                    "id",
                    "lookup",
                    "name_enc",
                    "phone_enc",
                    "email_enc",
                    "conversation_enc",
                    "object_id_enc",
                    "site_id",
                    "preferred_contact",
                    "created_at",
                    "updated_at",
                ],
            )
        finally:
            await connection.close()

    asyncio.run(copy())
    return count


def _load_appointments(
    dsn: str, material: tuple[bytes, bytes], planned: list[tuple[int, datetime, str]], offset: int, agents: int
) -> int:
    keyring = _keyring(material)
    rng = random.Random(offset)
    appointments, history = [], []
    for n, (worker, start, status) in enumerate(planned, start=offset):
        appointment = str(uuid.UUID(int=(1 << 64) + n))
        agent = str(uuid.UUID(int=rng.randrange(agents) + 1))
        created = start - timedelta(days=rng.randint(2, 40))
        appointments.append(
            (
                appointment,
                f"RDV-{n:010d}",
                f"w{worker:02d}",
                agent,
                f"s{worker:02d}",
                start,
                start + timedelta(minutes=45),
                rng.choice(("teams", "teams", "in_person", "phone")),
                "permanence",
                status,
                False,
                keyring.encrypt(rng.choice(TOPICS), appointment_context("topic", appointment, agent)),
                keyring.encrypt("", appointment_context("message", appointment, agent)),
                keyring.encrypt("", appointment_context("notes", appointment, agent)),
                str(uuid.UUID(int=(2 << 64) + n)),
                1,
                created,
                created,
            )
        )
        history.append((appointment, created, status, start, start + timedelta(minutes=45), "agent"))

    async def copy() -> None:
        connection = await asyncpg.connect(dsn)
        try:
            await connection.copy_records_to_table(
                "appointments",
                records=appointments,
                columns=[
                    "id",
                    "reference",
                    "worker_id",
                    "agent_id",
                    "site_id",
                    "start_at",
                    "end_at",
                    "mode",
                    "kind",
                    "status",
                    "urgent",
                    "topic_enc",
                    "message_enc",
                    "notes_enc",
                    "transaction_id",
                    "version",
                    "created_at",
                    "updated_at",
                ],
            )
            await connection.copy_records_to_table(
                "appointment_changes",
                records=history,
                columns=["appointment_id", "at", "status", "start_at", "end_at", "actor"],
            )
        finally:
            await connection.close()

    asyncio.run(copy())
    return len(appointments)


async def load(store: Store, dsn: str, size: Size, processes: int) -> dict[str, Any]:
    """Schema by the migrations, workers by the use case, the rest by COPY in `processes`."""
    await store.migrate()
    material = (store.keyring.keys["k1"], store.keyring.lookup_key)
    started = time.perf_counter()
    planned, first = plan_appointments(size)
    loop = asyncio.get_running_loop()
    chunk = 20_000
    with ProcessPoolExecutor(processes) as pool:
        jobs = [
            loop.run_in_executor(pool, _load_agents, dsn, material, n, min(chunk, size.agents - n))
            for n in range(0, size.agents, chunk)
        ]
        agents = sum(await asyncio.gather(*jobs))
        jobs = [
            loop.run_in_executor(pool, _load_appointments, dsn, material, planned[n : n + chunk], n, size.agents)
            for n in range(0, len(planned), chunk)
        ]
        appointments = sum(await asyncio.gather(*jobs))
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("ANALYZE")
        table_bytes = await connection.fetchval("SELECT pg_total_relation_size('appointments')")
    finally:
        await connection.close()
    return {
        "agents": agents,
        "appointments": appointments,
        "upcoming": sum(1 for _, start, _ in planned if start > NOW),
        "history_from": first.isoformat(),
        "load_seconds": time.perf_counter() - started,
        "appointments_mib": table_bytes / 2**20,
    }


# -- measures ---------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


async def measure_offers(app: Application, sites: list[str], count: int) -> dict[str, Any]:
    timings, slots = [], 0
    for i in range(count):
        started = time.perf_counter()
        offer = await app.offers.offer(now=NOW, site_id=sites[i % len(sites)], topic_id=None, days=60)
        timings.append(time.perf_counter() - started)
        slots += len(offer.slots)
    return {"p50_ms": 1000 * statistics.median(timings), "p99_ms": 1000 * percentile(timings, 0.99), "slots": slots}


async def measure_bookings(app: Application, sites: list[str], agents: list[str], count: int) -> dict[str, Any]:
    timings, booked = [], 0
    for i in range(count):
        site = sites[i % len(sites)]
        offer = await app.offers.offer(now=NOW, site_id=site, topic_id=None, days=60)
        started = time.perf_counter()
        stored = await app.bookings.book(
            now=NOW,
            agent_id=agents[i],
            site_id=site,
            slot_key=offer.slots[len(offer.slots) // 2].key,
            mode=Mode.TEAMS,
            topic_id="logement",
            message="Un message confidentiel",
            key=f"bench-{uuid.uuid4()}",
        )
        timings.append(time.perf_counter() - started)
        booked += stored.appointment.start > NOW
    return {"p50_ms": 1000 * statistics.median(timings), "p99_ms": 1000 * percentile(timings, 0.99), "booked": booked}


async def measure_report(store: Store, deployment_: Deployment, year: int) -> dict[str, Any]:
    from zoneinfo import ZoneInfo

    paris = ZoneInfo("Europe/Paris")
    started = time.perf_counter()
    appointments, urgent = await report_rows(
        store,
        start=datetime(year, 1, 1, tzinfo=paris),
        end=datetime(year + 1, 1, 1, tzinfo=paris),
        period=str(year),
        now=NOW,
        actor="report",
    )
    directory = deployment_.directory
    reports = year_reports(
        appointments=appointments,
        urgent=urgent,
        year=year,
        timezone=paris,
        threshold=5,
        topics=[t.id for t in directory.topics],
        sites=[s.id for s in directory.sites],
    )
    return {"seconds": time.perf_counter() - started, "rows": len(appointments), "reports": len(reports)}


async def measure_purge(store: Store, days: int, now: datetime) -> dict[str, Any]:
    from booking.records import Retention

    policy = Retention(
        records_before=now - timedelta(days=days),
        state_before=now - timedelta(days=90),
        outbox_before=now - timedelta(days=30),
        audit_before=now - timedelta(days=365 * 5),
    )
    started = time.perf_counter()
    counts = await retention.purge(store, policy, now)
    return {"seconds": time.perf_counter() - started, **counts}


async def measure_idle_sync(store: Store, deployment_: Deployment) -> dict[str, Any]:
    """40 mailboxes against the local Graph (real msgraph-sdk): a first full sync, then the
    10-minute cycles with nothing changed; the fake clock moves 10 minutes a cycle."""
    from aiohttp import web

    from bot.application.calendar_sync import CalendarSync
    from bot.metrics import Metrics
    from graph.credentials import CredentialKind, graph_credential
    from graph.microsoft import GraphOptions, MicrosoftCalendar
    from tests.graph.fake_graph import FakeGraph, make_certificate

    class Clock:
        def __init__(self) -> None:
            self.now = NOW

        def __call__(self) -> datetime:
            return self.now

    with tempfile.TemporaryDirectory() as tmp:
        cert, key = make_certificate(Path(tmp))
        os.environ["SSL_CERT_FILE"] = str(cert)
        os.environ["REQUESTS_CA_BUNDLE"] = str(cert)
        fake = FakeGraph(ca_bundle=str(cert))
        runner = web.AppRunner(fake.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=fake.ssl_context(cert, key))
        await site.start()
        fake.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        for worker in deployment_.directory.workers:  # a realistic calendar: a meeting every other day
            for day in range(0, 60, 2):
                start = NOW + timedelta(days=day, hours=1)
                fake.add_event(worker.mailbox, subject="Réunion", start=start, end=start + timedelta(hours=1))
        credential = graph_credential(
            CredentialKind.SECRET,
            tenant_id=fake.tenant,
            client_id="c0ffee00-1234-4abc-8def-000000000002",
            authority_host=fake.base,
            secret="graph-secret",
            ca_bundle=str(cert),
        )
        calendar = MicrosoftCalendar(credential, GraphOptions(base_url=f"{fake.base}/v1.0", attempts=3, max_wait=1.0))
        app = Application(store, deployment_)
        clock = Clock()
        sync = CalendarSync(context=app.context, outlook=app.outlook, provider=calendar, clock=clock, metrics=Metrics())
        mailboxes = len(sync.mailboxes())
        try:
            before = len(fake.graph_requests())
            started = time.perf_counter()
            await sync.sync_all()
            first = {"requests": len(fake.graph_requests()) - before, "seconds": time.perf_counter() - started}
            cycles = []
            for _ in range(3):
                clock.now += timedelta(minutes=10)
                before = len(fake.graph_requests())
                started = time.perf_counter()
                await sync.sync_all()
                cycles.append((len(fake.graph_requests()) - before, time.perf_counter() - started))
        finally:
            await calendar.close()
            await runner.cleanup()
    worst = max(requests for requests, _ in cycles)
    return {
        "mailboxes": mailboxes,
        "first_sync_requests": first["requests"],
        "idle_requests_per_mailbox": worst / mailboxes,
        "idle_cycle_seconds": max(seconds for _, seconds in cycles),
    }


async def run(
    size: Size, *, processes: int, offers: int, bookings: int, retention_days: int = 365 * 5
) -> dict[str, Any]:
    """Create a database, load it, measure, drop it; returns every figure."""
    name = f"permanence_scale_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    keyring = Keyring(keys={"k1": secrets.token_bytes(32)}, current="k1", lookup_key=secrets.token_bytes(32))
    store = Store(dsn.replace("postgresql://", "postgresql+asyncpg://", 1), keyring)
    figures: dict[str, Any] = {}
    try:
        deployment_ = deployment(size.workers)
        app = Application(store, deployment_)
        await store.migrate()
        await app.sync_workers()
        figures["load"] = await load(store, dsn, size, processes)
        sites = [s.id for s in deployment_.directory.sites]
        # Agents with nothing upcoming (the upcoming appointments went to random agents).
        async with store.unit_of_work(read_only=True) as uow:
            free_agents = []
            for n in range(size.agents - 1, 0, -1):
                agent = str(uuid.UUID(int=n + 1))
                if not await uow.appointments.upcoming_for_agent(agent, NOW):
                    free_agents.append(agent)
                if len(free_agents) >= bookings:
                    break
        await measure_offers(app, sites, 5)  # warm-up
        figures["offer"] = await measure_offers(app, sites, offers)
        figures["booking"] = await measure_bookings(app, sites, free_agents, bookings)
        figures["report"] = await measure_report(store, deployment_, NOW.year - 1)
        figures["idle_sync"] = await measure_idle_sync(store, deployment_)
        figures["purge_first"] = await measure_purge(store, retention_days, NOW)
        figures["purge_daily"] = await measure_purge(store, retention_days, NOW + timedelta(days=1))
        async with store.unit_of_work(read_only=True) as uow:
            # A benchmark's own count of the rows the purge left (the service reads them only
            # through the access policy's audited report grant).
            everything = issue_grant(Purpose.REPORT, everything=True)
            kept = await uow.appointments.report_rows(
                NOW - timedelta(days=365 * 50), NOW + timedelta(days=90), grant=everything
            )
        figures["left"] = len(kept)
    finally:
        await store.dispose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    return figures


def show(size: Size, figures: dict[str, Any]) -> None:
    load_ = figures["load"]
    print(
        f"PostgreSQL, {size.workers} workers over {size.workers} sites, {load_['agents']:,} agents, "
        f"{load_['appointments']:,} appointments ({load_['upcoming']:,} upcoming; history from "
        f"{load_['history_from']}; appointments table {load_['appointments_mib']:.0f} MiB)"
    )
    print(
        f"  loaded in {load_['load_seconds']:.0f} s: schema by the migrations, every confidential field encrypted "
        "row by row with the product's keyring, COPY from worker processes"
    )
    offer, booking, report = figures["offer"], figures["booking"], figures["report"]
    sync = figures["idle_sync"]
    rows = [
        ("slot offer, 60 days", f"p50 {offer['p50_ms']:.1f} ms · p99 {offer['p99_ms']:.1f} ms", "p99 < 50 ms"),
        ("booking", f"p50 {booking['p50_ms']:.1f} ms · p99 {booking['p99_ms']:.1f} ms", "p50 < 20 ms"),
        ("yearly report", f"{report['seconds']:.2f} s for {report['rows']:,} appointments", "< 5 s"),
        (
            "idle sync, 10 minutes",
            f"{sync['idle_requests_per_mailbox']:.2f} Graph requests per mailbox per cycle "
            f"({sync['mailboxes']} mailboxes; cycle {sync['idle_cycle_seconds']:.2f} s; "
            f"first full sync {sync['first_sync_requests']} requests)",
            "≤ 1",
        ),
        (
            "purge (first: years of history)",
            f"{figures['purge_first']['seconds']:.1f} s, {figures['purge_first']['appointments']:,} appointments",
            "",
        ),
        ("purge (the next day)", f"{figures['purge_daily']['seconds']:.2f} s", ""),
    ]
    for label, value, target in rows:
        print(f"  {label:<34}{value:<78}{'target ' + target if target else ''}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=100_000)
    parser.add_argument("--appointments", type=int, default=1_000_000)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--offers", type=int, default=200)
    parser.add_argument("--bookings", type=int, default=40)
    args = parser.parse_args()
    size = Size(agents=args.agents, appointments=args.appointments)
    figures = await run(size, processes=args.processes, offers=args.offers, bookings=args.bookings)
    show(size, figures)


if __name__ == "__main__":
    asyncio.run(main())
