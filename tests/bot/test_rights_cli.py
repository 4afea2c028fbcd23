"""`permanence agent export|erase`: the data protection officer serves an agent's own rights by
her Entra object id, audited with the operator; an unknown id fails."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from booking.model import Appointment, AppointmentStatus, DayKind, Mode, Worker, WorkerRole
from bot.application.rights import conversation_state_key
from bot.audit_cli import operator
from bot.cli import main
from bot.runtime import open_store
from bot.settings import Settings

OID = "cccccccc-0000-0000-0000-000000000001"
OTHER = "cccccccc-0000-0000-0000-000000000002"
REFERENCE = {"channelId": "msteams", "conversation": {"id": "a:conversation-of-claire"}}


async def seed(settings: Settings, now: datetime) -> None:
    """Claire: one appointment long past and one far ahead; Dan: one appointment."""
    store = await open_store(settings)
    try:
        async with store.unit_of_work() as uow:
            await uow.workers.sync([Worker(id="ass", name="ASS", role=WorkerRole.TITULAR)])
            claire = await uow.agents.ensure(OID, "Claire SENTINEL", now)
            await uow.agents.set_phone(claire, "06 11 22 33 44", now)
            await uow.agents.set_conversation(claire, REFERENCE, now)
            await uow.state.write(conversation_state_key(REFERENCE) or "", {"agent_id": claire}, None, now)
            dan = await uow.agents.ensure(OTHER, "Dan TÉMOIN", now)
            for agent, start, message in (
                (claire, now - timedelta(days=30), "SENTINEL-past"),
                (claire, now + timedelta(days=30), "SENTINEL-upcoming"),
                (dan, now + timedelta(days=31), "SENTINEL-dan"),
            ):
                await uow.appointments.add(
                    Appointment(
                        id=str(uuid.uuid4()),
                        worker_id="ass",
                        agent_id=agent,
                        start=start,
                        end=start + timedelta(minutes=45),
                        mode=Mode.PHONE,
                        kind=DayKind.PERMANENCE,
                        status=AppointmentStatus.CONFIRMED,
                    ),
                    site_id="lyon",
                    topic_id="budget",
                    message=message,
                    now=now,
                )
            await uow.commit()
    finally:
        await store.dispose()


async def state_kept(settings: Settings) -> bool:
    store = await open_store(settings)
    try:
        async with store.unit_of_work(read_only=True) as uow:
            return bool(await uow.state.read([conversation_state_key(REFERENCE) or ""]))
    finally:
        await store.dispose()


@pytest.fixture
def settings(tmp_path, monkeypatch, pinned_service):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PERMANENCE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("PERMANENCE_KEY_FILE", str(tmp_path / "config" / "keys.json"))
    settings = Settings(_env_file=None)
    asyncio.run(seed(settings, pinned_service))
    return settings


def export(capsys: pytest.CaptureFixture[str], entra_id: str = OID) -> dict[str, object]:
    capsys.readouterr()
    assert main(["agent", "export", "--entra-id", entra_id, "--json"]) == 0
    document: dict[str, object] = json.loads(capsys.readouterr().out)
    return document


def test_export_lists_her_data_with_retention_dates_and_nothing_of_another(settings, capsys):
    document = export(capsys)
    profile = document["profile"]
    assert profile["name"] == "Claire SENTINEL" and profile["phone"] == "06 11 22 33 44"  # type: ignore[index]
    appointments = document["appointments"]
    assert [a["message"] for a in appointments] == ["SENTINEL-past", "SENTINEL-upcoming"]  # type: ignore[union-attr]
    assert [a["erasable"] for a in appointments] == [True, False]  # type: ignore[union-attr]
    for a in appointments:  # type: ignore[union-attr]
        assert datetime.fromisoformat(a["kept_until"]) - datetime.fromisoformat(a["start"]) == timedelta(
            days=400, minutes=45
        )
    assert "SENTINEL-dan" not in json.dumps(document) and "TÉMOIN" not in json.dumps(document)
    assert main(["agent", "export", "--entra-id", OID]) == 0
    text = capsys.readouterr().out
    assert "Claire SENTINEL" in text and "SENTINEL-upcoming" in text and "pendant environ 3 ans" in text


def test_erase_keeps_what_is_needed_then_everything_once_nothing_is(settings, capsys):
    capsys.readouterr()
    assert main(["agent", "erase", "--entra-id", OID]) == 1  # no terminal to confirm: nothing erased
    assert "relancez avec --yes" in capsys.readouterr().err
    assert [a["message"] for a in export(capsys)["appointments"]] == ["SENTINEL-past", "SENTINEL-upcoming"]  # type: ignore[union-attr]
    assert main(["agent", "erase", "--entra-id", OID, "--yes"]) == 0
    out = capsys.readouterr().out
    assert "1 rendez-vous détaché et vidé" in out and "profil conservé" in out
    document = export(capsys)
    assert [a["message"] for a in document["appointments"]] == ["SENTINEL-upcoming"]  # type: ignore[union-attr]
    assert document["profile"]["name"] == "Claire SENTINEL" and asyncio.run(state_kept(settings))  # type: ignore[index]
    # Running it again erases nothing more.
    assert main(["agent", "erase", "--entra-id", OID, "--yes"]) == 0
    assert "0 rendez-vous détaché et vidé" in capsys.readouterr().out
    # Dan is untouched.
    assert [a["message"] for a in export(capsys, OTHER)["appointments"]] == ["SENTINEL-dan"]  # type: ignore[union-attr]


def test_erase_of_everything_then_the_id_is_unknown(settings, capsys, monkeypatch, pinned_now):
    store_settings = settings

    async def cancel_upcoming() -> None:
        store = await open_store(store_settings)
        try:
            async with store.unit_of_work() as uow:
                agent = await uow.agents.find(OID)
                for stored in await uow.appointments.upcoming_for_agent(agent or "", pinned_now):
                    await uow.appointments.set_status(
                        stored.id,
                        AppointmentStatus.CANCELLED,
                        version=stored.appointment.version,
                        now=pinned_now,
                        actor="agent",
                    )
                await uow.commit()
        finally:
            await store.dispose()

    asyncio.run(cancel_upcoming())
    assert main(["agent", "erase", "--entra-id", OID, "--yes"]) == 0
    assert "profil supprimé" in capsys.readouterr().out
    assert not asyncio.run(state_kept(settings))  # her conversation state went too
    assert main(["agent", "export", "--entra-id", OID]) == 1
    assert "aucun agent connu" in capsys.readouterr().err
    assert main(["audit", "show", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert [(e["action"], e["actor"], e["operator"]) for e in entries if e["action"].startswith("agent.")] == [
        ("agent.erase", "admin", operator())
    ]
    assert main(["audit", "verify"]) == 0


def test_an_unknown_id_fails_and_changes_nothing(settings, capsys):
    before = export(capsys)
    assert main(["agent", "export", "--entra-id", "00000000-0000-0000-0000-000000000000"]) == 1
    assert main(["agent", "erase", "--entra-id", "00000000-0000-0000-0000-000000000000", "--yes"]) == 1
    assert "aucun agent connu" in capsys.readouterr().err
    after = export(capsys)
    assert after == before


def test_a_lookup_copied_onto_her_profile_is_refused_plainly_and_erases_nothing(settings, capsys):
    """Issue 22, finding 1: Dan's lookup copied onto Claire's profile (his own moved aside)."""

    async def swap() -> None:
        store = await open_store(settings)
        try:
            async with store.engine.begin() as connection:
                lookup = store.keyring.lookup(OTHER)
                await connection.execute(
                    text("UPDATE agents SET lookup = :x WHERE lookup = :l"), {"x": "e" * 64, "l": lookup}
                )
                await connection.execute(
                    text("UPDATE agents SET lookup = :l WHERE lookup = :c"),
                    {"l": lookup, "c": store.keyring.lookup(OID)},
                )
        finally:
            await store.dispose()

    asyncio.run(swap())
    capsys.readouterr()
    assert main(["agent", "export", "--entra-id", OTHER]) == 1
    assert main(["agent", "erase", "--entra-id", OTHER, "--yes"]) == 1
    err = capsys.readouterr().err
    assert err.count("ne porte pas son identifiant scellé") == 2 and "SENTINEL" not in err
    assert "Traceback" not in err

    async def counts() -> tuple[int, int]:
        store = await open_store(settings)
        try:
            async with store.engine.connect() as connection:
                agents = await connection.scalar(text("SELECT count(*) FROM agents"))
                kept = await connection.scalar(
                    text(
                        "SELECT count(*) FROM appointments WHERE agent_id IN (SELECT id FROM agents WHERE lookup <> :x)"
                    ),
                    {"x": "e" * 64},
                )
        finally:
            await store.dispose()
        return int(agents or 0), int(kept or 0)

    assert asyncio.run(counts()) == (2, 2)  # nobody erased, Claire's two appointments still hers
