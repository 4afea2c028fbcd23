"""`permanence doctor` with the embedded calendar: exit codes for a missing database, keys that
cannot read what is stored, and a deployment where everything is in order."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import secrets
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.cli import main
from bot.runtime import open_store
from bot.settings import Settings
from tests.bot.conftest import REPLACEMENT_OID, WORKER_OID
from tests.dates import sample_plan_text


def key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture
def env(tmp_path, monkeypatch, pinned_service) -> Any:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PERMANENCE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("PERMANENCE_KEY_FILE", str(tmp_path / "config" / "keys.json"))
    identities = {"ass": {"object_id": WORKER_OID}, "remplacante": {"object_id": REPLACEMENT_OID}}
    monkeypatch.setenv("PERMANENCE_IDENTITIES", json.dumps(identities))
    for name in ("PERMANENCE_DATABASE_URL", "PERMANENCE_PLAN_FILE", "PERMANENCE_ENCRYPTION_KEY"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def doctor(capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = main(["doctor", "--json"])  # at the pinned instant (the service's clock)
    return code, json.loads(capsys.readouterr().out)


def failed(document: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(c["area"], c["subject"], c["code"]) for c in document["checks"] if c["status"] == "problem"}


async def greet_workers(settings: Settings) -> None:
    """What identify() stores when each worker first writes to the bot."""
    store = await open_store(settings, upgrade=True)
    now = datetime(2027, 2, 1, tzinfo=UTC)
    try:
        async with store.unit_of_work() as uow:
            await uow.workers.sync(settings.load_deployment().directory.workers)
            for oid in (WORKER_OID, REPLACEMENT_OID):
                agent_id = await uow.agents.ensure(oid, "SENTINEL", now)
                await uow.agents.set_conversation(agent_id, {"conversation": {"id": "a:x"}}, now)
            await uow.commit()
    finally:
        await store.dispose()


def test_a_fresh_machine_says_what_is_missing_and_exits_1(env, capsys):
    code, document = doctor(capsys)
    assert code == 1
    assert {("keys", "file", "missing"), ("database", "", "missing")} <= failed(document)
    assert not Settings(_env_file=None).effective_key_file.exists()  # the doctor created nothing


def test_a_complete_local_deployment_is_clean_and_exits_0(env, capsys, pinned_now):
    asyncio.run(greet_workers(Settings(_env_file=None)))
    code, document = doctor(capsys)
    assert code == 0, failed(document)
    areas = {(c["area"], c["subject"]): c["status"] for c in document["checks"]}
    assert areas[("teams", "ass")] == areas[("teams", "remplacante")] == "ok"
    assert areas[("mailbox", "ass")] == "n/a"  # the embedded calendar has no mailbox
    capsys.readouterr()
    assert main(["doctor", "--as-of", pinned_now.isoformat()]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["domaine", "objet", "état", "détail"]
    # In the sample's last year, the doctor warns that the next one is not planned yet.
    agreed = re.search(r"^years = \[(.*)\]$", sample_plan_text(), re.MULTILINE)
    next_year_planned = agreed is not None and str(pinned_now.year + 1) in agreed.group(1)
    warnings = "0 avertissement" if next_year_planned else "1 avertissement"
    assert f"0 problème, {warnings}" in out and WORKER_OID not in out and "SENTINEL" not in out


def test_a_worker_never_seen_in_teams_and_values_under_an_unknown_key_fail(env, capsys):
    old, new, lookup = key(), key(), key()
    env.setenv("PERMANENCE_ENCRYPTION_KEY", f"k1:{old}")
    env.setenv("PERMANENCE_LOOKUP_KEY", lookup)
    asyncio.run(greet_workers(Settings(_env_file=None)))
    env.setenv("PERMANENCE_ENCRYPTION_KEY", f"k2:{new}")  # k1 dropped although values still use it
    code, document = doctor(capsys)
    assert code == 1
    assert ("keys", "k1", "not_configured") in failed(document)
    env.setenv("PERMANENCE_ENCRYPTION_KEY", f"k1:{old}")
    env.setenv("PERMANENCE_IDENTITIES", json.dumps({"ass": {"object_id": WORKER_OID}}))
    code, document = doctor(capsys)
    assert code == 1
    assert failed(document) == {("teams", "remplacante", "no_object_id")}


def test_a_year_the_plan_does_not_cover_is_a_warning_the_year_before_then_a_problem(env, capsys):
    asyncio.run(greet_workers(Settings(_env_file=None)))
    env.setenv("PERMANENCE_TEST_NOW", "2028-06-01T09:00:00+02:00")  # the sample plan ends with 2028
    code, document = doctor(capsys)
    checks = {(c["subject"], c["code"]): c["status"] for c in document["checks"] if c["area"] == "plan"}
    assert code == 0, failed(document)
    assert checks[("ass 2029", "not_planned")] == "warning"
    env.setenv("PERMANENCE_TEST_NOW", "2029-01-10T09:00:00+01:00")
    code, document = doctor(capsys)
    assert code == 1
    assert ("plan", "ass 2029", "not_planned") in failed(document)
