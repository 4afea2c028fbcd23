"""Conversations with the bot (the `world` of tests/bot/conftest.py): booking, listing, the
worker persona, and what a second click or a notice looks like."""

from __future__ import annotations

import asyncio

from botbuilder.schema import Activity
from sqlalchemy import select

from bot import texts
from storage.models import AppointmentRow, OutboxRow
from tests.bot.conftest import MEETING_URL, WORKER_OID, Person, Reply, World, walk

PHONE = "06 12 34 56 78"


async def open_slots(person: Person, site: str, *, mode: str = "teams", topic: str = "", message: str = "") -> Reply:
    reply = await person.say("rendez-vous")
    if texts.SITE_TITLE in reply.text:
        reply = await person.submit(reply.action(texts.CONTINUE), site=site)
    assert texts.FORM_TITLE in reply.text
    return await person.submit(reply.action(texts.SEE_SLOTS), mode=mode, topic=topic, message=message, phone=PHONE)


async def book(person: Person, site: str, *, index: int = 0, **form: str) -> Reply:
    slots = await open_slots(person, site, **form)
    summary = await person.submit(slots.actions("pick")[index])
    assert texts.SUMMARY_TITLE in summary.text
    return await person.submit(summary.action(texts.CONFIRM))


async def appointments(world: World) -> list[tuple[str, str]]:
    async with world.store.unit_of_work() as uow:
        rows = (
            await uow.session.execute(
                select(AppointmentRow.status, AppointmentRow.start_at).order_by(AppointmentRow.start_at)
            )
        ).all()
    return [(status, start.strftime("%Y-%m-%d %H:%M:%S")) for status, start in rows]


async def worker(world: World) -> Person:
    return world.person("Assistante sociale", WORKER_OID)


async def twice(person: Person, data: dict[str, object], **inputs: object) -> list[Reply]:
    return list(await asyncio.gather(person.submit(data, **inputs), person.twin().submit(data, **inputs)))


async def notices(world: World, what: str) -> int:
    """Proactive messages queued with this purpose (sent or not)."""
    async with world.store.unit_of_work(read_only=True) as uow:
        payloads = (await uow.session.scalars(select(OutboxRow.payload).where(OutboxRow.kind.like("notify.%")))).all()
    return sum(1 for p in payloads if p.get("what") == what)


def friendly(replies: list[Reply]) -> None:
    for reply in replies:
        assert reply.text and texts.ERROR not in reply.text and texts.STALE_CARD not in reply.text


def links(sent: list[Activity]) -> list[Activity]:
    """The proactive messages carrying the Teams link."""
    return [
        a
        for a in sent
        for attachment in a.attachments or []
        if any(n.get("type") == "Action.OpenUrl" and n.get("url") == MEETING_URL for n in walk(attachment.content))
    ]
