"""The worker's views read who and why through the access policy's grants: each view audits
exactly the rows it shows, no more (what is not shown is neither decrypted nor audited)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from bot import texts
from storage.models import AppointmentRow, UrgentRequestRow
from tests.bot.conftest import World
from tests.helpers.conversation import PHONE, book, worker


async def mark(world: World) -> int:
    async with world.store.unit_of_work() as uow:
        return len(await uow.audit.entries())


async def reads(world: World, action: str, since: int) -> list[str]:
    """Subjects of the `action` entries written after the first `since` entries (chain order)."""
    async with world.store.unit_of_work() as uow:
        return sorted(e.subject_id for e in (await uow.audit.entries())[since:] if e.action == action)


async def ids_where(world: World, *conditions: object) -> list[str]:
    async with world.store.unit_of_work() as uow:
        return sorted(await uow.session.scalars(select(AppointmentRow.id).where(*conditions)))  # type: ignore[arg-type]


async def test_each_worker_view_audits_exactly_the_rows_it_shows(world):
    confirmed = world.person("Camille Martin")
    await book(confirmed, "vanves", topic="budget", message="Dettes de loyer")  # Thursday 4 March, 9:00
    later = world.person("Dominique Petit")
    await book(later, "vanves", index=8, message="Plus tard")  # another day
    visit = world.person("Agent Lille")
    await book(visit, "lille", mode="home_visit", message="Visite")  # a request awaiting her decision
    requested = await ids_where(world, AppointmentRow.status == "requested")
    thursday = await ids_where(
        world,
        AppointmentRow.start_at >= datetime(2027, 3, 4, tzinfo=UTC),
        AppointmentRow.start_at < datetime(2027, 3, 5, tzinfo=UTC),
        AppointmentRow.status == "confirmed",
    )
    assert len(requested) == 1 and len(thursday) == 1
    social = await worker(world)
    await social.say("aide")

    start = await mark(world)
    shown = await social.say("demandes")
    assert "Agent Lille" in shown.text and "Camille Martin" not in shown.text
    assert await reads(world, "appointment.read", start) == requested

    world.clock.now = datetime(2027, 3, 4, 7, 0, tzinfo=UTC)
    start = await mark(world)
    day = await social.say("agenda")
    assert "Camille Martin" in day.text and "Dominique Petit" not in day.text and "Agent Lille" in day.text
    assert await reads(world, "appointment.read", start) == sorted(thursday + requested)


async def test_the_urgent_list_audits_exactly_the_requests_it_shows(world):
    social = await worker(world)
    await social.say("aide")  # reachable in Teams: the request stays hers (no immediate escalation)
    agent = world.person("Agent Urgent")
    await agent.say("aide")
    form = await agent.say("urgence")
    await agent.submit(form.action(texts.URGENT_SEND), description="Expulsion demain", phone=PHONE, availability="")
    start = await mark(world)
    listing = await social.say("urgences")
    assert "Expulsion demain" in listing.text and "Agent Urgent" in listing.text
    async with world.store.unit_of_work() as uow:
        ids = sorted(await uow.session.scalars(select(UrgentRequestRow.id)))
    assert await reads(world, "urgent.read", start) == ids
    # The replacement, not acting, is shown nothing: nothing is decrypted for her, nothing audited.
    replacement = world.person("Remplaçante", "aaaaaaaa-0000-0000-0000-000000000002")
    start = await mark(world)
    assert "Expulsion demain" not in (await replacement.say("urgences")).text
    assert await reads(world, "urgent.read", start) == []
