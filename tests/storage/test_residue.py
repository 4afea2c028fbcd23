"""Issue 22, finding 6: without the key, the database tells less. Meeting links are sealed,
whether a phone was given does not show, and the rows an erasure leaves are not recognisable
(neither dated by the erasure nor shaped unlike live rows)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from tests.storage.test_store import NOW, SLOT, appointment, seed

LINK = "https://teams.microsoft.com/l/meetup-join/SENTINEL-link"


async def test_meeting_links_are_sealed_and_open_for_the_service(store):
    (agent,) = await seed(store, "oid-1")
    async with store.unit_of_work() as uow:
        with_link = await uow.appointments.add(
            appointment(agent), site_id="vanves", topic_id=None, message="", now=NOW, join_url=LINK
        )
        without = await uow.appointments.add(
            appointment(agent, SLOT + timedelta(hours=2)), site_id="vanves", topic_id=None, message="", now=NOW
        )
        await uow.appointments.set_outlook(without.id, "event-2", LINK + "-2", NOW)
        await uow.commit()
    assert with_link.join_url == LINK
    async with store.unit_of_work(read_only=True) as uow:
        stored = await uow.session.execute(text("SELECT join_url FROM appointments"))
        assert all(value and "SENTINEL" not in value for (value,) in stored)
        assert (await uow.appointments.get(with_link.id)).join_url == LINK
        assert (await uow.appointments.get(without.id)).join_url == LINK + "-2"


async def test_whether_a_phone_was_given_does_not_show(store):
    given, _ = await seed(store, "oid-1", "oid-2")
    async with store.unit_of_work() as uow:
        await uow.agents.set_phone(given, "06 12 34 56 78", NOW)
        await uow.commit()
    async with store.unit_of_work(read_only=True) as uow:
        lengths = set((await uow.session.scalars(text("SELECT length(phone_enc) FROM agents"))).all())
    assert len(lengths) == 1 and 0 not in lengths


async def test_rows_an_erasure_leaves_look_like_live_rows_and_carry_no_erasure_time(store):
    live, erased = await seed(store, "oid-live", "oid-erased")
    async with store.unit_of_work() as uow:
        await uow.agents.set_site(live, "vanves", NOW)
        for agent, hour in ((live, 0), (erased, 2)):
            await uow.appointments.add(
                appointment(agent, SLOT + timedelta(hours=hour)),
                site_id="vanves",
                topic_id="budget",
                message="quelques mots",
                now=NOW,
            )
        await uow.commit()
    erasure = NOW + timedelta(days=30)
    async with store.unit_of_work() as uow:
        (left,) = await uow.appointments.of_agent(erased)
        await uow.appointments.detach(left.id, await uow.agents.anonymous(erasure), erasure)
        await uow.agents.erase(erased)
        await uow.commit()
    async with store.unit_of_work(read_only=True) as uow:
        rows = (
            await uow.session.execute(
                text(
                    "SELECT a.updated_at, g.created_at, g.updated_at, length(a.notes_enc), length(a.message_enc),"
                    " length(g.object_id_enc), length(g.phone_enc), length(g.name_enc), length(g.email_enc),"
                    " g.site_id"
                    " FROM appointments a JOIN agents g ON g.id = a.agent_id ORDER BY a.start_at"
                )
            )
        ).all()
    assert len(rows) == 2
    for row in rows:
        assert all(str(erasure.date()) not in str(value) for value in row[:3])  # nothing dated by the erasure
    assert rows[0][3:5] == rows[1][3:5]  # notes and message: the same shape, live or erased
    assert all(row[5] and row[6] and row[7] and row[8] for row in rows)  # sealed id, phone, name, e-mail
    assert rows[0][9] == rows[1][9] == "vanves"  # the anonymous profile has a site like a live one
