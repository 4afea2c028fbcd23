"""Permanence as deployed for a rush: two `permanence serve` replicas on one PostgreSQL database,
side by side with the stock botbuilder echo bot in the same run, at concurrency 8, 32 and 100.

Every turn goes to the other replica than the one before (half through each), the echo bot gets
the same turns. « mes rendez-vous » (distinct agents, each already known) and the full booking
(rendez-vous → site → form → slots → pick → confirm, one agent per flow; a fresh database for
each level, so that every level finds the same free slots; agents racing for the same slot are
told « pris » with the nearest ones, which counts as answered). Then ONE replica alone at rising
concurrency: the largest at which every turn of « mes rendez-vous » is answered within 1 s.
Prints turns/s, p50, p99, the slowest turn and errors (HTTP failures and « problème technique »
or « très sollicité » replies). Pool sizes: the settings' defaults unless given.

    .venv/bin/python bench/replicas.py [--turns 600] [--flows-per-client 2] [--pool 10 --overflow 5 --timeout 5]
                                       [--only mine|booking|single]

Needs PostgreSQL (PERMANENCE_TEST_POSTGRES, default postgresql://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import os
import random
import secrets
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from turns import ECHO, Bot, Connector, booking, free_port, mine, rss_mib  # noqa: E402

from bot import texts  # noqa: E402

PG_ADMIN = os.environ.get("PERMANENCE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
PERMANENCE = "Permanence ×2"
LEVELS = (8, 32, 100)


def pg_url(database: str) -> str:
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{database}"


class Replicas:
    """Looks like `turns.Bot` to the load: `port` names the other replica at each turn."""

    def __init__(self, count: int, workdir: str, pool: dict[str, str]) -> None:
        self.label = PERMANENCE if count == 2 else "Permanence ×1"
        self.count = count
        self.workdir = workdir
        self.pool = pool
        self.ports: list[int] = []
        self.processes: list[subprocess.Popen[bytes]] = []
        self.database = ""
        self._turn = itertools.count()

    @property
    def port(self) -> int:
        return self.ports[next(self._turn) % len(self.ports)]

    async def start(self) -> None:
        self.database = f"permanence_bench_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(PG_ADMIN, timeout=5)
        try:
            await admin.execute(f'CREATE DATABASE "{self.database}"')
        finally:
            await admin.close()
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "PERMANENCE_DATABASE_URL": pg_url(self.database),
            "PERMANENCE_ENCRYPTION_KEY": f"k1:{base64.b64encode(secrets.token_bytes(32)).decode()}",
            "PERMANENCE_LOOKUP_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            "PERMANENCE_DATA_DIR": f"{self.workdir}/{self.database}",
            "PERMANENCE_LOG_LEVEL": "WARNING",
            **self.pool,
        }
        subprocess.run(
            [sys.executable, "-m", "bot.cli", "db", "upgrade"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL
        )
        self.ports = [free_port() for _ in range(self.count)]
        for port in self.ports:
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "bot.cli", "serve"],
                    cwd=ROOT,
                    env={**env, "PERMANENCE_PORT": str(port)},
                    stdout=subprocess.DEVNULL,
                    stderr=(Path(self.workdir) / f"{self.database}-{port}.log").open("wb"),
                )
            )
        async with aiohttp.ClientSession() as session:
            for port in self.ports:
                for _ in range(300):
                    try:
                        async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                            if response.status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                    await asyncio.sleep(0.1)
                else:
                    raise RuntimeError("a replica did not start")

    async def stop(self) -> None:
        for process in self.processes:
            process.terminate()
            process.wait(timeout=10)
        self.processes = []
        for log in Path(self.workdir).glob(f"{self.database}-*.log"):
            text = log.read_text(errors="replace")
            for event in ("turn.error", "turn.busy"):
                LOGGED[event] = LOGGED.get(event, 0) + text.count(f'"{event}"')
        if self.database:
            admin = await asyncpg.connect(PG_ADMIN, timeout=5)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            finally:
                await admin.close()
            self.database = ""

    def rss(self) -> float:
        return sum(rss_mib(p.pid) for p in self.processes)


def show(title: str, rows: list[tuple[str, dict[str, float]]]) -> None:
    echo = rows[0][1]
    print(f"\n{title}")
    print(f"  {'bot':<16}{'turns/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'× echo':>8}{'RSS MiB':>9}  notes")
    for label, f in rows:
        notes = [
            f"{int(f['failures'])} HTTP failures",
            f"{int(f.get('errors', 0))} error replies ({int(f.get('busy', 0))} « très sollicité »)",
        ]
        if "confirmed" in f and label != ECHO:
            notes.append(f"{int(f['confirmed'])} bookings confirmed")
        print(
            f"  {label:<16}{f['turns_per_s']:>9.1f}{f['p50_ms']:>9.1f}{f['p99_ms']:>9.1f}{f['max_ms']:>9.1f}"
            f"{f['turns_per_s'] / echo['turns_per_s']:>8.2f}{f['rss']:>9.1f}  {', '.join(notes)}"
        )


async def measured(connector: Connector, run: Any) -> dict[str, float]:
    """`run`'s figures, with the slowest turn and the error replies it caused."""
    before = connector.errors
    busy_before = BUSY_REPLIES[0]
    result: dict[str, float] = await run
    result["errors"] = connector.errors - before + BUSY_REPLIES[0] - busy_before
    result["busy"] = BUSY_REPLIES[0] - busy_before
    return result


BUSY_REPLIES = [0]  # « très sollicité » replies seen by the connector
LOGGED: dict[str, int] = {}  # what the replicas logged, by event


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=600, help="« mes rendez-vous » turns per measurement")
    parser.add_argument("--agents", type=int, default=400, help="distinct agents for « mes rendez-vous »")
    parser.add_argument("--flows-per-client", type=int, default=2, help="booking flows per concurrent client")
    parser.add_argument("--pool", type=int, help="PERMANENCE_DB_POOL_SIZE of each replica")
    parser.add_argument("--overflow", type=int, help="PERMANENCE_DB_MAX_OVERFLOW of each replica")
    parser.add_argument("--timeout", type=float, help="PERMANENCE_DB_POOL_TIMEOUT of each replica (seconds)")
    parser.add_argument("--only", choices=("mine", "booking", "single"), action="append", help="parts to run")
    args = parser.parse_args()
    random.seed(7)
    pool = {}
    if args.pool is not None:
        pool["PERMANENCE_DB_POOL_SIZE"] = str(args.pool)
    if args.overflow is not None:
        pool["PERMANENCE_DB_MAX_OVERFLOW"] = str(args.overflow)
    if args.timeout is not None:
        pool["PERMANENCE_DB_POOL_TIMEOUT"] = str(args.timeout)
    connector = Connector()
    original_reply = connector.reply

    async def reply(request: Any) -> Any:
        body = await request.json()
        if texts.BUSY in str(body.get("text") or ""):
            BUSY_REPLIES[0] += 1
        return await original_reply(request)

    connector.reply = reply  # type: ignore[method-assign]
    runner, connector_port = await connector.start()
    tmp = tempfile.TemporaryDirectory()
    echo = Bot(ECHO, tmp.name)
    permanence = Replicas(2, tmp.name, pool)
    parts = set(args.only or ("mine", "booking", "single"))
    print(
        f"{os.cpu_count()} cores; PostgreSQL; pool per replica: {pool or 'the defaults'}; "
        f"« mes rendez-vous »: {args.turns} turns over {args.agents} known agents; "
        f"booking: {args.flows_per_client} flows per client"
    )
    targets: list[tuple[str, float, float]] = []
    try:
        await echo.start()
        if "mine" in parts:
            await permanence.start()
            for concurrency in LEVELS:
                rows = []
                for bot in (echo, permanence):
                    run = mine(bot, connector_port, args.turns, concurrency, args.agents)  # type: ignore[arg-type]
                    rows.append((bot.label, await measured(connector, run)))
                show(f"« mes rendez-vous » · concurrency {concurrency}", rows)
                ratio = rows[1][1]["turns_per_s"] / rows[0][1]["turns_per_s"]
                targets.append((f"« mes rendez-vous », c={concurrency}: turns/s ≥ 4× echo", ratio, 4.0))
            await permanence.stop()
        if "booking" in parts:
            for concurrency in LEVELS:
                rows = []
                flows = concurrency * args.flows_per_client
                for bot in (echo, permanence):
                    if bot is permanence:
                        await permanence.start()  # a fresh database: every level finds the same free slots
                    run = booking(bot, connector, connector_port, flows, concurrency)  # type: ignore[arg-type]
                    rows.append((bot.label, await measured(connector, run)))
                    if bot is permanence:
                        await permanence.stop()
                show(f"full booking (5 turns) · {flows} flows · concurrency {concurrency}", rows)
                ratio = rows[1][1]["turns_per_s"] / rows[0][1]["turns_per_s"]
                targets.append((f"full booking, c={concurrency}: turns/s ≥ 2× echo", ratio, 2.0))
        if "single" in parts:
            single = Replicas(1, tmp.name, pool)
            await single.start()
            largest = 0
            print("\none replica alone · « mes rendez-vous »: the slowest turn by concurrency")
            for concurrency in (8, 16, 32, 48, 64, 100, 150):
                turns = max(args.turns, concurrency * 4)
                f = await measured(connector, mine(single, connector_port, turns, concurrency, args.agents))  # type: ignore[arg-type]
                within = f["max_ms"] <= 1000 and not f["failures"] and not f["errors"]
                print(
                    f"  c={concurrency:<4} {f['turns_per_s']:>7.1f} turns/s  p50 {f['p50_ms']:>7.1f} ms  "
                    f"p99 {f['p99_ms']:>7.1f} ms  max {f['max_ms']:>7.1f} ms  errors {int(f['errors'] + f['failures'])}"
                    f"  {'all within 1 s' if within else ''}"
                )
                if within:
                    largest = concurrency
            await single.stop()
            print(f"  largest concurrency with every turn answered within 1 s: {largest}")
    finally:
        echo.stop()
        await permanence.stop()
        await runner.cleanup()
        tmp.cleanup()
    print(f"\nlogged by the replicas: {LOGGED.get('turn.error', 0)} turn.error, {LOGGED.get('turn.busy', 0)} turn.busy")
    print("\ntargets")
    for label, value, wanted in targets:
        print(f"  {label:<48}{value:>7.2f}  {'met' if value >= wanted else 'NOT met'}")


if __name__ == "__main__":
    asyncio.run(main())
