"""« Mes données »: an agent sees what the service keeps about her and until when, and has erased
what retention does not require; nothing of anyone else; a second submit changes nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from booking.records import NotFound
from bot import texts
from storage.models import AgentRow, AppointmentRow, OutboxRow, UrgentRequestRow
from tests.bot.conftest import WORKER_OID, Person, World
from tests.bot.test_journeys import PHONE, book
from tests.storage.conftest import OPERATOR

ALICE = "Alice Sentinelle"
BOB = "Bob Témoin"


async def agent_id(world: World, person: Person) -> str | None:
    async with world.store.unit_of_work(read_only=True) as uow:
        return await uow.agents.find(person.object_id)


async def snapshot(world: World) -> list[tuple[object, ...]]:
    """Every row an erasure may touch, decrypted where it holds her data."""
    async with world.store.unit_of_work(read_only=True) as uow:
        session = uow.session  # type: ignore[attr-defined]
        rows: list[tuple[object, ...]] = []
        for row in await session.scalars(select(AppointmentRow).order_by(AppointmentRow.id)):
            details = await uow.appointments.details(row.id, grant=OPERATOR)
            rows.append(("appointment", row.id, row.agent_id, row.status, details.message, details.topic_id))
        for row in await session.scalars(select(UrgentRequestRow).order_by(UrgentRequestRow.id)):
            rows.append(("urgent", row.id, row.agent_id, await uow.urgent.details(row.id, grant=OPERATOR)))
        rows.append(("agents", await session.scalar(select(func.count()).select_from(AgentRow))))
        rows.append(("outbox", await session.scalar(select(func.count()).select_from(OutboxRow))))
        return rows


async def history(world: World) -> Person:
    """Alice: two appointments now past, one upcoming, one urgent request taken; Bob: one booking."""
    social = world.person("Assistante sociale", WORKER_OID)
    await social.say("aide")
    alice = world.person(ALICE)
    await book(alice, "vanves", index=0, topic="logement", message="SENTINEL-alice-past-1")
    await book(alice, "vanves", index=1, message="SENTINEL-alice-past-2")
    urgent = await alice.say("urgence")
    await alice.submit(
        urgent.action(texts.URGENT_SEND), description="SENTINEL-alice-urgent", phone=PHONE, availability=""
    )
    await social.submit((await social.say("urgences")).action(texts.TAKE_IT))
    bob = world.person(BOB)
    await book(bob, "vanves", index=5, message="SENTINEL-bob")
    await world.deliver()
    world.clock.now = datetime(2027, 3, 5, 8, 0, tzinfo=UTC)  # Friday: Alice's two are past
    await book(alice, "vanves", index=0, message="SENTINEL-alice-upcoming")
    await world.deliver()
    return alice


async def test_mes_donnees_shows_her_data_with_retention_dates_and_nothing_of_anyone_else(world: World):
    alice = await history(world)
    for typed in ("Mes données", "MES DONNEES", "mes  données"):
        shown = await alice.say(typed)
        assert texts.DATA_TITLE in shown.text
    for own in ("SENTINEL-alice-past-1", "SENTINEL-alice-past-2", "SENTINEL-alice-upcoming", "SENTINEL-alice-urgent"):
        assert own in shown.text
    assert ALICE in shown.text and PHONE in shown.text and "Logement" in shown.text and "Vanves" in shown.text
    # Thursday 4 March 2027 + 400 days: kept until Friday 7 April 2028.
    assert f"{texts.DATA_UNTIL}: {texts.day(datetime(2028, 4, 7, 12, tzinfo=UTC))}" in shown.text
    assert texts.data_audit(1100) in shown.text
    assert "SENTINEL-bob" not in shown.text and BOB not in shown.text
    assert texts.ERASE_ACTION in [a.get("title") for a in shown.card["actions"]]
    async with world.store.unit_of_work(read_only=True) as uow:
        reads = [e for e in await uow.audit.entries() if e.action == "agent.data_read"]
    assert [(e.actor, e.subject_type, e.subject_id) for e in reads] == [
        ("agent", "agent", await agent_id(world, alice))
    ] * 3


async def test_erasure_removes_what_may_go_keeps_the_rest_and_a_second_submit_changes_nothing(world: World):
    alice = await history(world)
    alice_id = await agent_id(world, alice)
    before = await snapshot(world)
    shown = await alice.say("mes données")
    ask = await alice.submit(shown.action(texts.ERASE_ACTION))
    assert texts.erase_past(2) in ask.text and texts.erase_requests(1) in ask.text
    assert texts.erase_kept_upcoming(1) in ask.text and texts.ERASE_KEPT_PROFILE in ask.text
    assert texts.ERASE_PROFILE not in ask.text
    done = await alice.submit(ask.action(texts.ERASE_YES))
    assert texts.ERASED in done.text
    after = await snapshot(world)
    messages = {r[4] for r in after if r[0] == "appointment"}
    assert messages == {"", "SENTINEL-alice-upcoming", "SENTINEL-bob"}  # the past ones are emptied
    detached = [r for r in after if r[0] == "appointment" and r[4] == ""]
    assert len(detached) == 2 and len({r[2] for r in detached}) == 2 and alice_id not in {r[2] for r in detached}
    assert [r[5] for r in detached if r[5]] == ["logement"]  # still counted by topic, attached to nobody
    (request,) = [r for r in after if r[0] == "urgent"]
    assert request[2] != alice_id and request[3] == ("", "", "")
    async with world.store.unit_of_work(read_only=True) as uow:
        assert (
            await uow.agents.record(alice_id or "", grant=OPERATOR)
        ).name == ALICE  # her upcoming appointment needs her
        erased = [e for e in await uow.audit.entries() if e.action == "agent.erase"]
    assert [(e.actor, e.subject_id) for e in erased] == [("agent", alice_id)]
    # What she sees now: the upcoming appointment only.
    shown = await alice.say("mes données")
    assert "SENTINEL-alice-upcoming" in shown.text and "SENTINEL-alice-past" not in shown.text
    assert "SENTINEL-alice-urgent" not in shown.text
    # The same card again (a double click, another device): said done, nothing changes.
    again = await alice.submit(ask.action(texts.ERASE_YES))
    assert texts.DONE_ERASED in again.text
    assert await snapshot(world) == after != before


async def test_with_nothing_upcoming_her_profile_goes_and_she_starts_afresh(world: World):
    alice = world.person(ALICE)
    await book(alice, "vanves", message="SENTINEL-alice")
    world.clock.now = datetime(2027, 3, 6, 8, 0, tzinfo=UTC)
    alice_id = await agent_id(world, alice)
    ask = await alice.submit((await alice.say("mes données")).action(texts.ERASE_ACTION))
    assert texts.ERASE_PROFILE in ask.text
    twin = alice.twin()
    first, second = await asyncio.gather(
        alice.submit(ask.action(texts.ERASE_YES)), twin.submit(ask.action(texts.ERASE_YES))
    )
    assert sorted([texts.ERASED_ALL in first.text, texts.ERASED_ALL in second.text]) == [False, True]
    assert texts.DONE_ERASED in first.text + second.text
    async with world.store.unit_of_work(read_only=True) as uow:
        with pytest.raises(NotFound):
            await uow.agents.record(alice_id or "", grant=OPERATOR)
        (left,) = await uow.appointments.of_agent(await uow.agents.find(alice.object_id) or "") or [None]
        erased = [e for e in await uow.audit.entries() if e.action == "agent.erase"]
    assert left is None  # the second click was a new first contact: a profile with nothing of before
    assert [e.subject_id for e in erased] == [alice_id]
    # She writes again: a first contact, with nothing of before.
    shown = await alice.say("mes données")
    assert texts.DATA_NONE in shown.text and "SENTINEL" not in shown.text
    assert await agent_id(world, alice) not in (None, alice_id)
    assert texts.SITE_TITLE in (await alice.say("rendez-vous")).text  # her site went with her profile


async def test_nothing_erasable_is_said_and_offers_no_erasure(world: World):
    alice = world.person(ALICE)
    await book(alice, "vanves", message="SENTINEL-alice")
    ask = await alice.submit((await alice.say("mes données")).action(texts.ERASE_ACTION))
    assert texts.ERASE_NOTHING in ask.text and texts.erase_kept_upcoming(1) in ask.text
    assert not ask.actions("erase_yes")
