"""Finding 2 of issue 22, end to end: the service anchors the audit chain's head outside the
database (a file and the log); `permanence audit verify` finds a cut tail with it."""

from __future__ import annotations

import asyncio
import json
import sqlite3

from aiohttp.test_utils import TestClient, TestServer

from bot.cli import main
from bot.settings import Settings
from bot.web.app import RUNTIME, create_app


async def test_the_head_is_anchored_at_shutdown_and_a_cut_tail_is_found(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PERMANENCE_DATA_DIR", str(tmp_path / "var"))
    settings = Settings(_env_file=None)
    async with TestClient(TestServer(create_app(settings))) as client:
        runtime = client.app[RUNTIME]
        async with runtime.store.unit_of_work(read_only=True) as uow:
            started, _ = await uow.audit.head()  # audit.start and the first plan's entries
        async with runtime.store.unit_of_work() as uow:
            for index in range(3):
                await uow.audit.record(
                    actor="admin",
                    action="report.generate",
                    subject_type="report",
                    subject_id=f"r{index}",
                    now=runtime.clock(),
                )
            await uow.commit()
    lines = settings.effective_audit_anchor_file.read_text(encoding="utf-8").splitlines()
    head = json.loads(lines[-1])
    assert head["seq"] == started + 3 and set(head) == {"seq", "mac", "at", "signature"}

    capsys.readouterr()
    assert await run(["audit", "verify"]) == 0
    assert f"{len(lines)} ancrages comparés" in capsys.readouterr().out
    with sqlite3.connect(settings.data_dir / "permanence.db") as connection:
        connection.execute("DELETE FROM audit WHERE seq > ?", (started + 1,))
    assert await run(["audit", "verify"]) == 1
    said = capsys.readouterr().err
    assert f"MODIFIÉ à la position {started + 2} : des entrées de la fin ont été supprimées" in said

    # A forged anchor line (no chain key) is reported, never trusted.
    with settings.effective_audit_anchor_file.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"seq": 1, "mac": "0" * 64, "at": "x", "signature": "0" * 64}) + "\n")
    assert await run(["audit", "verify"]) == 1
    assert "signature fausse" in capsys.readouterr().err


async def run(argv: list[str]) -> int:
    """The command line, on a thread of its own (it runs its own event loop)."""
    return await asyncio.to_thread(main, argv)
