"""Proactive messages to agents and workers, through their stored conversation references."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from botbuilder.core import BotAdapter, CardFactory, MessageFactory, TurnContext
from botbuilder.schema import Activity, ChannelAccount, ConversationAccount, ConversationReference

from booking.records import NotFound, OutboxMessage, UrgentRequest
from bot import texts
from bot.application.access import delivery_grant
from bot.application.context import Context
from bot.application.outbox import DeliveryError
from bot.application.reminders import reminder_still_applies
from bot.application.shown_cards import OUTLOOK_CHOICE, ShownCard, ShownCards
from bot.application.urgent import UrgentRequests
from bot.channel.wire import from_json, to_json
from bot.logs import exception_summary
from bot.teams import cards

log = logging.getLogger(__name__)

# Where proactive messages go when no activity told us the region's address (Microsoft's global
# Teams endpoint for proactive messages).
TEAMS_SERVICE_URL = "https://smba.trafficmanager.net/teams/"

# What a change says on the cards that showed the appointment, and which of them it leaves alone.
SAID = {
    "cancelled": "cancelled",
    "outlook_cancelled": "cancelled",
    "moved": "moved",
    "outlook_moved": "moved",
    "accepted": "accepted",
    "declined": "declined",
}
LISTS = ("mine", "requests")


class TeamsNotifier:
    def __init__(
        self,
        *,
        adapter: BotAdapter,
        app_id: str,
        context: Context,
        clock: Callable[[], datetime],
        shown: ShownCards,
        urgent: UrgentRequests,
        service_url: str = TEAMS_SERVICE_URL,
        tenant_id: str = "",
    ) -> None:
        """`shown` and `urgent` are the application's (`bootstrap()` hands them over): the
        notifier sends what the use cases decided and keeps no state of its own."""
        self.adapter = adapter
        self.app_id = app_id
        self.context = context
        self.store = context.store
        self.clock = clock
        self.shown = shown
        self.service_url = service_url
        self.tenant_id = tenant_id
        self.urgent = urgent

    def reference_for_chat(self, chat_id: str, object_id: str) -> dict[str, Any]:
        """A conversation reference for the personal chat Graph names (the app installed for
        her): enough to message her before she ever wrote to the bot."""
        reference = ConversationReference(
            channel_id="msteams",
            service_url=self.service_url,
            bot=ChannelAccount(id=f"28:{self.app_id}" if self.app_id else "28:permanence"),
            user=ChannelAccount(aad_object_id=object_id),
            conversation=ConversationAccount(
                id=chat_id, conversation_type="personal", tenant_id=self.tenant_id or None
            ),
        )
        result: dict[str, Any] = to_json(reference)
        return result

    async def _continue(self, agent_id: str, callback: Callable[[TurnContext], Awaitable[None]]) -> None:
        async with self.store.unit_of_work(read_only=True) as uow:
            try:
                reference = await uow.agents.conversation(agent_id, grant=delivery_grant(agent_id))
            except NotFound as err:
                raise DeliveryError("unknown_person", retryable=False) from err
        if reference is None:
            raise DeliveryError("no_conversation")  # she may install the app later
        try:
            await self.adapter.continue_conversation(from_json(ConversationReference, reference), callback, self.app_id)
        except DeliveryError:
            raise
        except Exception as err:
            raise DeliveryError(f"channel:{type(err).__name__}") from err

    async def _send(self, agent_id: str, activity: Activity) -> str:
        """Send; returns the id the channel gave the message (empty if it gave none)."""
        sent: list[str] = []

        async def callback(context: TurnContext) -> None:
            response = await context.send_activity(activity)
            sent.append(getattr(response, "id", None) or "")

        await self._continue(agent_id, callback)
        return sent[0] if sent else ""

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
        if message.kind == "notify.cards":
            await self._refresh(payload)
            return
        agent_id = payload["agent_id"]
        activity = await self._agent_activity(what, payload)
        if activity is None:
            return
        sent = await self._send(agent_id, activity)
        if what == "worker_moved":  # a card of choices about this appointment: updated if it changes again
            try:
                await self.shown.record(agent_id, sent, OUTLOOK_CHOICE, [payload["appointment_id"]], self.clock())
            except Exception as err:  # noqa: BLE001 - sent is sent; only its later update is lost
                log.warning("shown card not recorded: %s", exception_summary(err), extra={"event": "cards.record"})

    # -- earlier cards, updated in place ---------------------------------------------------------

    async def _refresh(self, payload: dict[str, Any]) -> None:
        """Rewrite the cards that offered actions on a changed appointment (in the agent's chat
        and in the workers'), so that they say what happened and offer nothing that cannot apply."""
        appointment_id = payload.get("appointment_id")
        change = payload.get("change")
        if not isinstance(appointment_id, str) or change not in SAID:
            raise DeliveryError("bad_card_refresh", retryable=False)
        async with self.store.unit_of_work(read_only=True) as uow:
            try:
                stored = await uow.appointments.get(appointment_id)
            except NotFound:
                return
            people = [stored.appointment.agent_id]
            for worker in self.context.directory.workers:
                person = await uow.agents.find(worker.object_id) if worker.object_id else None
                if person is not None and person not in people:
                    people.append(person)
        start = stored.appointment.start
        for person in people:
            shown = [
                c
                for c in await self.shown.covering(person, appointment_id)
                # the choice card an Outlook move sends is about that very move
                if not (change == "outlook_moved" and c.kind == OUTLOOK_CHOICE)
            ]
            if not shown:
                continue
            updated = await self._update_cards(person, shown, SAID[change], start)
            await self.shown.forget(person, updated, self.clock())

    async def _update_cards(self, person: str, shown: list[ShownCard], said: str, start: datetime) -> list[str]:
        done: list[str] = []

        async def callback(context: TurnContext) -> None:
            for card in shown:
                when = (texts.CARD_CHANGED_MOVED_TO if said == "moved" else texts.CARD_CHANGED_WHEN).format(
                    date=texts.day_and_hour(start)
                )
                lines = [when, texts.CARD_LIST_OUTDATED] if card.kind in LISTS else [when]
                again = (
                    cards.submit(texts.ACTION_REQUESTS, "requests")
                    if card.kind == "requests"
                    else cards.submit(texts.ACTION_MINE, "mine")
                )
                update = MessageFactory.attachment(
                    CardFactory.adaptive_card(cards.notice(texts.CARD_CHANGED[said], lines, [again]))
                )
                update.id = card.activity_id
                try:
                    await context.update_activity(update)
                except Exception as err:
                    if getattr(err, "status", None) not in (400, 403, 404):
                        raise  # retried with the outbox message; the cards done are not redone
                    # deleted, or too old for the channel to change: nothing to update any more
                done.append(card.activity_id)

        try:
            await self._continue(person, callback)
        except DeliveryError:
            if done:
                await self.shown.forget(person, done, self.clock())
            raise
        return done

    async def _worker_activity(self, what: str | None, payload: dict[str, Any]) -> Activity:
        if what == "plan_changed":
            said = cards.literal(str(payload.get("summary", "")))  # names from the plan file: text only
            return proactive(texts.PLAN_CHANGED_TITLE, [texts.PLAN_CHANGED.format(summary=said)])
        async with self.store.unit_of_work(read_only=True) as uow:
            if what == "urgent_waiting":  # nobody could be told when it was filed: now she can
                request = await uow.urgent.get(payload["urgent_id"])
                line = texts.URGENT_WAITING_FOR_WORKER.format(
                    reference=request.reference, received=texts.day_and_hour(request.received_at)
                )
                return proactive(texts.URGENT_TITLE, [line], [cards.submit(texts.ACTION_URGENT_LIST, "urgent_list")])
            if what == "urgent":
                request = await uow.urgent.get(payload["urgent_id"])
                deadline = request.route[request.step][1]
                line = texts.URGENT_NEW_FOR_WORKER.format(
                    reference=request.reference, deadline=texts.day_and_hour(deadline) if deadline else ""
                )
                return proactive(texts.URGENT_TITLE, [line], [cards.submit(texts.ACTION_URGENT_LIST, "urgent_list")])
            stored = await uow.appointments.get(payload["appointment_id"])
        return proactive(
            texts.REQUESTS_TITLE,
            [texts.REQUEST_NEW_FOR_WORKER.format(reference=stored.reference)],
            [cards.submit(texts.ACTION_REQUESTS, "requests")],
        )

    def _urgent_line(self, what: str, request: UrgentRequest, payload: dict[str, Any]) -> str | None:
        """What the agent is told about her urgent request (None: overtaken by events)."""
        if what == "urgent_taken":
            titular = self.urgent.handled_by_titular(request, payload["worker_id"])
            who = texts.URGENT_TAKER_TITULAR if titular else texts.URGENT_TAKER_REPLACEMENT
            return texts.URGENT_TAKEN.format(who=who, reference=request.reference)
        if what == "urgent_hotline":
            urgent = self.context.deployment.urgent
            return texts.URGENT_NOBODY_REACHED.format(
                reference=request.reference, name=urgent.hotline_name, phone=urgent.hotline_phone
            )
        step = int(payload.get("step", request.step))
        if request.status != "open" or request.step != step:
            return None  # taken (she is told so) or moved on to the next person since
        handler, deadline = request.route[step]
        titular = self.urgent.handled_by_titular(request, handler)
        template = texts.URGENT_REACHED if titular else texts.URGENT_REACHED_REPLACEMENT
        return template.format(reference=request.reference, deadline=texts.day_and_hour(deadline) if deadline else "")

    async def _agent_activity(self, what: str | None, payload: dict[str, Any]) -> Activity | None:
        async with self.store.unit_of_work(read_only=True) as uow:
            if what in ("urgent_taken", "urgent_reached", "urgent_hotline"):
                request = await uow.urgent.get(payload["urgent_id"])
                line = self._urgent_line(what, request, payload)
                if line is None:
                    return None
                activity = MessageFactory.attachment(
                    CardFactory.adaptive_card(cards.urgent_notice([line], unasked=True))
                )
                activity.summary = texts.PREVIEW
                return activity
            stored = await uow.appointments.get(payload["appointment_id"])
        appointment = stored.appointment
        when = texts.day_and_hour(appointment.start)
        if what == "reminder":
            if not reminder_still_applies(appointment, payload.get("start")):
                return None
            if payload.get("before") == "day":
                return proactive(None, [texts.REMINDER_DAY.format(date=when)])
            return proactive(None, [texts.REMINDER_HOUR.format(time=texts.hour(appointment.start))])
        if what == "accepted":
            return proactive(None, [texts.REQUEST_ACCEPTED.format(date=when)])
        if what == "declined":
            return proactive(None, [texts.REQUEST_DECLINED.format(date=when)])
        if what == "link":
            if not appointment.status.is_active:
                return None
            if not stored.join_url:
                raise DeliveryError("link_not_ready")
            return proactive(
                texts.TEAMS_LINK,
                [when],
                [{"type": "Action.OpenUrl", "title": texts.TEAMS_LINK, "url": stored.join_url}],
            )
        if what == "worker_moved":
            return proactive(
                texts.WORKER_MOVED.format(date=when),
                [],
                [
                    cards.submit(texts.ACCEPT_NEW, "accept_change"),
                    cards.submit(texts.PICK_ANOTHER, "mine"),
                    cards.submit(texts.CANCEL, "mine"),
                ],
            )
        if what == "worker_cancelled":
            return proactive(texts.WORKER_CANCELLED.format(date=when), [], [cards.submit(texts.ACTION_BOOK, "book")])
        raise DeliveryError(f"unknown_notification:{what}", retryable=False)


def proactive(heading: str | None, lines: list[str], actions: list[dict[str, Any]] | None = None) -> Activity:
    """Every proactive message: a card whose preview (the activity's summary, the card's fallback
    text and first line) is neutral; no plain text, which hosts would show as the preview."""
    activity = MessageFactory.attachment(CardFactory.adaptive_card(cards.proactive(heading, lines, actions or ())))
    activity.summary = texts.PREVIEW
    return activity
