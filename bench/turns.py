"""What a user waits for: Permanence against the stock botbuilder echo bot, same machine, same run.

Each bot runs in its own process on loopback; a local connector stands in for the Bot Framework
channel, so both bots do their real outgoing HTTP (replies, card updates). The two bots are
interleaved, two rounds each, at concurrency 1 and 8, for « mes rendez-vous » (distinct agents,
each already known) and for a full booking (rendez-vous → site → form → slots → pick → confirm,
one agent per flow, after three unmeasured flows that warm the freshly started process; the echo
bot gets the same number of turns). Then a burst: turns of ONE
conversation at concurrency 8 (turns/s and errors). Prints figures.

    .venv/bin/python bench/turns.py [--turns 400] [--flows 30] [--agents 400]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot import texts  # noqa: E402

ECHO, PERMANENCE = "stock echo bot", "Permanence"
WARM_FLOWS = 3  # booking flows run before each booking measurement, for both bots


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def walk(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found += walk(value)
    elif isinstance(node, list):
        for value in node:
            found += walk(value)
    return found


class Connector:
    """The channel side: accepts replies and card updates like the Bot Connector, keeps the last
    card of each conversation (to click on it) and counts the error texts."""

    def __init__(self) -> None:
        self.replies = 0
        self.errors = 0
        self.last: dict[str, dict[str, Any]] = {}

    async def reply(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.replies += 1
        if texts.ERROR in str(body.get("text") or ""):
            self.errors += 1
        for attachment in body.get("attachments") or []:
            if attachment.get("contentType") == "application/vnd.microsoft.card.adaptive":
                self.last[request.match_info["conversation"]] = attachment["content"]
        return web.json_response({"id": f"r{self.replies}"})

    async def member(self, request: web.Request) -> web.Response:
        return web.json_response({"id": "29:u", "name": "Agent", "email": "agent@example.org"})

    def action(self, conversation: str, action: str) -> dict[str, Any] | None:
        found = [
            dict(n["data"])
            for n in walk(self.last.get(conversation))
            if n.get("type") == "Action.Submit"
            and isinstance(n.get("data"), dict)
            and n["data"].get("action") == action
        ]
        return random.choice(found) if found else None

    async def start(self) -> tuple[web.AppRunner, int]:
        app = web.Application()
        app.router.add_post("/v3/conversations/{conversation}/activities", self.reply)
        app.router.add_post("/v3/conversations/{conversation}/activities/{id}", self.reply)
        app.router.add_put("/v3/conversations/{conversation}/activities/{id}", self.reply)
        app.router.add_get("/v3/conversations/{conversation}/members/{member}", self.member)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return runner, port


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Bot:
    def __init__(self, label: str, workdir: str) -> None:
        self.label = label
        self.workdir = workdir
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        self.port = free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        if self.label == ECHO:
            command = [sys.executable, "bench/echo_bot.py", str(self.port)]
        else:
            command = [sys.executable, "-m", "bot.cli", "serve"]
            run = uuid.uuid4().hex
            env |= {
                "PERMANENCE_PORT": str(self.port),
                "PERMANENCE_DATA_DIR": f"{self.workdir}/{run}",
                "PERMANENCE_KEY_FILE": f"{self.workdir}/{run}-keys.json",
                "PERMANENCE_LOG_LEVEL": "WARNING",
            }
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                try:
                    async with session.post(f"http://127.0.0.1:{self.port}/api/messages", json={}) as response:
                        if response.status < 500:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.label} did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def rss(self) -> float:
        return rss_mib(self.process.pid) if self.process else float("nan")


class Load:
    def __init__(self, session: aiohttp.ClientSession, bot: Bot, connector_port: int) -> None:
        self.session = session
        self.bot = bot
        self.service_url = f"http://127.0.0.1:{connector_port}/"
        self.latencies: list[float] = []
        self.failures = 0
        self.seq = 0

    def activity(self, agent: str, text: str | None = None, value: dict[str, Any] | None = None) -> dict[str, Any]:
        self.seq += 1
        body: dict[str, Any] = {
            "type": "message",
            "id": f"m{self.seq}",
            "channelId": "msteams",
            "serviceUrl": self.service_url,
            "from": {"id": f"29:{agent}", "aadObjectId": agent, "name": f"Agent {agent[-4:]}"},
            "recipient": {"id": "28:bot"},
            "conversation": {"id": f"a:{agent}", "conversationType": "personal"},
            "channelData": {"tenant": {"id": "00000000-0000-0000-0000-000000000001"}},
        }
        if text is not None:
            body["text"] = text
        if value is not None:
            body["value"] = value
            body["replyToId"] = f"card{self.seq}"
        return body

    async def turn(self, body: dict[str, Any], *, measured: bool = True) -> None:
        started = time.perf_counter()
        async with self.session.post(f"http://127.0.0.1:{self.bot.port}/api/messages", json=body) as response:
            await response.read()
            if response.status >= 300:
                self.failures += 1
        if measured:
            self.latencies.append(time.perf_counter() - started)


def agent_id(n: int, salt: str) -> str:
    return f"{salt}-0000-0000-0000-{n:012d}"


def figures(load: Load, elapsed: float, rss: float) -> dict[str, float]:
    latencies = sorted(load.latencies)
    return {
        "turns_per_s": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000,
        "max_ms": latencies[-1] * 1000,
        "failures": load.failures,
        "rss": rss,
    }


async def mine(bot: Bot, port: int, turns: int, concurrency: int, agents: int) -> dict[str, float]:
    salt = f"{random.randrange(16**8):08x}"
    async with aiohttp.ClientSession() as session:
        load = Load(session, bot, port)
        known = [agent_id(n, salt) for n in range(agents)]
        gate = asyncio.Semaphore(16)

        async def introduce(agent: str) -> None:
            async with gate:
                await load.turn(load.activity(agent, "aide"), measured=False)

        await asyncio.gather(*(introduce(a) for a in known))  # first contacts: not what is measured
        queue = iter(range(turns))

        async def client() -> None:
            for i in queue:
                await load.turn(load.activity(known[i % agents], "mes rendez-vous"))

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        return figures(load, time.perf_counter() - started, bot.rss())


async def booking(bot: Bot, connector: Connector, port: int, flows: int, concurrency: int) -> dict[str, float]:
    salt = f"{random.randrange(16**8):08x}"
    confirmed = 0
    async with aiohttp.ClientSession() as session:
        load = Load(session, bot, port)
        agents = [agent_id(n, salt) for n in range(flows + WARM_FLOWS)]
        for agent in agents:
            await load.turn(load.activity(agent, "aide"), measured=False)
        warm, agents = agents[:WARM_FLOWS], agents[WARM_FLOWS:]
        queue = iter(agents)

        async def flow(agent: str, measured: bool = True) -> None:
            nonlocal confirmed
            conversation = f"a:{agent}"
            await load.turn(load.activity(agent, "rendez-vous"), measured=measured)
            steps = [
                ("site", {"site": "vanves"}),
                ("slots", {"mode": "teams", "topic": "logement", "message": "", "phone": ""}),
                ("pick", {}),
                ("confirm", {}),
            ]
            for action, inputs in steps:
                if bot.label == ECHO:
                    await load.turn(load.activity(agent, f"{action} {inputs}"), measured=measured)
                    continue
                data = connector.action(conversation, action)
                if data is None:
                    return  # no slot left, or an unexpected card: the flow ends there
                await load.turn(load.activity(agent, value={**data, **inputs}), measured=measured)
            if measured and bot.label != ECHO and texts.CONFIRMED_TITLE in str(connector.last.get(conversation)):
                confirmed += 1

        async def client() -> None:
            for agent in queue:
                await flow(agent)

        for agent in warm:  # a restarted process: its first flows load caches, not measured
            await flow(agent, measured=False)
        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        result = figures(load, time.perf_counter() - started, bot.rss())
        result["confirmed"] = confirmed
        return result


async def burst(bot: Bot, connector: Connector, port: int, turns: int, *, booked: bool = False) -> dict[str, float]:
    """Turns of one conversation at concurrency 8; `booked`: the agent has an appointment first,
    so that every list offers Annuler / Déplacer (and is recorded, to be updated if it changes)."""
    agent = agent_id(1, f"{random.randrange(16**8):08x}")
    async with aiohttp.ClientSession() as session:
        load = Load(session, bot, port)
        await load.turn(load.activity(agent, "aide"), measured=False)
        if booked and bot.label != ECHO:
            conversation = f"a:{agent}"
            await load.turn(load.activity(agent, "rendez-vous"), measured=False)
            steps = [
                ("site", {"site": "vanves"}),
                ("slots", {"mode": "teams", "topic": "logement", "message": "", "phone": ""}),
                ("pick", {}),
                ("confirm", {}),
            ]
            for action, inputs in steps:
                data = connector.action(conversation, action)
                if data is None:
                    raise RuntimeError(f"the burst's booking stopped before {action}")
                await load.turn(load.activity(agent, value={**data, **inputs}), measured=False)
            if texts.CONFIRMED_TITLE not in str(connector.last.get(conversation)):
                raise RuntimeError("the burst's booking was not confirmed")
        before = connector.errors
        queue = iter(range(turns))

        async def client() -> None:
            for _ in queue:
                await load.turn(load.activity(agent, "mes rendez-vous"))

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(8)))
        result = figures(load, time.perf_counter() - started, bot.rss())
        result["errors"] = connector.errors - before + load.failures
        return result


def show(title: str, rows: list[tuple[str, dict[str, float]]], echo: dict[str, float] | None) -> None:
    print(f"\n{title}")
    print(f"  {'bot':<16}{'turns/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'× echo':>8}{'RSS MiB':>9}  notes")
    for label, f in rows:
        ratio = f["turns_per_s"] / echo["turns_per_s"] if echo else float("nan")
        notes = []
        if f.get("failures"):
            notes.append(f"{int(f['failures'])} HTTP failures")
        if "confirmed" in f and label == PERMANENCE:
            notes.append(f"{int(f['confirmed'])} bookings confirmed")
        if "errors" in f:
            notes.append(f"{int(f['errors'])} turn errors")
        print(
            f"  {label:<16}{f['turns_per_s']:>9.1f}{f['p50_ms']:>9.1f}{f['p99_ms']:>9.1f}{ratio:>8.2f}"
            f"{f['rss']:>9.1f}  {', '.join(notes)}"
        )


Rows = list[tuple[str, dict[str, float]]]


def targets(results: dict[tuple[str, int], list[Rows]]) -> None:
    """The issue's targets, over both rounds (the worse round counts): « mes rendez-vous » at
    concurrency 8 at least 4× the echo bot's turns/s with a p99 no higher than its; at
    concurrency 1 a p50 at most a third of its; a full booking at least 2× its turns/s."""

    def worst(kind: str, concurrency: int, measure: Callable[[dict[str, float], dict[str, float]], float]) -> float:
        rounds = results.get((kind, concurrency), [])
        return min((measure(dict(rows)[PERMANENCE], dict(rows)[ECHO]) for rows in rounds), default=float("nan"))

    checks = [
        (
            "« mes rendez-vous », c=8: turns/s ≥ 4× echo",
            worst("mine", 8, lambda p, e: p["turns_per_s"] / e["turns_per_s"]),
            4.0,
        ),
        (
            "« mes rendez-vous », c=8: echo p99 / Permanence p99 ≥ 1",
            worst("mine", 8, lambda p, e: e["p99_ms"] / p["p99_ms"]),
            1.0,
        ),
        (
            "« mes rendez-vous », c=1: echo p50 / Permanence p50 ≥ 3",
            worst("mine", 1, lambda p, e: e["p50_ms"] / p["p50_ms"]),
            3.0,
        ),
        (
            "full booking, c=1: turns/s ≥ 2× echo",
            worst("booking", 1, lambda p, e: p["turns_per_s"] / e["turns_per_s"]),
            2.0,
        ),
        (
            "full booking, c=8: turns/s ≥ 2× echo",
            worst("booking", 8, lambda p, e: p["turns_per_s"] / e["turns_per_s"]),
            2.0,
        ),
    ]
    print("\ntargets (the worse of the two rounds)")
    for label, value, wanted in checks:
        if value == value:  # not NaN: that part was run
            print(f"  {label:<58}{value:>7.2f}  {'met' if value >= wanted else 'NOT met'}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=400, help="« mes rendez-vous » turns per measurement")
    parser.add_argument("--agents", type=int, default=400, help="distinct agents for « mes rendez-vous »")
    parser.add_argument("--flows", type=int, default=30, help="booking flows per measurement (5 turns each)")
    parser.add_argument(
        "--only", choices=("mine", "booking", "burst"), action="append", help="run only these parts (repeatable)"
    )
    parser.add_argument("--rounds", type=int, default=2, help="rounds of « mes rendez-vous » and booking")
    args = parser.parse_args()
    random.seed(7)
    connector = Connector()
    runner, connector_port = await connector.start()
    tmp = tempfile.TemporaryDirectory()
    bots = {label: Bot(label, tmp.name) for label in (ECHO, PERMANENCE)}
    print(
        f"{os.cpu_count()} cores; replies to a local recording connector; "
        f"« mes rendez-vous »: {args.turns} turns over {args.agents} known agents; booking: {args.flows} flows"
    )
    results: dict[tuple[str, int], list[Rows]] = {}
    try:
        for bot in bots.values():
            await bot.start()
        parts = set(args.only or ("mine", "booking", "burst"))
        for round_ in range(1, args.rounds + 1):
            for concurrency in (1, 8) if "mine" in parts else ():
                rows = []
                for bot in bots.values():
                    figures_ = await mine(bot, connector_port, args.turns, concurrency, args.agents)
                    rows.append((bot.label, figures_))
                show(f"round {round_} · « mes rendez-vous » · concurrency {concurrency}", rows, rows[0][1])
                results.setdefault(("mine", concurrency), []).append(rows)
            for concurrency in (1, 8) if "booking" in parts else ():
                rows = []
                for bot in bots.values():
                    bot.stop()  # a fresh database for each booking measurement: the same free slots
                    await bot.start()
                    rows.append((bot.label, await booking(bot, connector, connector_port, args.flows, concurrency)))
                show(f"round {round_} · full booking (5 turns) · concurrency {concurrency}", rows, rows[0][1])
                results.setdefault(("booking", concurrency), []).append(rows)
        if "burst" in parts:
            rows = [(bot.label, await burst(bot, connector, connector_port, args.turns)) for bot in bots.values()]
            show("burst · one conversation · concurrency 8", rows, rows[0][1])
            rows = [
                (bot.label, await burst(bot, connector, connector_port, args.turns, booked=True))
                for bot in bots.values()
            ]
            show("burst · one conversation with an appointment (cards recorded) · concurrency 8", rows, rows[0][1])
    finally:
        for bot in bots.values():
            bot.stop()
        await runner.cleanup()
        tmp.cleanup()
    targets(results)
    print(f"\nreplies received by the connector: {connector.replies}")


if __name__ == "__main__":
    asyncio.run(main())
