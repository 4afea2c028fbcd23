"""Every agent and worker journey through the real bot, store and outbox (TestAdapter)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text

from booking.model import AppointmentStatus
from bot import texts
from storage.models import AppointmentRow
from tests.bot.conftest import MEETING_URL, REPLACEMENT_OID, WORKER_OID, Person, Reply, World, said, walk

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


async def test_welcome_on_install_states_the_confidentiality_promise_once(world):
    agent = world.person("Agent Vanves")
    reply = await agent.install()
    assert texts.WELCOME_TITLE in reply.text and "secret professionnel" in reply.text
    assert {a["action"] for a in reply.actions("book") + reply.actions("mine") + reply.actions("urgent")} == {
        "book",
        "mine",
        "urgent",
    }
    assert (await agent.install()).activities == []


async def test_commands_are_case_and_accent_insensitive(world):
    agent = world.person("Agent")
    for typed in ("Rendez-vous", "RENDEZ VOUS", "rendez-vous svp", "rdv"):
        assert texts.SITE_TITLE in (await agent.say(typed)).text
    assert texts.MINE_TITLE in (await agent.say("Mes rendez-vous")).text
    assert texts.URGENT_DANGER in (await agent.say("URGENCE")).text
    assert texts.HELP_TITLE in (await agent.say("aide")).text
    assert texts.WELCOME_TITLE in (await agent.say("Bonjour")).text
    assert texts.NOT_UNDERSTOOD in (await agent.say("quelle heure est-il ?")).text


async def test_vanves_agent_books_a_teams_appointment(world):
    agent = world.person("Agent Vanves")
    reply = await agent.say("rendez-vous")
    picker = reply.card
    assert "Vanves (92)" in str(picker)
    form = await agent.submit(reply.action(texts.CONTINUE), site="vanves")
    assert form.choices("mode") == ["teams", "phone", "other_site", "home_visit"]  # no bureau 16 for Vanves
    slots = await agent.submit(form.action(texts.SEE_SLOTS), mode="teams", topic="logement", message="Loyer", phone="")
    assert "Jeudi 4 mars" in slots.text  # French day labels, grouped
    assert [a["slot"] for a in slots.actions("pick")][:2] == ["ass@20270304T0800Z", "ass@20270304T0900Z"]
    summary = await agent.submit(slots.actions("pick")[0])
    assert "jeudi 4 mars 2027 à 9 h" in summary.text and "Logement" in summary.text
    done = await agent.submit(summary.action(texts.CONFIRM))
    assert texts.CONFIRMED_TITLE in done.text
    assert any(n.get("url") == MEETING_URL for n in walk(done.card))
    assert agent.adapter.updated_activities, "the confirmation replaces the summary card"
    assert await appointments(world) == [("confirmed", "2027-03-04 08:00:00")]
    async with world.store.unit_of_work() as uow:
        ((_kind, status, _),) = [
            s
            for s in await uow.outbox.statuses(
                (await uow.session.execute(text("SELECT id FROM appointments"))).scalar_one()
            )
            if s[0] == "calendar.create"
        ]
    assert status == "done"
    # The site is remembered: next time the form comes straight away.
    assert texts.FORM_TITLE in (await agent.say("rendez-vous")).text


async def test_head_office_agent_books_in_person_moves_then_cancels(world):
    agent = world.person("Agent Siège")
    done = await book(agent, "chasseneuil", mode="in_person")
    assert "bureau n° 16" in done.text
    mine = await agent.say("mes rendez-vous")
    assert "jeudi 4 mars 2027 à 9 h" in mine.text
    slots = await agent.submit(mine.action(texts.MOVE))
    assert "ass@20270304T0800Z" not in [a["slot"] for a in slots.actions("pick")]  # her own slot
    summary = await agent.submit(slots.actions("pick")[1])
    moved = await agent.submit(summary.action(texts.CONFIRM))
    assert texts.MOVED_TITLE in moved.text and "11 h" in moved.text
    assert await appointments(world) == [("confirmed", "2027-03-04 10:00:00")]
    other = world.person("Autre agent")
    await book(other, "vanves")  # the released 9:00 slot is bookable again
    mine = await agent.say("mes rendez-vous")
    ask = await agent.submit(mine.action(texts.CANCEL))
    assert texts.CANCEL_CONFIRM_TITLE in ask.text
    cancelled = await agent.submit(ask.action(texts.CANCEL_YES))
    assert "est annulé" in cancelled.text
    assert await appointments(world) == [("confirmed", "2027-03-04 08:00:00"), ("cancelled", "2027-03-04 10:00:00")]
    assert texts.MINE_EMPTY in (await agent.say("mes rendez-vous")).text


async def test_retirement_questions_get_only_retirement_fridays(world):
    agent = world.person("Agent Rouen")
    slots = await open_slots(agent, "rouen", topic="retraite")
    days = {datetime.strptime(a["slot"].split("@")[1], "%Y%m%dT%H%MZ").weekday() for a in slots.actions("pick")}
    assert days == {4} and "Vendredi 5 mars" in slots.text


async def test_in_person_is_refused_to_other_sites_and_phone_mode_needs_a_number(world):
    agent = world.person("Agent Lyon")
    reply = await agent.say("rendez-vous")
    form = await agent.submit(reply.action(texts.CONTINUE), site="lyon")
    refused = await agent.submit(form.action(texts.SEE_SLOTS), mode="in_person", topic="", message="", phone="")
    assert texts.MODE_LABEL in refused.text
    refused = await agent.submit(form.action(texts.SEE_SLOTS), mode="phone", topic="", message="", phone="")
    assert texts.PHONE_LABEL in refused.text
    refused = await agent.submit(form.action(texts.SEE_SLOTS), mode="teams", topic="inconnu", message="", phone="")
    assert texts.TOPIC_LABEL in refused.text
    assert await appointments(world) == []


async def test_forged_and_replayed_cards_change_nothing(world):
    agent = world.person("Agent")
    slots = await open_slots(agent, "vanves")
    pick = slots.actions("pick")[0]
    forged = await agent.submit({**pick, "slot": "ass@20270304T0830Z"})  # never offered
    assert texts.REFUSALS["slot_not_offered"] in forged.text
    assert texts.STALE_CARD in (await agent.submit({**pick, "form": "made-up"})).text
    assert texts.NOT_UNDERSTOOD in (await agent.submit("not a dict")).text
    assert texts.NOT_UNDERSTOOD in (await agent.submit({"action": "launch_missiles", "form": pick["form"]})).text
    assert texts.NOT_ALLOWED in (await agent.submit({"action": "agenda", "period": "week"})).text
    summary = await agent.submit(pick)
    confirm = summary.action(texts.CONFIRM)
    assert texts.CONFIRMED_TITLE in (await agent.submit(confirm)).text
    replayed = (await agent.submit(confirm)).text  # replay: what was done, not done again
    assert texts.DONE_BOOKED.format(date="jeudi 4 mars 2027 à 9 h") in replayed
    assert len(await appointments(world)) == 1
    # Someone else replays the first agent's card data, or names her appointment.
    intruder = world.person("Intrus")
    assert texts.STALE_CARD in (await intruder.submit(confirm)).text
    mine = await agent.say("mes rendez-vous")
    cancel = mine.action(texts.CANCEL)
    assert texts.STALE_CARD in (await intruder.submit(cancel)).text
    own = await intruder.say("mes rendez-vous")
    stolen = {
        **own.action(texts.ACTION_BOOK),
        "action": "cancel",
        "form": own.actions("book")[0].get("form", ""),
        "appointment": cancel["appointment"],
    }
    assert texts.STALE_CARD in (await intruder.submit(stolen)).text
    assert await appointments(world) == [("confirmed", "2027-03-04 08:00:00")]


async def test_a_taken_slot_offers_the_nearest_alternatives(world):
    first, second = world.person("Première"), world.person("Seconde")
    slots_a = await open_slots(first, "vanves")
    slots_b = await open_slots(second, "lille")
    summary_a = await first.submit(slots_a.actions("pick")[0])
    summary_b = await second.submit(slots_b.actions("pick")[0])
    assert texts.CONFIRMED_TITLE in (await first.submit(summary_a.action(texts.CONFIRM))).text
    lost = await second.submit(summary_b.action(texts.CONFIRM))
    assert texts.REFUSALS["slot_taken"] in lost.text
    alternatives = [a["slot"] for a in lost.actions("pick")]
    assert alternatives and "ass@20270304T0800Z" not in alternatives
    won = await second.submit((await second.submit(lost.actions("pick")[0])).action(texts.CONFIRM))
    assert texts.CONFIRMED_TITLE in won.text


async def test_an_agent_holds_at_most_two_upcoming_appointments(world):
    agent = world.person("Agent")
    await book(agent, "vanves", index=0)
    await book(agent, "vanves", index=1)
    refused = await agent.say("rendez-vous")  # told at once, before she chooses anything
    assert texts.LIMIT_TITLE in refused.text and texts.FORM_TITLE not in refused.text
    assert len(await appointments(world)) == 2


async def test_reminders_come_the_day_before_and_an_hour_before(world):
    agent = world.person("Agent")
    await book(agent, "vanves")  # Thursday 4 March, 9:00 Paris
    world.clock.now = datetime(2027, 3, 3, 8, 0, tzinfo=UTC)
    sent = await world.deliver()
    assert [said(a) for a in sent] == [texts.REMINDER_DAY.format(date="jeudi 4 mars 2027 à 9 h")]
    assert sent[0].conversation.id == agent.conversation_id
    world.clock.now = datetime(2027, 3, 4, 7, 0, tzinfo=UTC)
    assert [said(a) for a in await world.deliver()] == [texts.REMINDER_HOUR.format(time="9 h")]
    assert await world.deliver() == []


async def test_a_moved_appointment_is_reminded_at_its_new_time_only(world):
    agent = world.person("Agent")
    await book(agent, "vanves")
    mine = await agent.say("mes rendez-vous")
    slots = await agent.submit(mine.action(texts.MOVE))
    assert slots.actions("pick")[5]["slot"] == "ass@20270311T0800Z"
    await agent.submit((await agent.submit(slots.actions("pick")[5])).action(texts.CONFIRM))
    world.clock.now = datetime(2027, 3, 3, 8, 0, tzinfo=UTC)
    assert await world.deliver() == []
    world.clock.now = datetime(2027, 3, 10, 8, 0, tzinfo=UTC)
    assert [said(a) for a in await world.deliver()] == [texts.REMINDER_DAY.format(date="jeudi 11 mars 2027 à 9 h")]


async def worker(world: World) -> Person:
    return world.person("Assistante sociale", WORKER_OID)


async def test_the_worker_sees_who_and_why_and_each_read_is_audited(world):
    agent = world.person("Camille Martin")
    await book(agent, "grenoble", topic="budget", message="Dettes de loyer")
    social = await worker(world)
    world.clock.now = datetime(2027, 3, 4, 7, 0, tzinfo=UTC)
    agenda = await social.say("agenda")
    assert "Camille Martin" in agenda.text and "Budget" in agenda.text and "Dettes de loyer" in agenda.text
    assert "Grenoble" in agenda.text and PHONE in agenda.text
    async with world.store.unit_of_work() as uow:
        assert [(e[1], e[2]) for e in await uow.audit.entries() if e[2] == "appointment.read"] == [
            ("worker:ass", "appointment.read")
        ]
    # Another agent, or the agent herself, cannot open the worker's views.
    assert texts.NOT_UNDERSTOOD in (await agent.say("agenda")).text
    assert texts.NOT_ALLOWED in (await world.person("Curieux").submit({"action": "agenda", "period": "day"})).text
    # The replacement does not see it while the worker is present.
    replacement = world.person("Remplaçante", REPLACEMENT_OID)
    assert texts.AGENDA_EMPTY in (await replacement.say("agenda")).text


async def test_absence_message_post_return_slots_and_urgent_routing_to_the_replacement(world):
    social = await worker(world)
    form = await social.say("absence")
    saved = await social.submit(
        form.action(texts.ABSENCE_SAVE), start="2027-03-01", end="2027-03-07", replacement="remplacante"
    )
    assert "Absence enregistrée" in saved.text
    agent = world.person("Agent Toulouse")
    slots = await open_slots(agent, "toulouse")
    assert "absente jusqu'au lundi 8 mars 2027" in slots.text
    assert "01 99 00 99 99" in slots.text  # the minimum information service
    first = min(a["slot"].split("@")[1] for a in slots.actions("pick"))
    assert first >= "20270311"  # first slots after her return (Thursday 11 March)
    urgent = await agent.say("urgence")
    texts_in_order = urgent.text
    assert texts_in_order.index("15") < texts_in_order.index(texts.URGENT_INTRO)
    assert all(n in urgent.text for n in ("15", "17", "112", "3114"))
    missing = await agent.submit(
        urgent.action(texts.URGENT_SEND), description="Expulsion demain", phone="", availability=""
    )
    assert texts.URGENT_PHONE_REQUIRED in missing.text
    replacement = world.person("Remplaçante", REPLACEMENT_OID)
    await replacement.say("aide")  # she talked to the bot once: Teams can reach her
    ack = await agent.submit(
        urgent.action(texts.URGENT_SEND), description="Expulsion demain", phone=PHONE, availability="le matin"
    )
    assert "nous prévenons sa remplaçante" in ack.text and "lundi 1er mars 2027 à 13 h" in ack.text
    assert all(n in ack.text for n in ("15", "17", "112", "3114"))  # still on screen after sending
    reference = ack.text.split("Référence : ")[1].rstrip(".")
    sent = await world.deliver()
    assert [a.conversation.id for a in sent] == [replacement.conversation_id, agent.conversation_id]
    assert reference in Reply(sent[:1]).text
    told = Reply(sent[1:]).text
    assert "transmise à sa remplaçante" in told and all(n in told for n in ("15", "17", "112", "3114"))
    listing = await replacement.say("urgences")
    assert "Expulsion demain" in listing.text and "Agent Toulouse" in listing.text
    taken = await replacement.submit(listing.action(texts.TAKE_IT))
    assert texts.TAKEN in taken.text
    assert texts.ALREADY_DONE in (await replacement.submit(listing.action(texts.TAKE_IT))).text
    notified = await world.deliver()
    assert [a.conversation.id for a in notified] == [agent.conversation_id]
    assert texts.URGENT_TAKEN.format(who=texts.URGENT_TAKER_REPLACEMENT, reference=reference) in Reply(notified).text


async def test_unacknowledged_urgent_requests_escalate(world):
    agent = world.person("Agent")
    await agent.say("aide")
    social = await worker(world)
    await social.say("aide")  # reachable on Teams: the request waits for her until the deadline
    urgent = await agent.say("urgence")
    await agent.submit(urgent.action(texts.URGENT_SEND), description="", phone=PHONE, availability="")
    assert "URG-" in (await social.say("urgences")).text
    world.clock.advance(timedelta(hours=5))
    assert await world.app.urgent.escalate_due(world.clock()) == 1
    async with world.store.unit_of_work() as uow:
        (request,) = await uow.urgent.open_requests()
    assert request.handler_id == "remplacante"


async def test_requests_for_a_home_visit_await_the_worker(world):
    agent = world.person("Agent Lille")
    done = await book(agent, "lille", mode="home_visit")
    assert texts.REQUESTED_TITLE in done.text
    social = await worker(world)
    await social.say("aide")
    requests = await social.say("demandes")
    assert "Agent Lille" in requests.text
    assert texts.DECIDED_ACCEPTED in (await social.submit(requests.action(texts.ACCEPT))).text
    sent = await world.deliver()
    assert texts.REQUEST_ACCEPTED.format(date="jeudi 4 mars 2027 à 9 h") in [said(a) for a in sent]
    assert await appointments(world) == [(AppointmentStatus.CONFIRMED.value, "2027-03-04 08:00:00")]


async def test_the_worker_blocks_time_and_adds_a_day_in_the_local_calendar(world):
    social = await worker(world)
    form = await social.say("bloquer")
    await social.submit(form.action(texts.BLOCK_SAVE), day="2027-03-04", start="08:00", end="12:00")
    agent = world.person("Agent")
    slots = await open_slots(agent, "vanves")
    thursday = [a["slot"] for a in slots.actions("pick") if "20270304" in a["slot"]]
    assert thursday == ["ass@20270304T1230Z", "ass@20270304T1330Z", "ass@20270304T1430Z"]
    form = await social.say("journée")
    await social.submit(form.action(texts.DAY_SAVE), day="2027-03-03", kind="extra", start="14:00", end="16:00")
    slots = await open_slots(agent, "vanves")
    assert "Mercredi 3 mars" in slots.text
    form = await social.say("journée")
    bad = await social.submit(form.action(texts.DAY_SAVE), day="2027-13-03", kind="extra", start="14:00", end="16:00")
    assert texts.BAD_INPUT.split(":")[0] in bad.text


async def test_no_confidential_text_reaches_the_logs(world, caplog):
    caplog.set_level("DEBUG")
    agent = world.person("Dominique Secret")
    await book(agent, "vanves", topic="sante", message="SENTINEL-medical-detail")
    urgent = await agent.say("urgence")
    await agent.submit(urgent.action(texts.URGENT_SEND), description="SENTINEL-urgent", phone=PHONE, availability="")
    await world.deliver()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in ("Dominique Secret", "SENTINEL-medical-detail", "SENTINEL-urgent", PHONE):
        assert secret not in logged


async def test_a_change_made_in_outlook_is_announced_with_choices(world):
    from booking.model import Interval
    from graph.provider import CalendarChange, ChangeKind, SyncResult

    agent = world.person("Agent")
    await book(agent, "vanves")
    async with world.store.unit_of_work(read_only=True) as uow:
        (stored,) = await uow.appointments.upcoming_for_agent(
            (await uow.agents.find(agent.object_id)) or "", world.clock()
        )
    new = Interval(start=datetime(2027, 3, 11, 13, tzinfo=UTC), end=datetime(2027, 3, 11, 13, 45, tzinfo=UTC))
    change = CalendarChange(kind=ChangeKind.UPSERT, event_id=stored.outlook_event_id or "", interval=new, busy=True)
    assert (await world.app.outlook.apply("ass", SyncResult(changes=(change,)), world.clock()))["moved"] == 1
    (sent,) = await world.deliver()
    card = sent.attachments[0].content
    assert "jeudi 11 mars 2027 à 14 h" in json.dumps(card, ensure_ascii=False)
    titles = [n["title"] for n in walk(card) if n.get("type") == "Action.Submit"]
    assert titles == [texts.ACCEPT_NEW, texts.PICK_ANOTHER, texts.CANCEL]
    reply = await agent.submit({"action": "accept_change"})
    assert texts.CHANGE_ACCEPTED in reply.text
    assert texts.MINE_TITLE in (await agent.submit({"action": "mine"})).text


async def test_a_site_chosen_once_is_remembered_even_without_a_booking(world):
    agent = world.person("Agent")
    picker = await agent.say("rendez-vous")
    assert texts.SITE_TITLE in picker.text
    form = await agent.submit(picker.action(texts.CONTINUE), site="lille")
    assert texts.FORM_TITLE in form.text and "Site : Lille" in form.text
    again = await agent.say("rendez-vous")  # she leaves the form and comes back: no second question
    assert texts.SITE_TITLE not in again.text
    assert texts.FORM_TITLE in again.text and "Site : Lille" in again.text
