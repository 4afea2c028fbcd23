"""Typed outbox messages: one dataclass and one handler per kind, and rows written before the
messages were typed (a kind string and a dict) still read and delivered."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, get_type_hints

import pytest
from sqlalchemy import text

from bot import texts
from bot.application.messages import MESSAGE_TYPES, MalformedMessage, NotifyAgent, parse
from bot.application.outbox import Handlers
from tests.bot.conftest import said
from tests.helpers.conversation import book, worker

# Payloads exactly as the producers wrote them before the messages were typed (commit 6c4e63a and
# earlier): one per kind and per shape. Rows like these may be waiting in a database at an upgrade.
LEGACY: list[tuple[str, dict[str, Any]]] = [
    ("calendar.create", {"appointment_id": "a1"}),
    ("calendar.update", {"appointment_id": "a1"}),
    ("calendar.cancel", {"appointment_id": "a1"}),
    ("notify.worker", {"worker_id": "ass", "what": "plan_changed", "summary": "Claire lit les dossiers"}),
    ("notify.worker", {"worker_id": "ass", "what": "worker_moved", "appointment_id": "a1"}),
    ("notify.worker", {"worker_id": None, "what": "urgent", "urgent_id": "u1", "step": "0"}),
    ("notify.agent", {"agent_id": "g1", "what": "link", "appointment_id": "a1"}),
    (
        "notify.agent",
        {
            "agent_id": "g1",
            "what": "reminder",
            "before": "day",
            "appointment_id": "a1",
            "start": "2027-03-04T08:00:00+00:00",
        },
    ),
    ("notify.agent", {"agent_id": "g1", "what": "urgent_reached", "urgent_id": "u1", "step": "1"}),
    ("notify.cards", {"appointment_id": "a1", "change": "cancelled"}),
    ("urgent.ack_check", {"urgent_id": "u1", "step": "2"}),
    ("urgent.ack_check", {"urgent_id": "u1"}),  # written before escalation steps were recorded
    ("calendar.sync", {"worker_id": "ass", "replies": True}),
    ("calendar.sync", {"worker_id": "ass", "full": True}),
    ("graph.subscription", {"worker_id": "ass", "reauthorize": True}),
    ("graph.subscription", {"worker_id": "ass", "force": True}),
]


def test_every_kind_has_one_message_type_and_exactly_one_handler(world):
    kinds = [cls.kind for cls in MESSAGE_TYPES]
    assert len(kinds) == len(set(kinds)), "two message types share a kind"
    assert sorted(get_type_hints(Handlers)) == sorted(kinds)
    assert sorted(world.dispatcher.handlers()) == sorted(kinds)
    assert {kind for kind, _ in LEGACY} == set(kinds), "a kind without a row in today's format"


@pytest.mark.parametrize(("kind", "payload"), LEGACY, ids=[f"{k}:{p.get('what', '')}" for k, p in LEGACY])
def test_a_row_in_the_stored_format_reads_back_and_writes_the_same_bytes(kind, payload):
    message = parse(kind, payload)
    assert message.kind == kind
    assert json.dumps(message.payload()) == json.dumps(payload)


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        ("notify.unknown", {"what": "x"}),
        ("calendar.create", {}),
        ("calendar.create", {"appointment_id": 3}),
        ("notify.agent", {"what": "link"}),
        ("notify.worker", {"worker_id": 7, "what": "urgent"}),
        ("urgent.ack_check", []),
    ],
)
def test_a_row_without_its_message_is_refused_by_kind_never_by_content(kind, payload):
    with pytest.raises(MalformedMessage) as refused:
        parse(kind, payload)
    assert kind in str(refused.value)
    assert "3" not in str(refused.value) and "7" not in str(refused.value)


async def test_a_malformed_row_is_dead_at_once_and_the_others_still_go(world):
    now = world.clock()
    async with world.store.unit_of_work() as uow:
        broken = await uow.outbox.add("notify.agent", {"what": "link"}, now, "a1")
        unknown = await uow.outbox.add("notify.gone", {"agent_id": "g1"}, now, "a2")
        await uow.commit()
    await world.deliver()
    async with world.store.unit_of_work(read_only=True) as uow:
        rows = (await uow.session.execute(text("SELECT id, last_error FROM outbox ORDER BY id"))).all()
        dead = {e.id: e.last_error for e in await uow.outbox.entries(world.clock(), state="dead")}
    assert dict(rows)[broken] == "bad_payload:notify.agent:agent_id"
    assert set(dead) == {broken, unknown}
    assert dead[unknown] == "unknown_kind:notify.gone"


async def test_rows_written_in_the_previous_format_are_still_delivered(world):
    """An upgrade: a reminder and a worker's notice queued by the previous version, as it wrote
    them (the repository's own call with a kind and a dict), are delivered by this one."""
    agent = world.person("Agent")
    await book(agent, "vanves")  # Thursday 4 March, 9:00 Paris
    social_worker = await worker(world)
    await social_worker.install()
    now = world.clock()
    async with world.store.unit_of_work() as uow:
        appointment_id, agent_id = (await uow.session.execute(text("SELECT id, agent_id FROM appointments"))).one()
        # This version's reminders go: only the previous version's rows are left to deliver.
        assert await uow.outbox.withdraw(NotifyAgent.kind, appointment_id, "reminder", now) == 2
        await uow.outbox.add(
            "notify.agent",
            {
                "agent_id": agent_id,
                "what": "reminder",
                "before": "day",
                "appointment_id": appointment_id,
                "start": "2027-03-04T08:00:00+00:00",
            },
            now,
            aggregate_id=appointment_id,
            not_before=datetime(2027, 3, 3, 8, 0, tzinfo=UTC),
        )
        await uow.outbox.add(
            "notify.worker",
            {"worker_id": "ass", "what": "plan_changed", "summary": "Claire lit les dossiers"},
            now,
            aggregate_id="ass",
        )
        await uow.commit()
    world.clock.now = datetime(2027, 3, 3, 8, 0, tzinfo=UTC)
    sent = await world.deliver()
    to_agent = [said(a) for a in sent if a.conversation.id == agent.conversation_id]
    to_worker = [said(a) for a in sent if a.conversation.id == social_worker.conversation_id]
    assert to_agent == [texts.REMINDER_DAY.format(date="jeudi 4 mars 2027 à 9 h")]
    assert len(to_worker) == 1 and "Claire lit les dossiers" in to_worker[0]
    async with world.store.unit_of_work(read_only=True) as uow:
        assert await uow.outbox.entries(world.clock(), state="dead") == []
