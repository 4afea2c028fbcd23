"""What a new user met as an agent (issue 26, points 1 to 4), end to end in the Agents Playground."""

from __future__ import annotations

from tests.e2e.conftest import WORKER, Chat, Stage
from tests.e2e.test_scenarios import active_appointments, open_form


async def review(agent: Chat, site_label: str | None, nth: int) -> None:
    await open_form(agent, site_label)
    await agent.choose("En visio Teams")
    await agent.click("Voir les créneaux")
    await agent.see("Choisissez un créneau")
    await agent.click((await agent.wait_slots())[nth], nth=0)
    await agent.see("Vérifiez votre rendez-vous")


async def test_26_1_2_the_cap_comes_first_and_a_refused_confirmation_works_later(stage: Stage):
    agent = await stage.open_chat("Noa Vanves", "00000000-0000-0000-0000-0000000002a1")
    await review(agent, "Vanves (92)", 0)
    await agent.click("Confirmer")
    await agent.see("C'est réservé")
    await review(agent, None, 2)  # a review she leaves open (card A)
    await review(agent, None, 1)
    await agent.click("Confirmer")
    # The first booking's « C'est réservé » is already on screen: wait for the second one's row.
    for _ in range(200):
        if len(await active_appointments(stage)) == 2:
            break
        await agent.page.wait_for_timeout(100)
    assert len(await active_appointments(stage)) == 2
    held = agent.page.get_by_role("button", name="Confirmer", exact=True)
    assert await held.count() == 1  # card A's: every other review became its confirmation
    await held.last.click()  # 2. refused: nothing booked, never « déjà fait »
    await agent.see("Annulez-en un ou attendez qu'il soit passé")
    await agent.say("rendez-vous")  # 1. told at once, before choosing anything
    await agent.see("Pour en prendre un autre, annulez-en un ou déplacez-le dans « Mes rendez-vous »")
    await agent.screenshot("cap-told-first")
    await agent.say("mes rendez-vous")
    await agent.see("Vos prochains rendez-vous")
    await agent.click("Annuler", nth=0)
    await agent.see("Annuler ce rendez-vous ?")
    await agent.click("Oui, annuler")
    await agent.see("est annulé")
    await agent.page.get_by_role("button", name="Confirmer", exact=True).last.click()  # card A again
    for _ in range(100):
        if [row[0] for row in await active_appointments(stage)].count("confirmed") == 2:
            break
        await agent.page.wait_for_timeout(100)
    assert sorted(row[0] for row in await active_appointments(stage)) == ["cancelled", "confirmed", "confirmed"]
    assert await agent.page.get_by_text("C'est déjà fait : cette action a été traitée").count() == 0


async def test_26_3_nobody_reachable_one_answer_and_my_data_says_the_same(stage: Stage):
    agent = await stage.open_chat("Lou Lyon", "00000000-0000-0000-0000-0000000002a3")  # no worker ever opened it
    await agent.say("urgence")
    await agent.see("En cas de danger immédiat")
    await agent.fill("Téléphone pour vous rappeler", "06 12 34 56 78")
    await agent.click("Être rappelé(e)")
    await agent.see("Aucune assistante sociale n'est joignable pour le moment", within_ms=30_000)
    await agent.page.wait_for_timeout(3_000)  # what came within three seconds: nothing else
    assert await agent.page.get_by_text("nous prévenons", exact=False).count() == 0
    assert await agent.page.get_by_text("Nous n'avons pu joindre", exact=False).count() == 0
    await agent.say("mes données")
    await agent.see("aucune assistante sociale n'était joignable")
    worker = await stage.open_chat(WORKER["name"], WORKER["oid"])  # she becomes reachable
    await worker.see("attend un rappel", within_ms=30_000)
    await worker.screenshot("told-of-the-waiting-request")


async def test_26_4_danger_now_puts_3114_and_15_first(stage: Stage):
    worker = await stage.open_chat(WORKER["name"], WORKER["oid"])
    await worker.see("Espace assistante sociale")
    agent = await stage.open_chat("Sam Rennes", "00000000-0000-0000-0000-0000000002a4")
    await agent.say("urgence")
    await agent.see("En cas de danger immédiat")
    await agent.card().get_by_text("Je suis en danger / j'ai des idées suicidaires maintenant").click()
    await agent.fill("Votre situation", "Idées noires depuis une semaine, je n'en peux plus")
    await agent.fill("Téléphone pour vous rappeler", "06 12 34 56 78")
    await agent.click("Être rappelé(e)")
    await agent.see("Vous êtes en danger : appelez maintenant", within_ms=30_000)
    # The answer's own card (a later notice may follow it in the chat).
    answer = agent.page.locator(".ac-adaptiveCard").filter(has_text="Vous êtes en danger : appelez maintenant").last
    read = [t.strip() for t in await answer.locator(".ac-textBlock").all_inner_texts()]
    assert read.index("3114") < read.index("15") < read.index("17")
    assert read.index("15") < next(i for i, t in enumerate(read) if "au plus tard" in t)
    await agent.screenshot("danger-first")
    await worker.say("urgences")
    await worker.see("Danger immédiat déclaré")
