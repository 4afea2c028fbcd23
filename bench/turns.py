"""Turns per second and memory: Permanence against the stock botbuilder echo bot, same machine,
same run. Each bot runs in its own process on loopback; a local connector stands in for the
Bot Framework channel and receives the replies. Prints figures.

    .venv/bin/python bench/turns.py [--turns 600] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Connector:
    """The channel side: accepts the bot's replies like the Bot Connector service does."""

    def __init__(self) -> None:
        self.replies = 0

    async def reply(self, request: web.Request) -> web.Response:
        await request.read()
        self.replies += 1
        return web.json_response({"id": str(self.replies)})

    async def member(self, request: web.Request) -> web.Response:
        return web.json_response({"id": "29:u", "name": "Agent", "email": "agent@example.org"})

    async def start(self) -> tuple[web.AppRunner, int]:
        app = web.Application()
        app.router.add_post("/v3/conversations/{conversation}/activities", self.reply)
        app.router.add_post("/v3/conversations/{conversation}/activities/{id}", self.reply)
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


async def wait_ready(port: int) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            try:
                async with session.post(f"http://127.0.0.1:{port}/api/messages", json={}) as response:
                    if response.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"bot on port {port} did not start")


def activity(i: int, text: str, connector_port: int) -> dict[str, Any]:
    user = i % 50
    return {
        "type": "message",
        "id": f"m{i}",
        "text": text,
        "channelId": "msteams",
        "serviceUrl": f"http://127.0.0.1:{connector_port}/",
        "from": {
            "id": f"29:user{user}",
            "aadObjectId": f"00000000-0000-0000-0000-{user:012d}",
            "name": f"Agent {user}",
        },
        "recipient": {"id": "28:bot"},
        "conversation": {"id": f"a:conv{user}", "conversationType": "personal"},
        "channelData": {"tenant": {"id": "00000000-0000-0000-0000-000000000001"}},
    }


async def load(port: int, connector_port: int, text: str, turns: int, concurrency: int) -> dict[str, float]:
    latencies: list[float] = []
    counter = iter(range(turns))
    async with aiohttp.ClientSession() as session:

        async def client() -> None:
            for i in counter:
                started = time.perf_counter()
                async with session.post(
                    f"http://127.0.0.1:{port}/api/messages", json=activity(i, text, connector_port)
                ) as response:
                    await response.read()
                    if response.status >= 300:
                        raise RuntimeError(f"turn failed with HTTP {response.status}")
                latencies.append(time.perf_counter() - started)

        # warm-up, not measured
        for i in range(20):
            async with session.post(
                f"http://127.0.0.1:{port}/api/messages", json=activity(10_000 + i, text, connector_port)
            ) as response:
                await response.read()
        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "turns_per_s": turns / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": latencies[int(len(latencies) * 0.95) - 1] * 1000,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    connector = Connector()
    runner, connector_port = await connector.start()
    python = sys.executable
    tmp = tempfile.TemporaryDirectory()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    bots = [
        ("stock echo bot (CloudAdapter)", [python, "bench/echo_bot.py"], "bonjour", {}),
        ("echo bot + reused connectors", [python, "bench/echo_bot.py"], "bonjour", {"reuse": True}),
        ("Permanence, « aide » (welcome card)", [python, "-m", "bot.cli", "serve"], "aide", {}),
        ("Permanence, « rendez-vous » (form)", [python, "-m", "bot.cli", "serve"], "rendez-vous", {}),
    ]
    results = []
    try:
        for label, command, text, options in bots:
            port = free_port()
            if command[-1] == "serve":
                proc_env = {
                    **env,
                    "PERMANENCE_PORT": str(port),
                    "PERMANENCE_DATA_DIR": f"{tmp.name}/{port}",
                    "PERMANENCE_KEY_FILE": f"{tmp.name}/{port}-keys.json",
                    "PERMANENCE_LOG_LEVEL": "WARNING",
                }
                full = command
            else:
                proc_env = env
                full = [*command, str(port), *(["--reuse-connectors"] if options.get("reuse") else [])]
            process = subprocess.Popen(
                full, cwd=ROOT, env=proc_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            try:
                await wait_ready(port)
                idle = rss_mib(process.pid)
                figures = await load(port, connector_port, text, args.turns, args.concurrency)
                figures["rss_idle"] = idle
                figures["rss_after"] = rss_mib(process.pid)
                results.append((label, figures))
            finally:
                process.terminate()
                process.wait(timeout=10)
    finally:
        await runner.cleanup()
        tmp.cleanup()
    print(
        f"{args.turns} turns per bot, {args.concurrency} concurrent clients, replies to a local connector; "
        f"{os.cpu_count()} cores"
    )
    print(f"{'bot':<38}{'turns/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'RSS idle':>10}{'RSS after':>11}")
    for label, f in results:
        print(
            f"{label:<38}{f['turns_per_s']:>9.1f}{f['p50_ms']:>9.1f}{f['p95_ms']:>9.1f}"
            f"{f['rss_idle']:>9.1f}M{f['rss_after']:>10.1f}M"
        )
    print(f"replies received by the connector: {connector.replies}")


if __name__ == "__main__":
    asyncio.run(main())
