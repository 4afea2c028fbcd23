"""Finding 3 of issue 22: whoever edits the plan file cannot make an Entra account a worker
silently. A plan that adds or changes a worker or a replacement applies only once the operator
approved it (`permanence plan approve`); every change is audited (plan ids, workers' object ids)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.application.plan_identity import STATE_KEY, identities
from bot.bootstrap import Overrides, bootstrap
from bot.checks.doctor import plan_identity_checks
from bot.cli import main
from bot.runtime import StartupError
from bot.settings import Settings
from bot.web.app import RUNTIME, create_app
from storage.models import OutboxRow
from tests.bot.conftest import Clock
from tests.helpers.plan_reload import NOW, SAMPLE, reload

INTRUDER = "99999999-8888-7777-6666-555555555555"
ADDED = f"""
[[workers]]
id = "intrus"
name = "Collègue"
role = "replacement"
object_id = "{INTRUDER}"
"""
WITH_INTRUDER = SAMPLE.replace("[[zones]]", ADDED + "\n[[zones]]", 1).replace(
    'ass = ["remplacante"]', 'ass = ["intrus", "remplacante"]'
)


def edit(settings: Settings, text: str) -> None:
    """The plan's editor at work: the configured file, rewritten."""
    Path(settings.plan_file or "").write_text(text, encoding="utf-8")


@pytest.fixture
def settings(tmp_path, monkeypatch) -> Settings:  # type: ignore[no-untyped-def]
    plan = tmp_path / "plan.toml"
    plan.write_text(SAMPLE, encoding="utf-8")
    for name, value in (("DATA_DIR", tmp_path / "var"), ("KEY_FILE", tmp_path / "keys.json"), ("PLAN_FILE", plan)):
        monkeypatch.setenv(f"PERMANENCE_{name}", str(value))
    return Settings(_env_file=None)


@pytest.fixture
async def client(settings) -> AsyncIterator[TestClient]:  # type: ignore[no-untyped-def]
    async with TestClient(TestServer(create_app(settings, overrides=Overrides(clock=Clock(NOW))))) as client:
        yield client


async def plan_entries(client: TestClient) -> list[tuple[str, str, str | None]]:
    async with client.app[RUNTIME].store.unit_of_work(read_only=True) as uow:
        return [(e.action, e.subject_id, e.operator) for e in await uow.audit.entries() if e.action.startswith("plan.")]


async def plan_notices(client: TestClient) -> list[tuple[str, str]]:
    async with client.app[RUNTIME].store.unit_of_work(read_only=True) as uow:
        rows = await uow.session.scalars(select(OutboxRow).where(OutboxRow.kind == "notify.worker"))
        return [(r.payload["worker_id"], r.payload["summary"]) for r in rows if r.payload.get("what") == "plan_changed"]


async def test_a_worker_added_in_the_plan_file_needs_the_operators_approval(client, settings, capsys):
    runtime = client.app[RUNTIME]
    first = [a for a, _, _ in await plan_entries(client)]
    assert first[-1] == "plan.apply" and first.count("plan.apply") == 1  # the first plan, as it is
    assert first.count("plan.worker_added") == 2  # its two workers, recorded
    edit(settings, WITH_INTRUDER)
    status, body = await reload(client)
    assert status == 422 and "permanence plan approve" in str(body["problems"])
    assert runtime.app.context.worker_for_object_id(INTRUDER) is None  # the running plan stays
    (check,) = await plan_identity_checks(runtime.store, settings.load_deployment())  # permanence doctor
    assert check.code == "unapproved" and check.failed and f"plan.worker_added intrus oid:{INTRUDER}" in check.detail

    assert await asyncio.to_thread(main, ["plan", "approve"]) == 0
    assert "plan.worker_added intrus oid:" + INTRUDER in capsys.readouterr().out
    (check,) = await plan_identity_checks(runtime.store, settings.load_deployment())
    assert check.code == "approved" and not check.failed
    status, body = await reload(client)
    assert status == 200 and body["applied"] is True
    assert runtime.app.context.worker_for_object_id(INTRUDER) is not None
    entries = await plan_entries(client)
    assert ("plan.worker_added", "intrus", f"oid:{INTRUDER}") in entries
    assert ("plan.replacements_changed", "ass", "replacements:intrus>remplacante") in entries
    assert [a for a, _, _ in entries].count("plan.apply") == 2 and entries[-1][2] == "reload"
    assert [a for a, _, _ in entries].count("plan.approve") == 1
    told = await plan_notices(client)  # every worker of the new plan is told, by name, no object id
    assert sorted(w for w, _ in told) == ["ass", "intrus", "remplacante"]
    assert {s for _, s in told} == {"arrivée : Collègue ; remplacement modifié : Assistante sociale du travail"}

    # Taking her out again needs no approval, and is audited too.
    edit(settings, SAMPLE)
    status, _ = await reload(client)
    assert status == 200 and ("plan.worker_removed", "intrus", f"oid:{INTRUDER}") in await plan_entries(client)


async def test_a_plan_edited_while_the_service_was_stopped_is_refused_at_start(settings):
    first = await bootstrap(settings, Overrides(clock=Clock(NOW)))
    await first.close()
    edit(settings, WITH_INTRUDER)
    with pytest.raises(StartupError, match="permanence plan approve"):
        await bootstrap(settings, Overrides(clock=Clock(NOW)))
    assert await asyncio.to_thread(main, ["plan", "approve"]) == 0
    again = await bootstrap(settings, Overrides(clock=Clock(NOW)))
    try:
        assert again.app.context.worker_for_object_id(INTRUDER) is not None
    finally:
        await again.close()


async def test_the_dba_cannot_pass_a_change_off_as_already_applied(client, settings):
    """The identities kept in the database to tell what changed are not trusted for approval."""
    runtime = client.app[RUNTIME]

    edit(settings, WITH_INTRUDER)
    forged = identities(settings.load_deployment())
    async with runtime.store.unit_of_work() as uow:
        await uow.sync_state.put(STATE_KEY, forged, NOW)
        await uow.commit()
    status, _ = await reload(client)
    assert status == 422 and runtime.app.context.worker_for_object_id(INTRUDER) is None
