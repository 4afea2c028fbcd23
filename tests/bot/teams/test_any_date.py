"""The agent's and the worker's journeys at the pinned instant (`--now`): what they read must hold
on any day of any year. Expectations come from the plan and from what the bot offers, never from
what a date is assumed to offer; `pytest --now=matrix` runs them under every date of
`tests/dates.py`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from booking.holidays import FrenchHolidays
from booking.plan import expand_plan
from bot import texts
from tests.bot.conftest import WORKER_OID, Person, Reply, World, make_world
from tests.dates import plan_opening_days, sample_plan_text

PHONE = "06 12 34 56 78"


@pytest.fixture
def world(pinned_world: World) -> World:
    return pinned_world


async def open_slots(person: Person, site: str, topic: str = "") -> Reply:
    reply = await person.say("rendez-vous")
    if texts.SITE_TITLE in reply.text:
        reply = await person.submit(reply.action(texts.CONTINUE), site=site)
    return await person.submit(reply.action(texts.SEE_SLOTS), mode="teams", topic=topic, message="", phone=PHONE)


def offered(reply: Reply) -> list[datetime]:
    return [
        datetime.strptime(a["slot"].split("@")[1], "%Y%m%dT%H%MZ").replace(tzinfo=UTC) for a in reply.actions("pick")
    ]


def plan_days(world: World, now: datetime) -> dict[object, str]:
    """The plan's open days (date -> kind) from `now` to the end of the horizon."""
    plan = world.deployment.plans["ass"]
    start = now.astimezone(texts.PARIS).date()
    calendar = expand_plan(
        plan, start, (now + plan.horizon).date() + timedelta(days=1), FrenchHolidays(world.deployment.subdivision)
    )
    return {d.date: d.kind.value for d in calendar.days}


async def test_every_slot_offered_is_on_an_open_day_after_the_notice(world: World, pinned_now: datetime):
    plan = world.deployment.plans["ass"]
    days = plan_days(world, pinned_now)
    holidays = FrenchHolidays(world.deployment.subdivision)
    for topic in ("", "retraite"):
        agent = world.person(f"Agent {topic or 'sans sujet'}")
        slots = offered(await open_slots(agent, "vanves", topic))
        assert slots, "the plan opens days from this instant: the first offer is not empty"
        assert slots == sorted(slots)
        for start in slots:
            local = start.astimezone(texts.PARIS)
            assert start >= pinned_now + plan.min_notice
            assert start <= pinned_now + plan.horizon
            assert local.date() in days and holidays.name(local.date()) is None
            assert days[local.date()] == ("retirement" if topic else "permanence")
            assert 9 <= local.hour < 17  # local hours, whatever the offset of that day


async def test_book_move_and_cancel_on_any_date(world: World, pinned_now: datetime):
    agent = world.person("Agent Vanves")
    slots = await open_slots(agent, "vanves")
    picks = slots.actions("pick")
    first = offered(slots)[0]
    summary = await agent.submit(picks[0])
    assert texts.day_and_hour(first) in summary.text
    done = await agent.submit(summary.action(texts.CONFIRM))
    assert texts.CONFIRMED_TITLE in done.text

    mine = await agent.say("mes rendez-vous")
    assert texts.day_and_hour(first) in mine.text
    moving = await agent.submit(mine.action(texts.MOVE))
    other = [s for s in offered(moving) if s != first]
    assert other and first not in offered(moving)  # her own slot is not offered again
    target = next(a for a in moving.actions("pick") if offered_at(a) == other[0])
    review = await agent.submit(target)
    moved = await agent.submit(review.action(texts.CONFIRM))
    assert texts.MOVED_TITLE in moved.text and texts.day_and_hour(other[0]) in moved.text

    mine = await agent.say("mes rendez-vous")
    asked = await agent.submit(mine.action(texts.CANCEL))
    cancelled = await agent.submit(asked.action(texts.CANCEL_YES))
    assert texts.CANCELLED.format(date=texts.day_and_hour(other[0])) in cancelled.text
    assert texts.MINE_EMPTY in (await agent.say("mes rendez-vous")).text


def offered_at(action: dict[str, str]) -> datetime:
    return datetime.strptime(action["slot"].split("@")[1], "%Y%m%dT%H%MZ").replace(tzinfo=UTC)


async def test_an_urgent_request_gets_a_deadline_in_working_hours_of_a_working_day(world: World, pinned_now: datetime):
    worker = world.person("Assistante sociale", WORKER_OID)
    await worker.say("aide")  # her chat is known: Teams can reach her
    agent = world.person("Agent Lyon")
    form = await agent.say("urgence")
    filed = await agent.submit(
        form.action(texts.URGENT_SEND), description="Expulsion demain", phone=PHONE, availability=""
    )
    assert "Référence" in filed.text
    async with world.store.unit_of_work(read_only=True) as uow:
        (request,) = await uow.urgent.open_requests()
    deadline = request.route[request.step][1]
    assert deadline is not None and deadline > pinned_now
    local = deadline.astimezone(texts.PARIS)
    assert local.weekday() < 5 and FrenchHolidays(world.deployment.subdivision).name(local.date()) is None
    assert (9, 0) <= (local.hour, local.minute) <= (17, 0)
    assert texts.day_and_hour(deadline) in filed.text


async def test_the_worker_finds_an_appointment_in_its_calendar_week(world: World, pinned_now: datetime):
    agent = world.person("Alix Grenoble")
    slots = await open_slots(agent, "grenoble")
    first = offered(slots)[0]
    summary = await agent.submit(slots.actions("pick")[0])
    await agent.submit(summary.action(texts.CONFIRM))

    worker = world.person("Assistante sociale", WORKER_OID)
    week = await worker.say("semaine")
    today = pinned_now.astimezone(texts.PARIS).date()
    monday = today - timedelta(days=today.weekday())
    assert texts.AGENDA_WEEK.format(monday=texts.day(monday, year=False), sunday=texts.day(monday + timedelta(6))) in (
        week.text
    )
    day = first.astimezone(texts.PARIS).date()
    for _ in range((day - timedelta(days=day.weekday()) - monday).days // 7):
        assert "Alix Grenoble" not in week.text
        week = await worker.submit(week.action(texts.AGENDA_NEXT_WEEK))
    assert "Alix Grenoble" in week.text
    back = await worker.submit(week.action(texts.AGENDA_PREVIOUS_WEEK))
    assert texts.AGENDA_TITLE.split(" ·")[0] in back.text
    forged = await worker.submit({"action": "agenda_week", "start": "2027-02-30"})
    assert texts.BAD_INPUT.format(what="la semaine demandée") in forged.text


async def test_when_next_year_is_not_planned_the_agent_is_told_whom_to_call(tmp_path):
    """The last Thursday of the sample plan's last year: nothing is open within the horizon."""
    now = datetime(2028, 12, 28, 14, 0, tzinfo=UTC)
    assert not plan_opening_days(sample_plan_text(), now)
    world = await make_world(tmp_path / "var", now=now)
    try:
        agent = world.person("Agent Rennes")
        slots = await open_slots(agent, "rennes")
        assert slots.actions("pick") == []
        assert texts.SLOTS_NONE_OPEN in slots.text
        assert "01 99 00 99 99" in slots.text and texts.URGENT_PATH in slots.text
        assert slots.actions("urgent"), "the urgent path is offered at once"
        assert not slots.actions("more")
        # Urgent requests never depend on the plan's days.
        form = await agent.submit(slots.actions("urgent")[0])
        assert texts.URGENT_DANGER in form.text
    finally:
        await world.runtime.close()
