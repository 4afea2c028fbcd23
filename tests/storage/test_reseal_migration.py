"""Migration 0010 re-seals a database written in the format before it (values bound to their
row only, empty values left empty, free text padded by length): everything opens afterwards
under its owner, and moving a row is caught from then on. Downgraded, it opens as before."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from booking.records import NotFound
from storage.sealing import Tampered
from storage.store import Store
from tests.helpers.ownership import HER, HIS, insider
from tests.helpers.store import appointment, book, seed
from tests.storage.conftest import OPERATOR, make_keyring

LINK = "https://teams.microsoft.com/l/meetup-join/SENTINEL-link"
MESSAGE = "SENTINEL-message de soixante-dix octets, pour voir le remplissage."


async def as_before_0010(store: Store, alice: str, mallory: str) -> tuple[str, str]:
    """Alice's appointment and request, and both profiles, rewritten as the code before 0010
    wrote them."""
    keyring = store.keyring
    appointment_id = await book(store, appointment(alice), message=MESSAGE, topic="budget")
    # Written as SQL: the models of today carry columns that later migrations add.
    request_id = "00000000-0000-4000-8000-000000000010"
    await insider(
        store,
        "INSERT INTO urgent_requests (id, reference, agent_id, site_id, received_at, description_enc,"
        " phone_enc, availability_enc, route, handler_id, step, status, version)"
        " VALUES (:i, 'URG-0010', :a, 'vanves', '2027-03-01 09:00:00', '', '', '', :r, 'ass', 0, 'open', 1)",
        i=request_id,
        a=alice,
        r='[{"worker_id": "ass", "deadline": null}]',
    )

    def old(value: str, context: str) -> str:
        return keyring.encrypt(value, context) if value else ""

    await insider(
        store,
        "UPDATE appointments SET topic_enc = :t, message_enc = :m, notes_enc = '', join_url = :u WHERE id = :i",
        u=LINK,
        t=old("budget", f"appointments.topic:{appointment_id}"),
        m=old(MESSAGE, f"appointments.message:{appointment_id}"),
        i=appointment_id,
    )
    await insider(
        store,
        "UPDATE urgent_requests SET description_enc = :d, phone_enc = :p, availability_enc = '' WHERE id = :i",
        d=old("SENTINEL-situation", f"urgent.description:{request_id}"),
        p=old("06 12 34 56 78", f"urgent.phone:{request_id}"),
        i=request_id,
    )
    for agent, oid in ((alice, HER), (mallory, HIS)):
        await insider(
            store,
            "UPDATE agents SET object_id_enc = :o, phone_enc = '' WHERE id = :a",
            o=old(oid, f"agents.object_id:{agent}"),
            a=agent,
        )
    return appointment_id, request_id


async def test_0010_reseals_rows_written_before_it_and_then_catches_a_moved_row(empty_database_url):
    store = Store(empty_database_url, make_keyring())
    try:
        await store.migrate("0009")
        alice, mallory = await seed(store, HER, HIS)
        appointment_id, request_id = await as_before_0010(store, alice, mallory)
        await store.migrate()
        assert await store.current_revision() >= "0010"  # and whatever came after it
        async with store.unit_of_work(read_only=True) as uow:
            details = await uow.appointments.details(appointment_id, grant=OPERATOR)
            assert (details.topic_id, details.message, details.notes) == ("budget", MESSAGE, "")
            assert await uow.urgent.details(request_id, grant=OPERATOR) == ("SENTINEL-situation", "06 12 34 56 78", "")
            assert await uow.agents.find(HER) == alice and await uow.agents.find(HIS) == mallory
            assert (await uow.appointments.get(appointment_id)).join_url == LINK
            assert "SENTINEL" not in await uow.session.scalar(text("SELECT join_url FROM appointments"))
            for query in (  # empty values are sealed like any value
                "SELECT count(*) FROM appointments WHERE notes_enc = '' OR message_enc = '' OR topic_enc = ''",
                "SELECT count(*) FROM urgent_requests WHERE availability_enc = ''",
                "SELECT count(*) FROM agents WHERE phone_enc = '' OR object_id_enc = '' OR email_enc = ''",
            ):
                assert await uow.session.scalar(text(query)) == 0
            lengths = set((await uow.session.scalars(text("SELECT length(message_enc) FROM appointments"))).all())
        assert lengths == {len(store.keyring.encrypt("", f"appointments.message:{appointment_id}|agent:{alice}"))}
        # From now on, moving her rows to his profile is caught.
        await insider(store, "UPDATE appointments SET agent_id = :m", m=mallory)
        await insider(store, "UPDATE agents SET lookup = :x WHERE id = :m", x="2" * 64, m=mallory)
        await insider(store, "UPDATE agents SET lookup = :l WHERE id = :a", l=store.keyring.lookup(HIS), a=alice)
        async with store.unit_of_work(read_only=True) as uow:
            assert await uow.appointments.of_agent(mallory) == []
            with pytest.raises(Tampered):
                await uow.agents.find(HIS)
        await insider(store, "UPDATE appointments SET agent_id = :a", a=alice)
        await insider(store, "UPDATE agents SET lookup = :l WHERE id = :a", l=store.keyring.lookup(HER), a=alice)
        await insider(store, "UPDATE agents SET lookup = :l WHERE id = :m", l=store.keyring.lookup(HIS), m=mallory)
        # Downgraded, the values open under their former binding (the code before 0010 reads them).
        await store.migrate("0009", downgrade=True)
        async with store.unit_of_work(read_only=True) as uow:
            topic, message = (await uow.session.execute(text("SELECT topic_enc, message_enc FROM appointments"))).one()
            object_id = await uow.session.scalar(text("SELECT object_id_enc FROM agents WHERE id = :a"), {"a": alice})
            assert await uow.session.scalar(text("SELECT join_url FROM appointments")) == LINK
        assert store.keyring.decrypt(topic, f"appointments.topic:{appointment_id}") == "budget"
        assert store.keyring.decrypt(message, f"appointments.message:{appointment_id}") == MESSAGE
        assert store.keyring.decrypt(object_id, f"agents.object_id:{alice}") == HER
    finally:
        await store.dispose()


async def test_0010_without_the_keys_refuses_to_run_on_a_database_with_rows(empty_database_url):
    store = Store(empty_database_url, make_keyring())
    try:
        await store.migrate("0009")
        await seed(store, HER)
        store.keyring = None  # type: ignore[assignment]  # as `alembic upgrade` run by hand would
        with pytest.raises(RuntimeError, match="with the keys"):
            await store.migrate()
        assert await store.current_revision() == "0009"
    finally:
        await store.dispose()


async def test_a_row_already_moved_before_0010_stays_hidden_after_it(empty_database_url):
    store = Store(empty_database_url, make_keyring())
    try:
        await store.migrate("0009")
        alice, mallory = await seed(store, HER, HIS)
        appointment_id, _ = await as_before_0010(store, alice, mallory)
        # A token copied from another row (bound to that row) does not open under its own: left
        # as it is by the migration, and caught when read.
        await insider(
            store,
            "UPDATE appointments SET topic_enc = :t WHERE id = :i",
            t=store.keyring.encrypt("budget", "appointments.topic:another-row"),
            i=appointment_id,
        )
        await store.migrate()
        async with store.unit_of_work(read_only=True) as uow:
            assert await uow.appointments.of_agent(alice) == []
            with pytest.raises(NotFound):
                await uow.appointments.details(appointment_id, grant=OPERATOR)
    finally:
        await store.dispose()
