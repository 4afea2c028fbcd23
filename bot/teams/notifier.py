"""Proactive messages to agents and workers, through their stored conversation references."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from botbuilder.core import BotAdapter, CardFactory, MessageFactory, TurnContext
from botbuilder.schema import Activity, ConversationReference

from booking.model import AppointmentStatus
from booking.records import NotFound, OutboxMessage
from bot import texts
from bot.application.context import Context
from bot.application.outbox import DeliveryError
from bot.teams import cards


class TeamsNotifier:
    def __init__(self, *, adapter: BotAdapter, app_id: str, context: Context, clock: Callable[[], datetime]) -> None:
        self.adapter = adapter
        self.app_id = app_id
        self.context = context
        self.store = context.store
        self.clock = clock

    async def _send(self, agent_id: str, activity: Activity) -> None:
        async with self.store.unit_of_work(read_only=True) as uow:
            try:
                reference = await uow.agents.conversation(agent_id)
            except NotFound as err:
                raise DeliveryError("unknown_person", retryable=False) from err
        if reference is None:
            raise DeliveryError("no_conversation")  # she may install the app later

        async def callback(context: TurnContext) -> None:
            await context.send_activity(activity)

        try:
            await self.adapter.continue_conversation(
                ConversationReference().deserialize(reference), callback, self.app_id
            )
        except Exception as err:
            raise DeliveryError(f"channel:{type(err).__name__}") from err

    async def _person_of_worker(self, worker_id: str) -> str | None:
        worker = self.context.directory.worker(worker_id)
        if not worker.object_id:
            return None
        async with self.store.unit_of_work(read_only=True) as uow:
            return await uow.agents.find(worker.object_id)

    async def deliver(self, message: OutboxMessage) -> None:
        payload: dict[str, Any] = message.payload
        what = payload.get("what")
        if message.kind == "notify.worker":
            worker_id = payload.get("worker_id")
            if not worker_id:
                return  # the chain ended at the provider's hotline: the agent was told to call it
            person = await self._person_of_worker(worker_id)
            if person is None:
                raise DeliveryError("worker_not_reachable")
            await self._send(person, await self._worker_activity(what, payload))
            return
        agent_id = payload["agent_id"]
        activity = await self._agent_activity(what, payload)
        if activity is not None:
            await self._send(agent_id, activity)

    async def _worker_activity(self, what: str | None, payload: dict[str, Any]) -> Activity:
        async with self.store.unit_of_work(read_only=True) as uow:
            if what == "urgent":
                request = await uow.urgent.get(payload["urgent_id"])
                deadline = request.route[request.step][1]
                line = texts.URGENT_NEW_FOR_WORKER.format(
                    reference=request.reference, deadline=texts.day_and_hour(deadline) if deadline else ""
                )
                return MessageFactory.attachment(
                    CardFactory.adaptive_card(
                        cards.notice(
                            texts.URGENT_TITLE, [line], [cards.submit(texts.ACTION_URGENT_LIST, "urgent_list")]
                        )
                    )
                )
            stored = await uow.appointments.get(payload["appointment_id"])
        return MessageFactory.attachment(
            CardFactory.adaptive_card(
                cards.notice(
                    texts.REQUESTS_TITLE,
                    [texts.REQUEST_NEW_FOR_WORKER.format(reference=stored.reference)],
                    [cards.submit(texts.ACTION_REQUESTS, "requests")],
                )
            )
        )

    async def _agent_activity(self, what: str | None, payload: dict[str, Any]) -> Activity | None:
        async with self.store.unit_of_work(read_only=True) as uow:
            if what == "urgent_taken":
                request = await uow.urgent.get(payload["urgent_id"])
                worker = self.context.directory.worker(payload["worker_id"])
                return MessageFactory.text(texts.URGENT_TAKEN.format(who=worker.name, reference=request.reference))
            stored = await uow.appointments.get(payload["appointment_id"])
        appointment = stored.appointment
        when = texts.day_and_hour(appointment.start)
        if what == "reminder":
            if not appointment.status.is_active or appointment.start.isoformat() != payload.get("start"):
                return None  # cancelled or moved since: its own reminders were queued anew
            if appointment.status is not AppointmentStatus.CONFIRMED:
                return None
            if payload.get("before") == "day":
                return MessageFactory.text(texts.REMINDER_DAY.format(date=when))
            return MessageFactory.text(texts.REMINDER_HOUR.format(time=texts.hour(appointment.start)))
        if what == "accepted":
            return MessageFactory.text(texts.REQUEST_ACCEPTED.format(date=when))
        if what == "declined":
            return MessageFactory.text(texts.REQUEST_DECLINED.format(date=when))
        if what == "link":
            if not appointment.status.is_active:
                return None
            if not stored.join_url:
                raise DeliveryError("link_not_ready")
            return MessageFactory.attachment(
                CardFactory.adaptive_card(
                    cards.notice(
                        texts.TEAMS_LINK,
                        [when],
                        [{"type": "Action.OpenUrl", "title": texts.TEAMS_LINK, "url": stored.join_url}],
                    )
                )
            )
        if what == "worker_moved":
            return MessageFactory.attachment(
                CardFactory.adaptive_card(
                    cards.notice(
                        texts.WORKER_MOVED.format(date=when),
                        [],
                        [
                            cards.submit(texts.ACCEPT_NEW, "accept_change"),
                            cards.submit(texts.PICK_ANOTHER, "mine"),
                            cards.submit(texts.CANCEL, "mine"),
                        ],
                    )
                )
            )
        if what == "worker_cancelled":
            return MessageFactory.attachment(
                CardFactory.adaptive_card(
                    cards.notice(
                        texts.WORKER_CANCELLED.format(date=when), [], [cards.submit(texts.ACTION_BOOK, "book")]
                    )
                )
            )
        raise DeliveryError(f"unknown_notification:{what}", retryable=False)
