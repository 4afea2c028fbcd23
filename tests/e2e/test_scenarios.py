"""The six end-to-end scenarios, as a person would do them in the Agents Playground."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlalchemy import select

from storage.models import AppointmentRow
from tests.e2e.conftest import MEETING_URL, METRICS_TOKEN, PARIS, REPLACEMENT, WORKER, Chat, Stage


async def active_appointments(stage: Stage) -> list[tuple[str, str, str]]:
    store = stage.store()
    try:
        async with store.unit_of_work(read_only=True) as uow:
            rows = (
                await uow.session.execute(
                    select(AppointmentRow.status, AppointmentRow.mode, AppointmentRow.start_at).order_by(
                        AppointmentRow.start_at
                    )
                )
            ).all()
    finally:
        await store.dispose()
    return [(status, mode, start.isoformat()) for status, mode, start in rows]


async def open_form(chat: Chat, site_label: str | None) -> None:
    await chat.say("rendez-vous")
    if site_label is not None:
        await chat.see("Sur quel site travaillez-vous ?")
        await chat.choose(site_label)
        await chat.click("Continuer")
    await chat.see("Votre demande de rendez-vous")


async def test_1_vanves_agent_books_a_teams_video_appointment(stage: Stage):
    agent = await stage.open_chat("Camille Vanves", "00000000-0000-0000-0000-0000000000c1")
    await agent.see("Bienvenue sur la permanence")  # the welcome on install
    await agent.see("seule l'assistante sociale")
    await open_form(agent, "Vanves (92)")
    await agent.choose("En visio Teams")
    await agent.click("Voir les créneaux")
    await agent.see("Choisissez un créneau")
    days = await agent.day_labels()
    assert days[0].startswith("Jeudi")  # the next permanence Thursday (no retirement Friday for this topic)
    await agent.click((await agent.wait_slots())[0], nth=0)
    await agent.see("Vérifiez votre rendez-vous")
    await agent.click("Confirmer")
    await agent.see("C'est réservé")
    link = agent.card().get_by_text("Rejoindre la réunion Teams")
    await link.wait_for()
    assert MEETING_URL in await agent.card().inner_html()  # the Teams link itself
    assert await agent.page.get_by_text("Bienvenue sur la permanence").count() == 1  # welcomed once
    await agent.screenshot("confirmation")
    ((status, mode, _),) = await active_appointments(stage)
    assert (status, mode) == ("confirmed", "teams")


async def test_2_head_office_agent_books_in_person_reschedules_and_cancels(stage: Stage):
    agent = await stage.open_chat("Dominique Siège", "00000000-0000-0000-0000-0000000000c2")
    await open_form(agent, "Poitiers / Chasseneuil")
    await agent.choose("En présentiel au bureau 16")
    await agent.click("Voir les créneaux")
    await agent.see("Choisissez un créneau")
    first_slots = await agent.wait_slots()
    await agent.click(first_slots[0], nth=0)
    await agent.see("bureau n° 16")
    await agent.click("Confirmer")
    await agent.see("C'est réservé")
    ((_, mode, booked),) = await active_appointments(stage)
    assert mode == "in_person"

    await agent.say("mes rendez-vous")
    await agent.see("Vos prochains rendez-vous")
    await agent.click("Déplacer")
    await agent.see("Déplacer :")
    await agent.click((await agent.wait_slots())[1], nth=0)
    await agent.see("Vérifiez le déplacement de votre rendez-vous")
    await agent.click("Confirmer")
    await agent.see("Rendez-vous déplacé")
    ((status, _, moved),) = await active_appointments(stage)
    assert status == "confirmed" and moved != booked

    await agent.say("mes rendez-vous")
    await agent.see("Vos prochains rendez-vous")
    await agent.click("Annuler")
    await agent.see("Annuler ce rendez-vous ?")
    await agent.click("Oui, annuler")
    await agent.see("est annulé")
    assert [row[0] for row in await active_appointments(stage)] == ["cancelled"]
    await open_form(agent, None)  # the site is remembered
    await agent.choose("En présentiel au bureau 16")
    await agent.click("Voir les créneaux")
    await agent.see("Choisissez un créneau")
    assert await agent.wait_slots() == first_slots  # every slot is free again


async def test_3_retirement_questions_get_only_retirement_fridays(stage: Stage):
    agent = await stage.open_chat("Claude Rouen", "00000000-0000-0000-0000-0000000000c3")
    await open_form(agent, "Rouen (76)")
    await agent.pick_in_combobox("Choisissez un sujet", "Dossier de retraite")
    await agent.click("Voir les créneaux")
    await agent.see("Choisissez un créneau")
    days = await agent.day_labels()
    assert days and all(day.startswith("Vendredi") for day in days)


async def test_4_absence_urgent_request_reaches_the_replacement(stage: Stage):

    worker = await stage.open_chat(WORKER["name"], WORKER["oid"])
    await worker.see("Espace assistante sociale")
    await worker.say("absence")
    await worker.see("Premier jour d'absence")
    today = stage.today
    back = today + timedelta(days=9)
    await worker.pick_date(0, today)
    await worker.pick_date(1, back - timedelta(days=1))
    await worker.click("Enregistrer l'absence")
    await worker.see("Absence enregistrée")

    agent = await stage.open_chat("Sacha Toulouse", "00000000-0000-0000-0000-0000000000c4")
    await open_form(agent, "Toulouse (31)")
    await agent.click("Voir les créneaux")
    await agent.see("absente jusqu'au")
    await agent.see("01 99 00 99 99")  # the minimum information service
    await agent.screenshot("absence-notice")

    await agent.say("urgence")
    await agent.see("En cas de danger immédiat")
    for number in ("15", "17", "112", "3114"):
        await agent.card().get_by_text(number, exact=True).first.wait_for()
    replacement = await stage.open_chat(REPLACEMENT["name"], REPLACEMENT["oid"])  # Teams can reach her
    await replacement.see("Espace assistante sociale")
    await agent.fill("Votre situation", "Menace d'expulsion")
    await agent.fill("Téléphone pour vous rappeler", "06 12 34 56 78")
    await agent.click("Être rappelé(e)")
    await agent.see("nous prévenons sa remplaçante")
    await agent.see("transmise à sa remplaçante", within_ms=20_000)  # once she was reached
    await replacement.see("Nouvelle demande urgente", within_ms=20_000)
    await replacement.say("urgences")
    await replacement.see("Menace d'expulsion")
    await replacement.see("Sacha Toulouse")
    await replacement.click("Je m'en occupe")
    await replacement.see("C'est noté")
    await agent.see("a pris en charge votre demande urgente", within_ms=20_000)  # proactive message


async def test_4b_an_urgent_request_reaches_the_worker_who_takes_it(stage: Stage):
    import time

    worker = await stage.open_chat(WORKER["name"], WORKER["oid"])
    await worker.see("Espace assistante sociale")  # her chat is open: Teams can reach her
    agent = await stage.open_chat("Lou Rennes", "00000000-0000-0000-0000-0000000000c9")
    await agent.say("urgence")
    await agent.see("En cas de danger immédiat")
    await agent.fill("Votre situation", "Violences au domicile")
    await agent.fill("Téléphone pour vous rappeler", "06 12 34 56 78")
    sent_at = time.monotonic()
    await agent.click("Être rappelé(e)")
    await worker.see("Nouvelle demande urgente", within_ms=30_000)
    delay = time.monotonic() - sent_at
    print(f"\nurgent request: « Envoyer » to the worker's notification in {delay:.2f} s")
    await agent.see("nous prévenons l'assistante sociale du travail")
    await agent.see("transmise à l'assistante sociale du travail", within_ms=20_000)
    for number in ("15", "17", "112", "3114"):  # still on screen once sent
        await agent.card().get_by_text(number, exact=True).first.wait_for()
    await worker.screenshot("urgent-notice")
    await worker.click("Urgences en cours")
    await worker.see("Violences au domicile")
    await worker.see("Lou Rennes")
    await worker.click("Je m'en occupe")
    await worker.see("C'est noté")
    await agent.see("L'assistante sociale du travail a pris en charge votre demande urgente", within_ms=20_000)
    await agent.screenshot("urgent-taken")


async def test_4c_nobody_reachable_the_agent_gets_the_hotline_at_once(stage: Stage):
    import time

    agent = await stage.open_chat("Yaël Lyon", "00000000-0000-0000-0000-0000000000ca")  # no worker ever opened the bot
    await agent.say("urgence")
    await agent.see("En cas de danger immédiat")
    await agent.fill("Téléphone pour vous rappeler", "06 12 34 56 78")
    sent_at = time.monotonic()
    await agent.click("Être rappelé(e)")
    # One answer, at once: never « nous prévenons l'assistante sociale » first.
    await agent.see("Aucune assistante sociale n'est joignable pour le moment", within_ms=30_000)
    print(f"\nnobody reachable: « Envoyer » to the hotline message in {time.monotonic() - sent_at:.2f} s")
    await agent.see("01 99 00 99 99")
    await agent.screenshot("urgent-hotline")


async def test_5_the_worker_sees_who_and_why_and_nobody_else_does(stage: Stage):
    agent = await stage.open_chat("Alix Grenoble", "00000000-0000-0000-0000-0000000000c5")
    await open_form(agent, "Grenoble (38)")
    await agent.pick_in_combobox("Choisissez un sujet", "Budget, difficultés financières")
    await agent.fill("Un mot pour l'assistante sociale", "Loyer impayé depuis deux mois")
    await agent.click("Voir les créneaux")
    await agent.see("Choisissez un créneau")
    await agent.click((await agent.wait_slots())[0], nth=0)
    await agent.click("Confirmer")
    await agent.see("C'est réservé")

    ((_, _, booked),) = await active_appointments(stage)
    worker = await stage.open_chat(WORKER["name"], WORKER["oid"])
    await worker.say("semaine")
    await worker.see("Agenda · semaine du")
    # Her calendar week, then the following ones up to the week of the appointment.
    day = datetime.fromisoformat(booked).astimezone(PARIS).date()
    weeks = ((day - timedelta(days=day.weekday())) - (stage.today - timedelta(days=stage.today.weekday()))).days // 7
    for _ in range(weeks):
        await worker.click("Semaine suivante ▶")
    await worker.see("Alix Grenoble")
    await worker.see("Budget, difficultés financières")
    await worker.see("Loyer impayé depuis deux mois")

    other = await stage.open_chat("Morgan Lille", "00000000-0000-0000-0000-0000000000c6")
    await other.say("mes rendez-vous")
    await other.see("Vous n'avez aucun rendez-vous à venir")
    for attempt in ("agenda", "semaine", "urgences"):
        await other.say(attempt)
    await other.see("Je n'ai pas compris")
    assert await other.page.get_by_text("Alix Grenoble").count() == 0
    assert await other.page.get_by_text("Loyer impayé").count() == 0


async def test_6_two_agents_race_for_the_last_slot_of_a_day(stage: Stage):
    first = await stage.open_chat("Eden Lille", "00000000-0000-0000-0000-0000000000c7")
    await open_form(first, "Lille (59)")
    await first.click("Voir les créneaux")
    await first.see("Choisissez un créneau")
    day = (await first.day_labels())[0]

    worker = await stage.open_chat(WORKER["name"], WORKER["oid"])
    await worker.say("bloquer")
    await worker.see("Bloquer un créneau")
    from datetime import date

    months = [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ]
    _, number, month = day.split()[:3]
    today = stage.today
    target = date(
        today.year + (1 if months.index(month) + 1 < today.month else 0),
        months.index(month) + 1,
        int(number.removesuffix("er")),
    )
    await worker.pick_date(0, target)
    await worker.fill("De", "08:00")
    await worker.fill("À", "15:00")
    await worker.click("Bloquer")
    await worker.see("Créneau bloqué")

    second = await stage.open_chat("Noa Lyon", "00000000-0000-0000-0000-0000000000c8")
    await open_form(second, "Lyon (69)")
    await second.click("Voir les créneaux")
    await second.see("Choisissez un créneau")
    await first.say("rendez-vous")
    await first.see("Votre demande de rendez-vous")
    await first.click("Voir les créneaux")
    await first.see("Choisissez un créneau")
    assert (await first.day_labels())[0] == day == (await second.day_labels())[0]
    last = (await first.wait_slots())[0]
    assert last == "15 h 30"  # the only slot left that day
    await first.click(last, nth=0)
    await second.click(last, nth=0)
    await first.see("Vérifiez votre rendez-vous")
    await second.see("Vérifiez votre rendez-vous")
    await first.click("Confirmer")
    await first.see("C'est réservé")
    await second.click("Confirmer")
    await second.see("Ce créneau vient d'être pris")
    assert await second.wait_slots()  # alternatives offered
    assert [row[0] for row in await active_appointments(stage)] == ["confirmed"]


async def bot_turns(stage: Stage) -> float:
    import aiohttp
    from prometheus_client.parser import text_string_to_metric_families

    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"http://127.0.0.1:{stage.bot_port}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
        ) as response,
    ):
        page = await response.text()
    return sum(
        sample.value
        for family in text_string_to_metric_families(page)
        for sample in family.samples
        if sample.name == "permanence_turns_total" and sample.labels.get("type") == "message"
    )


async def test_7_a_double_click_on_confirm_books_once_and_the_old_list_stops_offering_actions(stage: Stage):
    from bot import texts

    agent = await stage.open_chat("Lou Vanves", "00000000-0000-0000-0000-0000000000c9")
    await open_form(agent, "Vanves (92)")
    await agent.choose("En visio Teams")
    await agent.click("Voir les créneaux")
    await agent.see("Choisissez un créneau")
    await agent.click((await agent.wait_slots())[0], nth=0)
    await agent.see("Vérifiez votre rendez-vous")
    before = await bot_turns(stage)
    # As a person who double-clicks: two clicks on the same button, the second without waiting.
    await agent.card().get_by_role("button", name="Confirmer", exact=True).last.dblclick()
    await agent.see("C'est réservé")
    for _ in range(100):  # both clicks reach the bot (bounded wait)
        if await bot_turns(stage) >= before + 2:
            break
        await asyncio.sleep(0.1)
    assert await bot_turns(stage) == before + 2
    await agent.see("C'est déjà fait")  # the second click is told what the first did
    await agent.screenshot("double-confirm")
    assert [row[0] for row in await active_appointments(stage)] == ["confirmed"]
    for error in (texts.ERROR, texts.STALE_CARD, "problème technique"):
        assert await agent.page.get_by_text(error, exact=False).count() == 0

    await agent.say("mes rendez-vous")
    await agent.see("Vos prochains rendez-vous")
    listing = agent.card()
    assert await listing.get_by_role("button", name="Annuler", exact=True).count() == 1
    await agent.click("Annuler")
    await agent.see("Annuler ce rendez-vous ?")
    await agent.click("Oui, annuler")
    await agent.see("est annulé")
    # The earlier list was updated in place (updateActivity): it says so and offers no action on it.
    await agent.see(texts.CARD_LIST_OUTDATED)
    await agent.screenshot("list-updated")
    cards = agent.page.locator(".ac-adaptiveCard")
    for name in ("Annuler", "Déplacer", "Oui, annuler"):
        assert await cards.get_by_role("button", name=name, exact=True).count() == 0, name
    assert [row[0] for row in await active_appointments(stage)] == ["cancelled"]
