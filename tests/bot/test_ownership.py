"""Issue 22, finding 1, through the bot: an employee who can write to the database points
another agent's rows at his own profile, or copies his lookup onto hers. His « mes données »
shows nothing of hers, her reminders never reach his chat, and the tamper is reported."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from bot import texts
from bot.application.diagnostics import Diagnostics
from tests.bot.conftest import WORKER_OID, Person, World, said
from tests.bot.test_journeys import book
from tests.storage.test_ownership import insider

ALICE = "Alice Sentinelle"
MALLORY = "Mallory Initié"
HER_PHONE = "07 98 76 54 32"


async def agent_id(world: World, person: Person) -> str:
    async with world.store.unit_of_work(read_only=True) as uow:
        found = await uow.agents.find(person.object_id)
    assert found is not None
    return found


async def tampered_gauge(world: World) -> float:
    exposed = await world.runtime.metrics.render()
    match = re.search(r"^permanence_tampered_rows (\S+)$", exposed, re.MULTILINE)
    assert match is not None
    return float(match.group(1))


async def test_her_case_pointed_at_his_profile_shows_him_nothing_and_is_reported(world: World):
    alice, mallory = world.person(ALICE), world.person(MALLORY)
    await book(alice, "vanves", index=0, topic="logement", message="SENTINEL-alice-message")
    urgent = await alice.say("urgence")
    await alice.submit(
        urgent.action(texts.URGENT_SEND), description="SENTINEL-alice-urgent", phone=HER_PHONE, availability=""
    )
    await book(mallory, "vanves", index=5, message="SENTINEL-mallory")
    await world.deliver()
    hers, his = await agent_id(world, alice), await agent_id(world, mallory)
    before = await tampered_gauge(world)
    for table in ("appointments", "urgent_requests"):
        await insider(world.store, f"UPDATE {table} SET agent_id = :m WHERE agent_id = :a", m=his, a=hers)

    shown = await mallory.say("Mes données")
    assert texts.DATA_TITLE in shown.text and "SENTINEL-mallory" in shown.text
    for hers_only in ("SENTINEL-alice", HER_PHONE, ALICE, "Logement"):
        assert hers_only not in shown.text
    assert await tampered_gauge(world) > before
    # Her reminder is not sent to him (nor to anyone: nothing vouches for the row any more).
    world.clock.now = datetime(2027, 3, 3, 8, 0, tzinfo=UTC)
    sent = await world.deliver()
    assert {a.conversation.id for a in sent} <= {mallory.conversation_id}
    assert all("SENTINEL-alice" not in said(a) for a in sent)
    async with world.store.unit_of_work(read_only=True) as uow:
        reads = [e for e in await uow.audit.entries() if e.action == "agent.data_read"]
    assert [e.subject_id for e in reads] == [his]  # what he read was his own, and only that


async def test_his_lookup_copied_onto_her_profile_redirects_none_of_her_notices(world: World):
    alice, mallory = world.person(ALICE), world.person(MALLORY)
    await book(alice, "vanves", index=0, message="SENTINEL-alice-message")
    await mallory.say("aide")
    await world.deliver()
    hers, his = await agent_id(world, alice), await agent_id(world, mallory)
    lookup = world.store.keyring.lookup(mallory.object_id)
    await insider(world.store, "UPDATE agents SET lookup = :x WHERE id = :m", x="f" * 64, m=his)
    await insider(world.store, "UPDATE agents SET lookup = :l WHERE id = :a", l=lookup, a=hers)
    before = await tampered_gauge(world)

    elsewhere = Person(world, MALLORY, mallory.object_id)  # a new chat: he is recognised again
    refused = await elsewhere.say("Mes données")
    assert refused.text == texts.TAMPERED and "SENTINEL-alice" not in refused.text
    assert await tampered_gauge(world) > before
    world.clock.now = datetime(2027, 3, 3, 8, 0, tzinfo=UTC)  # the day before her appointment
    sent = await world.deliver()
    assert [a.conversation.id for a in sent] == [alice.conversation_id]
    assert [said(a) for a in sent] == [texts.REMINDER_DAY.format(date="jeudi 4 mars 2027 à 9 h")]


async def test_a_worker_profile_that_does_not_hold_her_sealed_id_is_a_doctor_problem(world: World):
    social = world.person("Assistante sociale", WORKER_OID)
    await social.say("aide")
    worker_profile = await agent_id(world, social)
    await insider(world.store, "UPDATE agents SET object_id_enc = '' WHERE id = :w", w=worker_profile)
    checks = await Diagnostics(world.runtime.app.context, world.runtime.provider, webhooks=False).teams()
    found = [c for c in checks if c.subject == "ass"]
    assert [(c.status.value, c.code) for c in found] == [("problem", "tampered")]
    assert WORKER_OID not in found[0].detail
