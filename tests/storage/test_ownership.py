"""Who owns a row is sealed (issue 22, finding 1): an insider who writes to the database without
the keys cannot move someone's case to his profile, nor point his lookup at hers. Each test
writes to the database directly, as such an insider would, on SQLite and on PostgreSQL."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import text

from booking.grants import Purpose, issue_grant
from booking.records import NotFound
from storage.crypto import Keyring
from storage.dossiers import SealError, export_dossiers
from storage.sealing import Tampered, appointment_context, tampered_counts, urgent_context
from storage.store import Store
from tests.storage.conftest import OPERATOR
from tests.storage.test_store import NOW, SLOT, appointment, book, seed

REPORT = issue_grant(Purpose.REPORT, everything=True)
HER = "oid-alice"
HIS = "oid-mallory"


async def urgent(store: Store, agent_id: str) -> str:
    async with store.unit_of_work() as uow:
        request = await uow.urgent.add(
            agent_id=agent_id,
            site_id="vanves",
            route=[("ass", None)],
            description="SENTINEL-situation",
            phone="06 12 34 56 78",
            availability="le matin",
            now=NOW,
        )
        await uow.commit()
    return request.id


async def insider(store: Store, sql: str, **values: str) -> None:
    """A statement run straight on the database (no key involved)."""
    async with store.engine.begin() as connection:
        await connection.execute(text(sql), values)


def tampered() -> int:
    return sum(tampered_counts().values())


async def test_her_rows_pointed_at_his_profile_show_nothing_and_are_reported(store, caplog):
    alice, mallory = await seed(store, HER, HIS)
    appointment_id = await book(store, appointment(alice), message="SENTINEL-message", topic="budget")
    request_id = await urgent(store, alice)
    await insider(store, "UPDATE appointments SET agent_id = :m WHERE agent_id = :a", m=mallory, a=alice)
    await insider(store, "UPDATE urgent_requests SET agent_id = :m WHERE agent_id = :a", m=mallory, a=alice)
    before = tampered()
    with caplog.at_level(logging.WARNING, logger="storage.tamper"):
        async with store.unit_of_work(read_only=True) as uow:
            assert await uow.appointments.of_agent(mallory) == []
            assert await uow.appointments.upcoming_for_agent(mallory, NOW) == []
            assert await uow.urgent.of_agent(mallory) == []
            assert await uow.urgent.open_requests() == []  # nor escalated under his name
            assert await uow.appointments.for_worker("ass", SLOT, SLOT.replace(hour=23)) == []
            with pytest.raises(NotFound):
                await uow.appointments.details(appointment_id, grant=OPERATOR)
            with pytest.raises(NotFound):
                await uow.urgent.details(request_id, grant=OPERATOR)
            with pytest.raises(NotFound):
                await uow.appointments.get(appointment_id)  # reminders and notices read it so
            assert await uow.appointments.report_rows(SLOT.replace(hour=0), SLOT.replace(hour=23), grant=REPORT) == []
    assert tampered() - before == 9
    warnings = [r.getMessage() for r in caplog.records if r.name == "storage.tamper"]
    assert len(warnings) == 9
    for message in warnings:  # the table only: no row, agent or value
        assert all(secret not in message for secret in (appointment_id, request_id, alice, mallory, "SENTINEL"))
    # Put back where they belong, the rows open again: nothing was destroyed.
    await insider(store, "UPDATE appointments SET agent_id = :a WHERE id = :i", a=alice, i=appointment_id)
    await insider(store, "UPDATE urgent_requests SET agent_id = :a WHERE id = :i", a=alice, i=request_id)
    async with store.unit_of_work(read_only=True) as uow:
        assert [s.id for s in await uow.appointments.of_agent(alice)] == [appointment_id]
        assert (await uow.appointments.details(appointment_id, grant=OPERATOR)).message == "SENTINEL-message"
        assert (await uow.urgent.details(request_id, grant=OPERATOR))[0] == "SENTINEL-situation"


async def test_a_sealed_value_copied_from_his_row_onto_hers_does_not_open(store):
    alice, mallory = await seed(store, HER, HIS)
    hers = await book(store, appointment(alice), message="SENTINEL-hers")
    his = await book(store, appointment(mallory, SLOT.replace(hour=11)), message="his")
    await insider(
        store,
        "UPDATE appointments SET message_enc = (SELECT message_enc FROM appointments WHERE id = :his) WHERE id = :hers",
        his=his,
        hers=hers,
    )
    async with store.unit_of_work(read_only=True) as uow:
        with pytest.raises(Exception, match="cannot be decrypted"):
            await uow.appointments.details(hers, grant=OPERATOR)


async def test_his_lookup_copied_onto_her_profile_is_refused_and_redirects_nothing(store, caplog):
    alice, mallory = await seed(store, HER, HIS)
    async with store.unit_of_work() as uow:
        await uow.agents.set_conversation(alice, {"conversation": {"id": "her-chat"}}, NOW)
        await uow.commit()
    await insider(store, "UPDATE agents SET lookup = :x WHERE id = :m", x="0" * 64, m=mallory)
    await insider(store, "UPDATE agents SET lookup = :l WHERE id = :a", l=store.keyring.lookup(HIS), a=alice)
    before = tampered()
    with caplog.at_level(logging.WARNING, logger="storage.tamper"):
        async with store.unit_of_work() as uow:
            with pytest.raises(Tampered):
                await uow.agents.ensure(HIS, "Mallory", NOW)  # his first contact in a new chat
        async with store.unit_of_work(read_only=True) as uow:
            with pytest.raises(Tampered):
                await uow.agents.find(HIS)
            assert await uow.agents.conversation(alice, grant=OPERATOR) == {"conversation": {"id": "her-chat"}}
    assert tampered() - before == 2
    assert all(alice not in r.getMessage() and HIS not in r.getMessage() for r in caplog.records)


async def test_her_sealed_entra_id_removed_or_swapped_is_refused(store):
    alice, mallory = await seed(store, HER, HIS)
    # His sealed id copied onto her row (with his lookup): bound to his row, it does not open.
    await insider(store, "UPDATE agents SET lookup = :x WHERE id = :m", x="1" * 64, m=mallory)
    await insider(
        store,
        "UPDATE agents SET lookup = :l, object_id_enc = (SELECT object_id_enc FROM agents WHERE id = :m) WHERE id = :a",
        l=store.keyring.lookup(HIS),
        m=mallory,
        a=alice,
    )
    async with store.unit_of_work(read_only=True) as uow:
        with pytest.raises(Tampered):
            await uow.agents.find(HIS)
    # Her seal emptied, as if recorded before ids were kept: refused too (every profile has one).
    await insider(store, "UPDATE agents SET object_id_enc = '' WHERE id = :a", a=alice)
    async with store.unit_of_work(read_only=True) as uow:
        with pytest.raises(Tampered):
            await uow.agents.find(HIS)


async def test_erasure_reseals_what_stays_under_the_anonymous_owner(store):
    (alice,) = await seed(store, HER)
    appointment_id = await book(store, appointment(alice), message="SENTINEL", topic="budget")
    async with store.unit_of_work() as uow:
        anonymous = await uow.agents.anonymous(NOW)
        await uow.appointments.detach(appointment_id, anonymous, NOW)
        await uow.commit()
    async with store.unit_of_work(read_only=True) as uow:
        details = await uow.appointments.details(appointment_id, grant=OPERATOR)
        assert (details.topic_id, details.message) == ("budget", "")
        assert await uow.appointments.of_agent(alice) == []


def test_the_owner_is_part_of_what_a_value_is_bound_to(keyring: Keyring):
    token = keyring.encrypt("budget", appointment_context("topic", "r1", "alice"))
    assert keyring.decrypt(token, appointment_context("topic", "r1", "alice")) == "budget"
    for other in (appointment_context("topic", "r1", "mallory"), appointment_context("topic", "r2", "alice")):
        with pytest.raises(Exception, match="cannot be decrypted"):
            keyring.decrypt(token, other)
    with pytest.raises(Exception, match="cannot be decrypted"):
        keyring.decrypt(keyring.encrypt("x", urgent_context("phone", "u", "alice")), urgent_context("phone", "u", "m"))


async def test_a_hand_over_refuses_to_export_a_case_moved_to_another_agent(store):
    alice, mallory = await seed(store, HER, HIS)
    await book(store, appointment(alice), message="SENTINEL-message")
    await insider(store, "UPDATE appointments SET agent_id = :m", m=mallory)
    before = tampered()
    async with store.unit_of_work(read_only=True) as uow:
        with pytest.raises(SealError, match="nothing exported") as refused:
            await export_dossiers(uow, open_only=False, now=NOW, grant=OPERATOR)
    assert "SENTINEL" not in str(refused.value) and tampered() - before == 1
