"""What a new user met trying the product as an agent (issue 26): every expectation is what she
reads through the real bot, store and outbox, at the pinned instant (`--now`)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from booking.holidays import FrenchHolidays
from booking.urgency import add_working_time
from bot import texts
from tests.bot.conftest import REPLACEMENT_OID, WORKER_OID, Person, Reply, World, walk
from tests.dates import bookable_plan_text, pinned_environment

PHONE = "06 12 34 56 78"


@pytest.fixture
def world(pinned_world: World) -> World:
    return pinned_world


async def booking_form(person: Person, site: str = "vanves") -> Reply:
    reply = await person.say("rendez-vous")
    if texts.SITE_TITLE in reply.text:
        reply = await person.submit(reply.action(texts.CONTINUE), site=site)
    return reply


async def open_slots(person: Person, site: str = "vanves", *, mode: str = "teams", phone: str = PHONE) -> Reply:
    form = await booking_form(person, site)
    assert texts.FORM_TITLE in form.text, form.text
    return await person.submit(form.action(texts.SEE_SLOTS), mode=mode, topic="", message="", phone=phone)


async def review(person: Person, index: int = 0, **form: str) -> Reply:
    slots = await open_slots(person, **form)
    summary = await person.submit(slots.actions("pick")[index])
    assert texts.SUMMARY_TITLE in summary.text
    return summary


async def book(person: Person, index: int = 0, **form: str) -> Reply:
    summary = await review(person, index, **form)
    done = await person.submit(summary.action(texts.CONFIRM))
    assert texts.CONFIRMED_TITLE in done.text
    return done


async def cancel_first(person: Person) -> None:
    mine = await person.say("mes rendez-vous")
    asked = await person.submit(mine.action(texts.CANCEL))
    assert texts.CANCEL_CONFIRM_TITLE in asked.text
    await person.submit(asked.action(texts.CANCEL_YES))


async def upcoming(world: World, person: Person) -> int:
    async with world.store.unit_of_work(read_only=True) as uow:
        agent_id = await uow.agents.find(person.object_id)
        return len(await uow.appointments.upcoming_for_agent(agent_id or "", world.clock()))


# -- 2. A refused confirmation is never answered later as done ---------------------------------


async def test_a_refused_confirmation_stays_usable_and_is_never_said_done(world: World):
    agent = world.person("Agent Vanves")
    await book(agent, 0)
    held = await review(agent, 2)  # a third review, kept open while she books elsewhere
    await book(agent, 1)
    confirm = held.action(texts.CONFIRM)
    refused = await agent.submit(confirm)
    assert texts.REFUSALS["limit_reached"] in refused.text
    assert await upcoming(world, agent) == 2
    again = await agent.submit(confirm)  # still refused, never « C'est déjà fait »
    assert texts.REFUSALS["limit_reached"] in again.text and texts.DONE_PREFIX not in again.text
    await cancel_first(agent)
    done = await agent.submit(confirm)  # the same « Confirmer », now that she has room
    assert texts.CONFIRMED_TITLE in done.text and texts.DONE_PREFIX not in done.text
    assert await upcoming(world, agent) == 2
    replayed = await agent.submit(confirm)  # only a success is answered as done
    assert replayed.text.startswith(texts.DONE_PREFIX)
    assert await upcoming(world, agent) == 2


# -- 1. The cap on upcoming appointments is told at the first step ------------------------------


async def test_the_cap_is_told_before_she_chooses_anything(world: World):
    most = world.deployment.booking.max_upcoming
    agent = world.person("Agent Vanves")
    held = await open_slots(agent)  # a slot list kept open while she books up to the cap
    for index in range(most):
        await book(agent, index)
    told = await agent.say("rendez-vous")
    assert texts.LIMIT_TITLE in told.text and texts.FORM_TITLE not in told.text
    assert texts.LIMIT_BODY.format(most=most, count=most) in told.text
    assert told.actions("mine") and not told.actions("slots")
    # The list opened before: the review no longer offers a « Confirmer » that can only be refused.
    late = await agent.submit(held.actions("pick")[most])
    assert texts.LIMIT_TITLE in late.text and texts.SUMMARY_TITLE not in late.text
    assert not late.actions("confirm")
    # She cancels one: the next « rendez-vous » leads to the form again.
    await cancel_first(agent)
    assert texts.FORM_TITLE in (await agent.say("rendez-vous")).text
    # Moving an appointment is never blocked by the cap.
    await book(agent, most)
    mine = await agent.say("mes rendez-vous")
    moving = await agent.submit(mine.action(texts.MOVE))
    summary = await agent.submit(moving.actions("pick")[0])
    assert texts.SUMMARY_MOVE_TITLE in summary.text and summary.actions("confirm")


# -- 3. An urgent request when nobody is reachable: one answer, the same everywhere -------------


async def test_nobody_reachable_one_answer_then_the_worker_is_told_when_she_can_be(world: World):
    # The embedded default: neither worker ever opened the bot, and no e-mail can be sent.
    agent = world.person("Agent Lyon")
    form = await agent.say("urgence")
    filed = await agent.submit(form.action(texts.URGENT_SEND), description="Expulsion", phone=PHONE, availability="")
    urgent = world.deployment.urgent
    reference = filed.text.split("référence de votre demande : ")[1].split(")")[0]
    said = texts.URGENT_ACK_HOTLINE.format(name=urgent.hotline_name, phone=urgent.hotline_phone, reference=reference)
    assert said in filed.text
    assert "au plus tard" not in filed.text and "nous prévenons" not in filed.text
    assert await world.deliver() == []  # no second, contradictory answer
    # « mes données » says the same.
    data = await agent.say("mes données")
    status = texts.DATA_STATUS_HOTLINE.format(name=urgent.hotline_name, phone=urgent.hotline_phone)
    assert status in data.text and texts.DATA_STATUS_LABELS["open"] not in data.text
    # The worker opens the bot later: she is told of the request waiting, once.
    social = world.person("Assistante sociale", WORKER_OID)
    await social.say("bonjour")
    (notice,) = await world.deliver()
    assert notice.conversation.id == social.conversation_id
    assert reference in Reply([notice]).text and "attend un rappel" in Reply([notice]).text
    await social.say("bonjour")
    assert await world.deliver() == []
    listing = await social.say("urgences")
    assert "Expulsion" in listing.text and "Agent Lyon" in listing.text
    await social.submit(listing.action(texts.TAKE_IT))
    (taken,) = await world.deliver()
    assert taken.conversation.id == agent.conversation_id
    assert texts.URGENT_TAKEN.format(who=texts.URGENT_TAKER_TITULAR, reference=reference) in Reply([taken]).text
    data = await agent.say("mes données")
    assert texts.DATA_STATUS_LABELS["acknowledged"] in data.text


# -- 4. « Je suis en danger maintenant »: an explicit choice, never guessed ---------------------


def blocks(card: dict[str, object]) -> list[str]:
    """The card's text in the order she reads it."""
    return [str(n["text"]) for n in walk(card) if n.get("type") == "TextBlock"]


async def file_urgent(agent: Person, description: str, **choice: str) -> Reply:
    form = await agent.say("urgence")
    assert texts.URGENT_DANGER_CHOICE in [n.get("title") for n in walk(form.card) if n.get("type") == "Input.Toggle"]
    return await agent.submit(
        form.action(texts.URGENT_SEND), description=description, phone=PHONE, availability="", **choice
    )


async def deadline_of(world: World, reference: str) -> datetime:
    async with world.store.unit_of_work(read_only=True) as uow:
        (request,) = [r for r in await uow.urgent.open_requests() if r.reference == reference]
    deadline = request.route[request.step][1]
    assert deadline is not None
    return deadline


async def test_danger_now_puts_3114_and_15_first_and_shortens_the_deadline(world: World, pinned_now: datetime):
    for name, oid in (("Assistante sociale", WORKER_OID), ("Remplaçante", REPLACEMENT_OID)):
        await world.person(name, oid).say("bonjour")  # both reachable on Teams
    words = "Idées noires depuis une semaine, je n'en peux plus"
    # Her words alone change nothing: no danger is guessed from them.
    first = world.person("Agent Lille")
    plain = await file_urgent(first, words)
    plain_reference = plain.text.split("Référence : ")[1].split(".")[0]
    assert texts.URGENT_DANGER_FIRST not in plain.text
    assert blocks(plain.card)[1] == texts.URGENT_DANGER  # the usual order: the four numbers first
    # She ticks the choice.
    second = world.person("Agent Rennes")
    danger = await file_urgent(second, words, danger="true")
    reference = danger.text.split("Référence : ")[1].split(".")[0]
    read = blocks(danger.card)
    assert read[:3] == [texts.URGENT_TITLE, texts.URGENT_DANGER_FIRST, "3114"]
    assert read.index("3114") < read.index("15") < read.index(texts.URGENT_DANGER) < read.index("17")
    acknowledgement = next(i for i, line in enumerate(read) if reference in line)
    assert read.index("15") < acknowledgement
    # The deadline is as short as her working hours allow, shorter than the ordinary one.
    policy = world.deployment.urgent
    expected = add_working_time(
        pinned_now, policy.danger_response_time, policy.working_hours, FrenchHolidays(world.deployment.subdivision)
    )
    assert await deadline_of(world, reference) == expected < await deadline_of(world, plain_reference)
    assert texts.day_and_hour(expected) in danger.text
    # The worker reads it first, marked, although it came second.
    async with world.store.unit_of_work(read_only=True) as uow:
        (handler,) = {r.handler_id for r in await uow.urgent.open_requests()}
    worker = world.person(
        *{"ass": ("Assistante sociale", WORKER_OID)}.get(handler or "", ("Remplaçante", REPLACEMENT_OID))
    )
    listing = await worker.say("urgences")
    assert listing.text.index(reference) < listing.text.index(plain_reference)
    facts = [[f["value"] for f in n["facts"]] for n in walk(listing.card) if n.get("type") == "FactSet"]
    assert [texts.URGENT_LIST_DANGER in values for values in facts] == [True, False]
    # Her data says it; a forged value is refused, never a 5xx.
    assert texts.DATA_DANGER_YES in (await second.say("mes données")).text
    assert texts.DATA_DANGER_YES not in (await first.say("mes données")).text
    forged = await file_urgent(world.person("Agent Nice"), "", danger="maybe")
    assert texts.BAD_INPUT.format(what=texts.URGENT_DANGER_CHOICE) in forged.text


# -- 5. A phone appointment shows the number that will be called, and she may change it ---------


def input_value(reply: Reply, input_id: str) -> str:
    (found,) = [n for n in walk(reply.card) if n.get("id") == input_id and n.get("type", "").startswith("Input.")]
    return str(found.get("value", ""))


async def test_the_review_of_a_phone_appointment_shows_the_number_and_lets_her_change_it(world: World):
    agent = world.person("Agent Vanves")
    await file_urgent(agent, "")  # an earlier urgent request gave PHONE
    form = await booking_form(agent)
    remembered = input_value(form, "phone")
    assert remembered == PHONE
    slots = await agent.submit(form.action(texts.SEE_SLOTS), mode="phone", topic="", message="", phone=remembered)
    summary = await agent.submit(slots.actions("pick")[0])
    assert texts.SUMMARY_TITLE in summary.text
    (field,) = [n for n in walk(summary.card) if n.get("id") == "phone"]
    assert field["label"] == texts.SUMMARY_PHONE and field["value"] == PHONE
    confirm = summary.action(texts.CONFIRM)
    refused = await agent.submit(confirm, phone="")  # emptied: refused, the card still works
    assert texts.BAD_INPUT.format(what=texts.SUMMARY_PHONE) in refused.text
    other = "07 00 00 00 01"
    done = await agent.submit(confirm, phone=other)
    assert texts.CONFIRMED_TITLE in done.text
    assert texts.PHONE_CALL_AT.format(phone=other) in done.text
    social = world.person("Assistante sociale", WORKER_OID)
    assert other in await agenda_until_found(social, other)
    # The corrected number is the one remembered; a video appointment's review shows it,
    # without asking for it again.
    form = await booking_form(agent)
    assert input_value(form, "phone") == other
    slots = await agent.submit(form.action(texts.SEE_SLOTS), mode="teams", topic="", message="", phone=other)
    summary = await agent.submit(slots.actions("pick")[0])
    assert f"{texts.SUMMARY_CALLBACK}: {other}" in summary.text
    assert not [n for n in walk(summary.card) if n.get("id") == "phone"]


async def agenda_until_found(worker: Person, needle: str, weeks: int = 60) -> str:
    week = await worker.say("semaine")
    for _ in range(weeks):
        if needle in week.text:
            return week.text
        week = await worker.submit(week.action(texts.AGENDA_NEXT_WEEK))
    return week.text


# -- 13. `outbox list` never shows reminders of an appointment that changed ----------------------


async def test_outbox_list_shows_only_the_reminders_still_to_come(world: World, tmp_path, monkeypatch, capsys):
    from bot.cli import main

    agent = world.person("Agent Vanves")
    await book(agent, 0)
    await book(agent, 1)

    async def scheduled_reminders() -> list[str]:
        capsys.readouterr()  # the command line runs its own event loop: in a thread of its own
        assert await asyncio.to_thread(main, ["outbox", "list", "--json"]) == 0
        rows = json.loads(capsys.readouterr().out)
        return sorted(r["due_at"] for r in rows if r["kind"] == "notify.agent" and r["state"] == "scheduled")

    for name, value in pinned_environment(world.clock()).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PERMANENCE_DATA_DIR", str(tmp_path / "var"))
    before = await scheduled_reminders()
    mine = await agent.say("mes rendez-vous")
    starts = [datetime.fromisoformat(r["start"]) for r in await reminder_payloads(world)]
    assert before and len(before) <= 2 * len(set(starts))
    # She moves the first one and cancels the second one.
    moving = await agent.submit(mine.action(texts.MOVE))
    target = moving.actions("pick")[-1]
    await agent.submit((await agent.submit(target)).action(texts.CONFIRM))
    await cancel_first_left(agent)
    (kept,) = await upcoming_appointments(world, agent)
    expected = sorted(
        (kept.start - before_start).astimezone(UTC)
        for _, before_start in world.runtime.app.context.reminders
        if kept.start - before_start > world.clock()
    )
    left = [datetime.fromisoformat(d) for d in await scheduled_reminders()]
    assert left == expected  # none of the cancelled one, none of the earlier time of the moved one


async def reminder_payloads(world: World) -> list[dict[str, str]]:
    from sqlalchemy import select

    from storage.models import OutboxRow

    async with world.store.unit_of_work(read_only=True) as uow:
        rows = (await uow.session.scalars(select(OutboxRow).where(OutboxRow.status == "pending"))).all()
    return [r.payload for r in rows if r.payload.get("what") == "reminder"]


async def upcoming_appointments(world: World, person: Person) -> list[Any]:
    async with world.store.unit_of_work(read_only=True) as uow:
        agent_id = await uow.agents.find(person.object_id)
        return [s.appointment for s in await uow.appointments.upcoming_for_agent(agent_id or "", world.clock())]


async def cancel_first_left(person: Person) -> None:
    """Cancel the appointment listed last in « Mes rendez-vous » (the one not moved, here)."""
    mine = await person.say("mes rendez-vous")
    asked = await person.submit(mine.actions("cancel")[-1])
    await person.submit(asked.action(texts.CANCEL_YES))


# -- 14. `plan show` tells the year as the chat changed it ---------------------------------------


async def test_plan_show_includes_a_day_added_from_the_chat_and_marks_an_absence(
    world: World, tmp_path, monkeypatch, capsys, pinned_now: datetime
):
    from bot.cli import main

    for name, value in pinned_environment(world.clock()).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PERMANENCE_DATA_DIR", str(tmp_path / "var"))
    plan = tmp_path / "plan.toml"  # the plan the service runs with (bookable at the pinned instant)
    plan.write_text(bookable_plan_text(pinned_now), encoding="utf-8")
    monkeypatch.setenv("PERMANENCE_PLAN_FILE", str(plan))
    today = pinned_now.astimezone(texts.PARIS).date()

    async def plan_show(*options: str) -> str:
        capsys.readouterr()
        assert await asyncio.to_thread(main, ["plan", "show", *options]) == 0
        return capsys.readouterr().out

    year = str((today + timedelta(days=21)).year)
    days = json.loads(await plan_show("--year", year, "--json"))["days"]
    thursday = next(
        date.fromisoformat(d["date"])
        for d in days
        if d["kind"] == "permanence" and date.fromisoformat(d["date"]) > today + timedelta(days=14)
    )
    wednesday = thursday - timedelta(days=1)
    assert wednesday.isoformat() not in {d["date"] for d in days}
    social = world.person("Assistante sociale", WORKER_OID)
    form = await social.say("journée")
    added = await social.submit(
        form.action(texts.DAY_SAVE), day=wednesday.isoformat(), kind="extra", start="14:00", end="16:00"
    )
    assert "Journée ajoutée" in added.text
    form = await social.say("absence")
    saved = await social.submit(
        form.action(texts.ABSENCE_SAVE), start=thursday.isoformat(), end=thursday.isoformat(), replacement="remplacante"
    )
    assert "Absence enregistrée" in saved.text
    shown = {d["date"]: d for d in json.loads(await plan_show("--year", year, "--json"))["days"]}
    assert shown[wednesday.isoformat()]["kind"] == "extra" and shown[wednesday.isoformat()]["added"]
    assert shown[thursday.isoformat()]["absent"] and shown[thursday.isoformat()]["replacement"] == "remplacante"
    assert not any(d["absent"] for day, d in shown.items() if day != thursday.isoformat())
    text = await plan_show("--year", year)
    (line,) = [line for line in text.splitlines() if texts.day(thursday) in line]
    replacement = world.deployment.directory.worker("remplacante").name
    assert line.rstrip().endswith(f"permanence — absente, remplacée par {replacement}")
    (line,) = [line for line in text.splitlines() if texts.day(wednesday) in line]
    assert "journée supplémentaire" in line.lower()


# -- 8. French as French writes it ---------------------------------------------------------------


async def test_french_plurals_durations_first_of_the_month_and_worker_forms(world: World, pinned_now: datetime):
    agent = world.person("Agent Vanves")
    await book(agent, 0)
    data = await agent.say("mes données")
    assert "pendant environ 3 ans" in data.text and "1100 jours" not in data.text
    erase = await agent.submit(data.action(texts.ERASE_ACTION))
    assert "1 rendez-vous à venir : annulez-le d'abord" in erase.text
    assert "(s)" not in erase.text and "(s)" not in data.text
    social = world.person("Assistante sociale", WORKER_OID)
    today = pinned_now.astimezone(texts.PARIS).date()
    first = (today.replace(day=1) + timedelta(days=62)).replace(day=1)  # a first of the month ahead
    form = await social.say("absence")
    inputs = [n for n in walk(form.card) if n.get("type") in ("Input.Date", "Input.Time")]
    assert inputs and all(n.get("placeholder") == texts.DATE_PLACEHOLDER == "jj/mm/aaaa" for n in inputs)
    saved = await social.submit(
        form.action(texts.ABSENCE_SAVE), start=first.isoformat(), end=first.isoformat(), replacement="remplacante"
    )
    assert f" 1er {texts.day(first).split(' 1er ')[1]}" in saved.text and " 1 " not in saved.text
    form = await social.say("journée")
    times = [n for n in walk(form.card) if n.get("type") == "Input.Time"]
    assert times and all(n.get("placeholder") == "hh:mm" for n in times)
    (kinds,) = [n for n in walk(form.card) if n.get("id") == "kind"]
    titles = [c["title"] for c in kinds["choices"]]
    assert titles == ["Permanence", "Vendredi retraite", "Journée supplémentaire"]


# -- 6. The review of a move says what moves -----------------------------------------------------


async def test_the_review_of_a_move_shows_the_topic_and_the_time_it_leaves(world: World):
    agent = world.person("Agent Vanves")
    slots = await open_slots_with(agent, topic="logement")
    booked = offered_at(slots.actions("pick")[0])
    await agent.submit((await agent.submit(slots.actions("pick")[0])).action(texts.CONFIRM))
    mine = await agent.say("mes rendez-vous")
    moving = await agent.submit(mine.action(texts.MOVE))
    target = moving.actions("pick")[0]
    review = await agent.submit(target)
    topic = world.deployment.directory.topic("logement").label
    assert texts.SUMMARY_MOVE_TITLE in review.text
    assert f"{texts.SUMMARY_TOPIC}: {topic}" in review.text
    assert f"{texts.SUMMARY_WAS}: {texts.day_and_hour(booked)}" in review.text
    assert f"{texts.SUMMARY_NEW}: {texts.day_and_hour(offered_at(target))}" in review.text
    moved = await agent.submit(review.action(texts.CONFIRM))
    assert texts.MOVED_TITLE in moved.text


async def open_slots_with(person: Person, *, topic: str) -> Reply:
    form = await booking_form(person)
    return await person.submit(form.action(texts.SEE_SLOTS), mode="teams", topic=topic, message="", phone=PHONE)


def offered_at(action: dict[str, str]) -> datetime:
    return datetime.strptime(action["slot"].split("@")[1], "%Y%m%dT%H%MZ").replace(tzinfo=UTC)


# -- 7. Later dates and back; « aide » helps -----------------------------------------------------


async def test_later_dates_and_back_again_and_help_that_helps(world: World):
    agent = world.person("Agent Vanves")
    first = await open_slots(agent)
    first_page = [a["slot"] for a in first.actions("pick")]
    assert first_page and not first.actions("earlier")  # nothing before the first page
    later = await agent.submit(first.action(texts.MORE_DATES))
    later_page = [a["slot"] for a in later.actions("pick")]
    assert later_page and not set(later_page) & set(first_page)
    third = await agent.submit(later.action(texts.MORE_DATES))
    back = await agent.submit(third.action(texts.EARLIER_DATES))
    assert [a["slot"] for a in back.actions("pick")] == later_page
    # From a review, « Choisir un autre créneau » returns to that page, which still goes back.
    review = await agent.submit(back.actions("pick")[0])
    again = await agent.submit(review.action(texts.OTHER_SLOT))
    assert [a["slot"] for a in again.actions("pick")] == later_page
    start = await agent.submit(again.action(texts.EARLIER_DATES))
    assert [a["slot"] for a in start.actions("pick")] == first_page and not start.actions("earlier")
    # « aide » explains each command; « bonjour » greets.
    helped = await agent.say("aide")
    assert texts.HELP_TITLE in helped.text and texts.WELCOME_TITLE not in helped.text
    for command, what in texts.HELP_AGENT:
        assert f"« {command} »: {what}" in helped.text
    assert helped.actions("book") and helped.actions("urgent")
    assert texts.HELP_WORKER_INTRO not in helped.text
    social = world.person("Assistante sociale", WORKER_OID)
    assert texts.HELP_WORKER_INTRO in (await social.say("aide")).text


# -- 15. `audit show` times carry their offset ---------------------------------------------------


async def test_audit_show_gives_each_time_with_its_offset(world: World, tmp_path, monkeypatch, capsys):
    import re

    from bot.cli import main

    agent = world.person("Agent Vanves")
    await book(agent, 0)
    for name, value in pinned_environment(world.clock()).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PERMANENCE_DATA_DIR", str(tmp_path / "var"))
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["audit", "show"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "appointment.book" in line]
    assert lines
    stamp = re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d\b")
    assert all(stamp.search(line) for line in lines), lines
