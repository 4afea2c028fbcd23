"""The repositories decrypt who and why only with a grant that covers the rows asked and allows
the purpose; without one, or with another row's, they raise `NotGranted` and decrypt nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from booking.grants import Grant, NotGranted, Purpose, issue_grant
from storage.store import Store
from tests.helpers.store import NOW, SLOT, appointment, book, seed
from tests.storage.conftest import OPERATOR


async def urgent(store: Store, agent_id: str) -> str:
    async with store.unit_of_work() as uow:
        request = await uow.urgent.add(
            agent_id=agent_id,
            site_id="lyon",
            route=[("ass", NOW + timedelta(hours=4)), (None, None)],
            description="Situation grave",
            phone="0611223344",
            availability="matin",
            now=NOW,
        )
        await uow.agents.set_phone(agent_id, "0611223344", NOW)
        await uow.agents.set_email(agent_id, "agent@cned.example", NOW)
        await uow.agents.set_conversation(agent_id, {"conversation": {"id": "a:secret"}}, NOW)
        await uow.commit()
    return request.id


@pytest.fixture
async def rows(store: Store) -> dict[str, str]:
    mine, other = await seed(store, "oid-mine", "oid-other")
    return {
        "agent": mine,
        "other_agent": other,
        "appointment": await book(store, appointment(mine), message="Loyer impayé", topic="logement"),
        "other_appointment": await book(
            store, appointment(other, SLOT + timedelta(hours=1)), message="Autre", topic="budget"
        ),
        "urgent": await urgent(store, mine),
        "other_urgent": await urgent(store, other),
    }


def reads(rows: dict[str, str]) -> dict[str, Callable[[Any, Grant | None], Awaitable[object]]]:
    """Every repository read that decrypts, on the rows of `mine`."""
    agent, appointment_id, request_id = rows["agent"], rows["appointment"], rows["urgent"]
    return {
        "appointment details": lambda uow, g: uow.appointments.details(appointment_id, grant=g),
        "urgent details": lambda uow, g: uow.urgent.details(request_id, grant=g),
        "agent name": lambda uow, g: uow.agents.name(agent, grant=g),
        "agent phone": lambda uow, g: uow.agents.phone(agent, grant=g),
        "agent e-mail": lambda uow, g: uow.agents.email(agent, grant=g),
        "agent conversation": lambda uow, g: uow.agents.conversation(agent, grant=g),
        "report rows": lambda uow, g: uow.appointments.report_rows(NOW, NOW + timedelta(days=30), grant=g),
        "dossiers export": lambda uow, g: uow.dossiers.export(open_only=False, now=NOW, grant=g),
        "dossiers import": lambda uow, g: uow.dossiers.import_(
            {"agents": [], "appointments": [], "urgent_requests": []}, assign_to=None, now=NOW, grant=g
        ),
    }


async def test_no_repository_decrypts_without_a_grant(store, rows):
    async with store.unit_of_work() as uow:
        for name, read in reads(rows).items():
            with pytest.raises(NotGranted):
                await read(uow, None)
                pytest.fail(f"{name} decrypted without a grant")
    with pytest.raises(NotGranted):
        await store.rotate_keys(store.keyring.with_new_key()[0], grant=None)  # type: ignore[arg-type]


async def test_a_grant_for_another_row_is_refused(store, rows):
    other_case = issue_grant(
        Purpose.CASE,
        appointments=[rows["other_appointment"]],
        urgent=[rows["other_urgent"]],
        agents=[rows["other_agent"]],
    )
    other_delivery = issue_grant(Purpose.DELIVERY, agents=[rows["other_agent"]])
    async with store.unit_of_work() as uow:
        for name, read in reads(rows).items():
            for grant in (other_case, other_delivery):
                with pytest.raises(NotGranted):
                    await read(uow, grant)
                    pytest.fail(f"{name} decrypted with {grant!r} for another row")
        # The grant still opens the rows it names.
        assert (await uow.appointments.details(rows["other_appointment"], grant=other_case)).message == "Autre"


async def test_a_case_grant_must_name_the_agent_too(store, rows):
    appointment_only = issue_grant(Purpose.CASE, appointments=[rows["appointment"]])
    async with store.unit_of_work() as uow:
        with pytest.raises(NotGranted):
            await uow.appointments.details(rows["appointment"], grant=appointment_only)


async def test_each_purpose_opens_only_its_fields(store, rows):
    agent = rows["agent"]
    case = issue_grant(Purpose.CASE, appointments=[rows["appointment"]], urgent=[rows["urgent"]], agents=[agent])
    delivery = issue_grant(Purpose.DELIVERY, agents=[agent])
    own = issue_grant(Purpose.OWN, agents=[agent])
    report = issue_grant(Purpose.REPORT, everything=True)
    async with store.unit_of_work() as uow:
        details = await uow.appointments.details(rows["appointment"], grant=case)
        assert (details.agent_name, details.topic_id, details.message) == ("Agent oid-mine", "logement", "Loyer impayé")
        assert await uow.urgent.details(rows["urgent"], grant=case) == ("Situation grave", "0611223344", "matin")
        assert await uow.agents.phone(agent, grant=own) == "0611223344"
        assert await uow.agents.email(agent, grant=delivery) == "agent@cned.example"
        assert await uow.agents.conversation(agent, grant=delivery) == {"conversation": {"id": "a:secret"}}
        counted = await uow.appointments.report_rows(NOW, SLOT + timedelta(days=1), grant=report)
        assert {r.topic_id for r in counted} == {"logement", "budget"}
        # The address the outbox delivers to does not open who or why, nor does the case open the address.
        for refused in (
            uow.agents.name(agent, grant=delivery),
            uow.agents.phone(agent, grant=delivery),
            uow.appointments.details(rows["appointment"], grant=own),
            uow.agents.conversation(agent, grant=case),
            uow.appointments.report_rows(NOW, SLOT, grant=case),
            uow.appointments.report_rows(NOW, SLOT, grant=own),
            uow.dossiers.export(open_only=False, now=NOW, grant=report),
        ):
            with pytest.raises(NotGranted):
                await refused
        # An operator's grant (audited by the access policy) opens everything.
        assert (await uow.appointments.details(rows["other_appointment"], grant=OPERATOR)).message == "Autre"


def test_grants_cannot_be_made_outside_the_factory():
    with pytest.raises(TypeError, match="access policy"):
        Grant(purpose=Purpose.OPERATOR, everything=True)
    assert "oid" not in repr(issue_grant(Purpose.CASE, agents=["oid-mine"]))
