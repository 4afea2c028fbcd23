"""Logs hold at DEBUG: a real `permanence serve` at DEBUG, a booking with a message and a
phone, an urgent request and the worker's agenda, and not one personal identifier in the output."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot import logs
from tests.bot.test_replicas import Connector, card_action
from tests.dates import served_environment
from tests.e2e.conftest import free_port, wait_http

ROOT = Path(__file__).resolve().parents[2]
AGENT_OID = "5e9c1a7b-0d42-4c3e-9f11-7a2b3c4d5e6f"
WORKER_OID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
AGENT = {"id": "29:1SentinelTeamsUserQx7", "aadObjectId": AGENT_OID, "name": "Zoé Sentinelle-Martin"}
WORKER = {"id": "29:1WorkerTeamsUserZz9", "aadObjectId": WORKER_OID, "name": "Claire Assistante"}
CONVERSATIONS = {AGENT_OID: "a:1SentinelConversationB4k", WORKER_OID: "a:1WorkerConversationP2m"}
MESSAGE = "Loyer impayé depuis mars sentinelmsg"
PHONES = ["+33 6 98 76 54 32", "06 98 76 54 32"]
URGENT = "Situation de crise sentineldesc"
FORBIDDEN = [
    AGENT_OID,
    WORKER_OID,
    AGENT["id"],
    WORKER["id"],
    *CONVERSATIONS.values(),
    "Sentinelle",
    "sentinelmsg",
    "sentineldesc",
    "98 76 54 32",
    "987654",
]


def test_the_redaction_of_library_text():
    assert logs.redact("POST https://smba.trafficmanager.net/emea/v3/conversations/a:1xY/activities") == (
        "POST https://smba.trafficmanager.net/…"
    )
    assert set(logs.redact(f"{AGENT['id']} {AGENT_OID} {PHONES[0]}, {PHONES[1]}")) == {"…", " ", ","}
    assert logs.redact("GET /v3/conversations/a:xyz/members/29:abc?x=1 200") == "GET /… 200"
    assert logs.redact("retention purge deleted 12 rows") == "retention purge deleted 12 rows"


def test_library_records_below_warning_are_dropped_whatever_their_level(capfd):
    logs.configure("DEBUG")
    try:
        logging.getLogger("msrest.http_logger").setLevel(logging.DEBUG)  # as a debugging session might
        logging.getLogger("msrest.http_logger").debug("Request URL: %r", f"https://x/v3/{CONVERSATIONS[AGENT_OID]}")
        logging.getLogger("sqlalchemy.engine.Engine").info("[parameters] %r", ("k1:2:" + "Q" * 40,))
        logging.getLogger("aiohttp.client").warning("failed %s for %s", "https://x/v3/conv/a:zz", AGENT["name"])
        logging.getLogger("bot.turns").debug("turn", extra={"event": "turn", "code": AGENT["id"], "agent": "x"})
    finally:
        logs.configure("INFO")
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines()]
    assert [(line["logger"], line["message"]) for line in lines] == [
        ("aiohttp.client", "failed … for …"),  # the format string only: arguments carry the data
        ("bot.turns", "turn"),
    ]
    assert lines[1]["code"] == "…" and "agent" not in lines[1]


async def test_a_debug_run_of_the_bot_writes_no_personal_identifier(tmp_path, pinned_now):
    connector = Connector()
    runner = web.AppRunner(connector.app(), access_log=None)
    await runner.setup()
    connector_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", connector_port).start()
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PERMANENCE_DATA_DIR": str(tmp_path / "var"),
        "PERMANENCE_KEY_FILE": str(tmp_path / "config" / "keys.json"),
        "PERMANENCE_LOCAL_MEETING_URL": "https://teams.microsoft.com/l/x",
        "PERMANENCE_LOG_LEVEL": "DEBUG",
        "PERMANENCE_PORT": str(port),
        "PERMANENCE_IDENTITIES": json.dumps({"ass": {"object_id": WORKER_OID}}),
        "PYTHONASYNCIODEBUG": "1",
        **served_environment(pinned_now, tmp_path),
    }
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log_file:
        server = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve"], cwd=tmp_path, stdout=log_file, stderr=log_file, env=env
        )
    turn = 0
    try:
        await wait_http(f"http://127.0.0.1:{port}/readyz")
        async with aiohttp.ClientSession() as session:

            async def send(person: dict[str, str], text: str | None = None, value: Any = None) -> dict[str, Any]:
                nonlocal turn
                conversation = CONVERSATIONS[person["aadObjectId"]]
                before = len(connector.activities.get(conversation, []))
                turn += 1
                activity = {
                    "type": "message",
                    "id": f"in-{turn}",
                    "channelId": "msteams",
                    "text": text,
                    "value": value,
                    "serviceUrl": f"http://127.0.0.1:{connector_port}/",
                    "from": person,
                    "recipient": {"id": "28:bot"},
                    "conversation": {"id": conversation, "conversationType": "personal"},
                    "channelData": {"tenant": {"id": "00000000-0000-0000-0000-0000000000e1"}},
                    "replyToId": connector.activities[conversation][-1]["id"] if before else None,
                }
                async with session.post(f"http://127.0.0.1:{port}/api/messages", json=activity) as response:
                    assert response.status < 300, await response.text()
                replies = connector.activities[conversation][before:]
                assert replies, "no reply"
                return replies[-1]

            picker = await send(AGENT, "rendez-vous")
            form = await send(AGENT, value={**card_action(picker, "site"), "site": "vanves"})
            slots = await send(
                AGENT,
                value={**card_action(form, "slots"), "mode": "phone", "topic": "logement", "message": MESSAGE}
                | {"phone": PHONES[0]},
            )
            summary = await send(AGENT, value=card_action(slots, "pick"))
            done = await send(AGENT, value=card_action(summary, "confirm"))
            assert "C'est réservé" in json.dumps(done, ensure_ascii=False)
            urgent = await send(AGENT, "urgence")
            sent = await send(
                AGENT,
                value={**card_action(urgent, "urgent_send"), "description": URGENT, "phone": PHONES[1]}
                | {"availability": "matin"},
            )
            assert sent
            agenda = await send(WORKER, "urgences")
            assert "Sentinelle" in json.dumps(agenda, ensure_ascii=False)  # she does see who
    finally:
        server.terminate()
        server.wait(timeout=10)
        await runner.cleanup()
    output = log_path.read_text(encoding="utf-8")
    assert len(output.splitlines()) > 8  # our own records are there (a turn each)
    leaks = [needle for needle in FORBIDDEN if needle.lower() in output.lower()]
    assert leaks == [], f"personal identifiers in the DEBUG log: {leaks}"
