"""The Teams conversation: agent and worker journeys, in French, with Adaptive Cards.

A card submit is trusted for nothing: it names a form the bot issued (kept server-side in
the conversation state, with what it offered) and an action; every id and value is checked
against that form and the store before anything changes.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from botbuilder.core import CardFactory, ConversationState, MessageFactory, TurnContext
from botbuilder.core.teams import TeamsActivityHandler, TeamsInfo
from botbuilder.schema import Activity, ActivityTypes, ChannelAccount

from booking.errors import BookingRefused, RefusalReason
from booking.model import AppointmentStatus, DayKind, Interval, Mode, Slot, Worker
from booking.plan import DayHours
from booking.records import ConcurrentChange, StoredAppointment
from bot import cards, texts
from bot.service import AccessDenied, BookingService

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
PHONE = re.compile(r"^\+?[0-9 .()-]{6,20}$")
MAX_FORMS = 40
FORM_LIFETIME = timedelta(hours=12)
PAGE_DAYS = 14
SLOTS_PER_CARD = 24

AGENT_COMMANDS = (
    ("mes rendez vous", "mine"),
    ("mes rdv", "mine"),
    ("annuler", "mine"),
    ("deplacer", "mine"),
    ("prendre rendez vous", "book"),
    ("rendez vous", "book"),
    ("rdv", "book"),
    ("reserver", "book"),
    ("urgence", "urgent"),
    ("urgent", "urgent"),
    ("aide", "help"),
    ("help", "help"),
    ("bonjour", "help"),
    ("menu", "help"),
    # The English titles of the app's command list (en-us localisation of the manifest).
    ("my appointments", "mine"),
    ("appointment", "book"),
    ("cancel", "mine"),
)
WORKER_COMMANDS = (
    ("agenda", "agenda"),
    ("semaine", "agenda_week"),
    ("demandes", "requests"),
    ("urgences", "urgent_list"),
    ("absence", "absence"),
    ("bloquer", "block"),
    ("journee", "add_day"),
)


def match_command(text: str, *, worker: bool) -> str | None:
    said = texts.normalise(text)
    for phrase, command in (*(WORKER_COMMANDS if worker else ()), *AGENT_COMMANDS):
        if said == phrase or said.startswith(phrase + " "):
            return command
    return None


class Turn:
    """What one turn knows about the person and her conversation."""

    def __init__(
        self, context: TurnContext, state: dict[str, Any], agent_id: str, worker: Worker | None, now: datetime
    ) -> None:
        self.context = context
        self.state = state
        self.agent_id = agent_id
        self.worker = worker
        self.now = now

    def issue(self, kind: str, **data: Any) -> str:
        forms: dict[str, Any] = self.state.setdefault("forms", {})
        form_id = secrets.token_urlsafe(12)
        forms[form_id] = {"kind": kind, "issued": self.now.isoformat(), **data}
        if len(forms) > MAX_FORMS:
            for old in sorted(forms, key=lambda f: forms[f]["issued"])[: len(forms) - MAX_FORMS]:
                del forms[old]
        return form_id

    def form(self, value: dict[str, Any], *kinds: str) -> dict[str, Any] | None:
        form_id = value.get("form")
        forms = self.state.get("forms", {})
        if not isinstance(form_id, str) or form_id not in forms:
            return None
        form: dict[str, Any] = forms[form_id]
        if form["kind"] not in kinds or datetime.fromisoformat(form["issued"]) + FORM_LIFETIME < self.now:
            return None
        return {**form, "id": form_id}

    def consume(self, form_id: str) -> None:
        self.state.get("forms", {}).pop(form_id, None)
        consumed: list[str] = self.state.setdefault("consumed", [])
        consumed.append(form_id)
        del consumed[:-MAX_FORMS]

    def was_consumed(self, value: dict[str, Any]) -> bool:
        return value.get("form") in self.state.get("consumed", [])


class PermanenceBot(TeamsActivityHandler):  # type: ignore[misc]
    def __init__(
        self,
        *,
        service: BookingService,
        conversation_state: ConversationState,
        clock: Clock,
        local_calendar: bool,
        meeting_links: bool,
        after_commit: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__()
        self.service = service
        self.directory = service.directory
        self.conversation_state = conversation_state
        self.state_property = conversation_state.create_property("permanence")
        self.clock = clock
        self.local_calendar = local_calendar
        self.meeting_links = meeting_links  # whether the calendar provider creates Teams meeting links
        self.after_commit = after_commit

    # -- plumbing ---------------------------------------------------------------------------

    async def on_turn(self, turn_context: TurnContext) -> None:
        if turn_context.activity.channel_data is None:
            turn_context.activity.channel_data = {}  # botbuilder's Teams handler dereferences it
        await super().on_turn(turn_context)
        await self.conversation_state.save_changes(turn_context)

    async def _turn(self, context: TurnContext) -> Turn:
        person = context.activity.from_property or ChannelAccount()
        object_id = person.aad_object_id or person.id or ""
        if not object_id:
            raise AccessDenied
        state: dict[str, Any] = await self.state_property.get(context, dict)
        now = self.clock()
        who = {
            "lookup": self.service.store.keyring.lookup(object_id),
            "name": person.name or "",
            "conversation": context.activity.conversation.id if context.activity.conversation else "",
        }
        agent_id = state.get("agent_id")
        if agent_id is None or state.get("who") != who:
            # First contact in this conversation, or a new name: the only turns that write.
            email = "" if state.get("email_checked") else await self._email(context)
            reference = TurnContext.get_conversation_reference(context.activity).serialize()
            async with self.service.store.unit_of_work() as uow:
                agent_id = await uow.agents.ensure(object_id, person.name or "", now)
                await uow.agents.set_conversation(agent_id, reference, now)
                if email:
                    await uow.agents.set_email(agent_id, email, now)
                await uow.commit()
            state.update(agent_id=agent_id, who=who, email_checked=True)
        return Turn(context, state, agent_id, self.service.worker_for_object_id(object_id), now)

    async def _email(self, context: TurnContext) -> str:
        """The agent's address, to invite her to the Outlook event (best effort)."""
        try:
            member = await TeamsInfo.get_member(context, context.activity.from_property.id)
        except Exception:  # noqa: BLE001 - not every channel answers; the address is optional
            return ""
        return str(getattr(member, "email", None) or getattr(member, "user_principal_name", None) or "")

    async def _send(self, turn: Turn, card: cards.Card) -> None:
        await turn.context.send_activity(MessageFactory.attachment(CardFactory.adaptive_card(card)))

    async def _replace(self, turn: Turn, card: cards.Card) -> None:
        """Replace the card that was acted on (no double submit); send anew if the channel cannot."""
        reply_to = turn.context.activity.reply_to_id
        if reply_to:
            update = MessageFactory.attachment(CardFactory.adaptive_card(card))
            update.id = reply_to
            try:
                await turn.context.update_activity(update)
                return
            except Exception:  # noqa: BLE001 - a client that cannot update messages
                log.info("card update not supported here; sending a new card")
        await self._send(turn, card)

    async def _say(self, turn: Turn, message: str) -> None:
        await turn.context.send_activity(MessageFactory.text(message))

    # -- entry points -----------------------------------------------------------------------

    async def on_members_added_activity(self, members_added: list[ChannelAccount], turn_context: TurnContext) -> None:
        turn = await self._turn(turn_context)
        if not turn.state.get("welcomed"):
            turn.state["welcomed"] = True
            await self._send(turn, cards.welcome(is_worker=turn.worker is not None))

    async def on_installation_update_add(self, turn_context: TurnContext) -> None:
        # Teams sends a conversationUpdate with the same install: welcoming once is enough.
        return None

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        turn = await self._turn(turn_context)
        value = turn_context.activity.value
        if value is not None:
            if not isinstance(value, dict) or not isinstance(value.get("action"), str):
                await self._say(turn, texts.NOT_UNDERSTOOD)
                return
            await self._submit(turn, value)
            return
        command = match_command(turn_context.activity.text or "", worker=turn.worker is not None)
        handler = {
            "book": self.start_booking,
            "mine": self.show_mine,
            "urgent": self.start_urgent,
            "help": self.show_help,
            "agenda": lambda t: self.show_agenda(t, "day"),
            "agenda_week": lambda t: self.show_agenda(t, "week"),
            "requests": self.show_requests,
            "urgent_list": self.show_urgent_list,
            "absence": self.start_absence,
            "block": self.start_block,
            "add_day": self.start_add_day,
        }.get(command or "")
        if handler is None or (command in dict(WORKER_COMMANDS).values() and turn.worker is None):
            await self._say(turn, texts.NOT_UNDERSTOOD)
            return
        await handler(turn)

    async def _submit(self, turn: Turn, value: dict[str, Any]) -> None:
        action = value["action"]
        open_actions = {
            "book": self.start_booking,
            "mine": self.show_mine,
            "urgent": self.start_urgent,
            "help": self.show_help,
            "accept_change": self.accept_change,
        }
        if action in open_actions:
            await open_actions[action](turn)
            return
        worker_actions = {
            "agenda": lambda t, v: self.show_agenda(t, "week" if v.get("period") == "week" else "day"),
            "requests": lambda t, v: self.show_requests(t),
            "urgent_list": lambda t, v: self.show_urgent_list(t),
            "absence": lambda t, v: self.start_absence(t),
            "block": lambda t, v: self.start_block(t),
            "add_day": lambda t, v: self.start_add_day(t),
            "accept": lambda t, v: self.decide(t, v, accept=True),
            "decline": lambda t, v: self.decide(t, v, accept=False),
            "take": self.take_urgent,
            "absence_save": self.save_absence,
            "block_save": self.save_block,
            "add_day_save": self.save_day,
        }
        if action in worker_actions:
            if turn.worker is None:
                await self._say(turn, texts.NOT_ALLOWED)
                return
            await worker_actions[action](turn, value)
            return
        form_actions = {
            "site": self.choose_site,
            "change_site": self.change_site,
            "slots": self.show_slots,
            "more": self.more_slots,
            "pick": self.pick_slot,
            "back": self.back_to_slots,
            "confirm": self.confirm,
            "abandon": self.abandon,
            "move": self.start_move,
            "cancel": self.ask_cancel,
            "cancel_yes": self.cancel,
            "cancel_no": self.keep,
            "urgent_send": self.send_urgent,
        }
        handler = form_actions.get(action)
        if handler is None:
            await self._say(turn, texts.NOT_UNDERSTOOD)
            return
        await handler(turn, value)

    async def _stale(self, turn: Turn, value: dict[str, Any]) -> None:
        await self._say(turn, texts.ALREADY_DONE if turn.was_consumed(value) else texts.STALE_CARD)

    async def accept_change(self, turn: Turn) -> None:
        await self._say(turn, texts.CHANGE_ACCEPTED)

    async def show_help(self, turn: Turn) -> None:
        await self._send(turn, cards.welcome(is_worker=turn.worker is not None))

    # -- booking ----------------------------------------------------------------------------

    async def start_booking(self, turn: Turn) -> None:
        async with self.service.store.unit_of_work(read_only=True) as uow:
            site_id, _ = await uow.agents.profile(turn.agent_id)
            phone = await uow.agents.phone(turn.agent_id)
        if site_id is None or site_id not in {s.id for s in self.directory.sites}:
            await self._send(turn, cards.site_picker(turn.issue("site"), self.directory.sites, None))
            return
        await self._send(turn, self._booking_form(turn, site_id, phone))

    def _modes(self, site_id: str) -> list[str]:
        modes = [Mode.TEAMS]
        if self.directory.site(site_id).head_office:
            modes.append(Mode.IN_PERSON)
        modes += [Mode.PHONE]
        if not self.directory.site(site_id).head_office:
            modes.append(Mode.OTHER_SITE)
        modes.append(Mode.HOME_VISIT)
        return [m.value for m in modes]

    def _booking_form(self, turn: Turn, site_id: str, phone: str) -> cards.Card:
        form = turn.issue("booking", site=site_id)
        return cards.booking_form(
            form, self.directory.site(site_id), self.directory.topics, self._modes(site_id), phone=phone
        )

    async def choose_site(self, turn: Turn, value: dict[str, Any]) -> None:
        form = turn.form(value, "site")
        if form is None:
            await self._stale(turn, value)
            return
        site_id = value.get("site")
        if not isinstance(site_id, str) or site_id not in {s.id for s in self.directory.sites}:
            await self._say(turn, texts.BAD_INPUT.format(what=texts.SITE_LABEL))
            return
        turn.consume(form["id"])
        async with self.service.store.unit_of_work() as uow:
            await uow.agents.set_site(turn.agent_id, site_id, turn.now)
            phone = await uow.agents.phone(turn.agent_id)
            await uow.commit()
        await self._replace(turn, self._booking_form(turn, site_id, phone))

    async def change_site(self, turn: Turn, value: dict[str, Any]) -> None:
        form = turn.form(value, "booking")
        if form is None:
            await self._stale(turn, value)
            return
        turn.consume(form["id"])
        await self._replace(turn, cards.site_picker(turn.issue("site"), self.directory.sites, form["site"]))

    async def show_slots(self, turn: Turn, value: dict[str, Any]) -> None:
        form = turn.form(value, "booking")
        if form is None:
            await self._stale(turn, value)
            return
        site_id: str = form["site"]
        topic = value.get("topic") or None
        mode = value.get("mode")
        message = value.get("message") or ""
        phone = (value.get("phone") or "").strip()
        problems = []
        if topic is not None and topic not in {t.id for t in self.directory.topics}:
            problems.append(texts.TOPIC_LABEL)
        if mode not in self._modes(site_id):
            problems.append(texts.MODE_LABEL)
        if not isinstance(message, str) or len(message) > 1000:
            problems.append(texts.MESSAGE_LABEL)
        if (phone and not PHONE.match(phone)) or (mode == Mode.PHONE.value and not phone):
            problems.append(texts.PHONE_LABEL)
        if problems:
            await self._say(turn, texts.BAD_INPUT.format(what=" ; ".join(problems)))
            return
        turn.consume(form["id"])
        if phone:
            async with self.service.store.unit_of_work() as uow:
                await uow.agents.set_phone(turn.agent_id, phone, turn.now)
                await uow.commit()
        await self._offer(
            turn,
            {"site": site_id, "topic": topic, "mode": mode, "message": message, "reschedule": None},
            start=None,
            replace=True,
        )

    async def _offer(
        self,
        turn: Turn,
        request: dict[str, Any],
        *,
        start: str | None,
        replace: bool,
        heading: str = texts.SLOTS_TITLE,
        lead: str | None = None,
    ) -> None:
        first_day = date.fromisoformat(start) if start else None
        offer = await self.service.first_offer(
            now=turn.now,
            site_id=request["site"],
            topic_id=request["topic"],
            start=first_day,
            days=PAGE_DAYS,
            kinds=request.get("kinds"),
        )
        shown = list(offer.slots[:SLOTS_PER_CARD])
        notice = [lead] if lead else []
        if offer.notice is not None:
            notice += self._absence_notice(offer.notice.return_at, offer.notice.acting_id)
        next_start = (self.service.local_date(shown[-1].start) + timedelta(days=1)).isoformat() if shown else None
        form = turn.issue("slots", **request, slots=[s.key for s in shown], start=start, next=next_start)
        groups: dict[str, list[Slot]] = {}
        for slot in shown:
            groups.setdefault(texts.day(slot.start, year=False).capitalize(), []).append(slot)
        card = cards.slots(form, list(groups.items()), notice=notice, more=bool(shown), heading=heading)
        await (self._replace(turn, card) if replace else self._send(turn, card))

    def _absence_notice(self, return_at: datetime, acting_id: str | None) -> list[str]:
        info = self.service.deployment.information
        lines = []
        if acting_id:
            lines.append(
                texts.ABSENT_LONG.format(date=texts.day(return_at), replacement=self.directory.worker(acting_id).name)
            )
        else:
            lines.append(texts.ABSENT_SHORT.format(date=texts.day(return_at)))
        if info.phone:
            lines.append(texts.INFO_SERVICE.format(phone=info.phone, hours=info.hours))
        lines += list(info.practical)
        lines.append(texts.URGENT_PATH)
        return lines

    async def more_slots(self, turn: Turn, value: dict[str, Any]) -> None:
        form = turn.form(value, "slots")
        if form is None or not form.get("next"):
            await self._stale(turn, value)
            return
        turn.consume(form["id"])
        await self._offer(turn, self._request_of(form), start=form["next"], replace=True)

    @staticmethod
    def _request_of(form: dict[str, Any]) -> dict[str, Any]:
        return {k: form.get(k) for k in ("site", "topic", "mode", "message", "reschedule", "kinds")}

    async def back_to_slots(self, turn: Turn, value: dict[str, Any]) -> None:
        form = turn.form(value, "summary")
        if form is None:
            await self._stale(turn, value)
            return
        turn.consume(form["id"])
        await self._offer(turn, self._request_of(form), start=form.get("start"), replace=True)

    def _how_where(self, mode: str, site_id: str) -> tuple[str, str]:
        how = texts.MODE_LABELS[mode]
        if mode == Mode.IN_PERSON.value:
            return how, self.directory.head_office.address or self.directory.head_office.name
        if mode == Mode.OTHER_SITE.value:
            return how, self.directory.site(site_id).name
        if mode == Mode.HOME_VISIT.value:
            return how, ""
        return how, ""

    async def pick_slot(self, turn: Turn, value: dict[str, Any]) -> None:
        form = turn.form(value, "slots")
        if form is None:
            await self._stale(turn, value)
            return
        key = value.get("slot")
        if key not in form["slots"]:  # never offered on this card: forged
            await self._say(turn, texts.REFUSALS[RefusalReason.SLOT_NOT_OFFERED])
            return
        turn.consume(form["id"])
        request = self._request_of(form)
        summary = turn.issue("summary", **request, slot=key, start=form.get("start"))
        worker_id, start = key.split("@")[0], datetime.strptime(key.split("@")[1], "%Y%m%dT%H%MZ").replace(tzinfo=UTC)
        how, where = self._how_where(request["mode"], request["site"])
        topic = self.directory.topic(request["topic"]).label if request["topic"] else ""
        await self._replace(
            turn,
            cards.summary(
                summary, when=start, how=how, where=where, topic=topic, worker=self.directory.worker(worker_id)
            ),
        )

    async def confirm(self, turn: Turn, value: dict[str, Any]) -> None:
        form = turn.form(value, "summary")
        if form is None:
            await self._stale(turn, value)
            return
        turn.consume(form["id"])
        request = self._request_of(form)
        try:
            if request["reschedule"]:
                stored = await self.service.reschedule(
                    now=turn.now,
                    agent_id=turn.agent_id,
                    appointment_id=request["reschedule"],
                    slot_key=form["slot"],
                    site_id=request["site"],
                )
            else:
                stored = await self.service.book(
                    now=turn.now,
                    agent_id=turn.agent_id,
                    site_id=request["site"],
                    slot_key=form["slot"],
                    mode=Mode(request["mode"]),
                    topic_id=request["topic"],
                    message=request["message"] or "",
                )
        except BookingRefused as refused:
            await self._refused(turn, refused, request)
            return
        except ConcurrentChange:
            await self._say(turn, texts.STALE_CARD)
            return
        if self.after_commit is not None:
            await self.after_commit(stored.id)
        card = await self._confirmation(stored, moved=bool(request["reschedule"]))
        await self._replace(turn, card)

    async def _refused(self, turn: Turn, refused: BookingRefused, request: dict[str, Any]) -> None:
        message = texts.REFUSALS.get(refused.reason.value, texts.REFUSALS["unknown"])
        if refused.reason is RefusalReason.SLOT_TAKEN:
            alternatives = list(refused.alternatives)
            form = turn.issue("slots", **request, slots=[s.key for s in alternatives], start=None, next=None)
            groups: dict[str, list[Slot]] = {}
            for slot in alternatives:
                groups.setdefault(texts.day(slot.start, year=False).capitalize(), []).append(slot)
            await self._replace(turn, cards.slots(form, list(groups.items()), notice=[message], more=False))
            return
        await self._say(turn, message)

    async def _confirmation(self, stored: StoredAppointment, *, moved: bool) -> cards.Card:
        async with self.service.store.unit_of_work(read_only=True) as uow:
            stored = await uow.appointments.get(stored.id)  # the outbox may have added the link
        appointment = stored.appointment
        how, where = self._how_where(appointment.mode.value, stored.site_id)
        notes = []
        if appointment.status is AppointmentStatus.REQUESTED:
            heading = texts.REQUESTED_TITLE
            notes.append(texts.REQUESTED_BODY)
        else:
            heading = texts.MOVED_TITLE if moved else texts.CONFIRMED_TITLE
        if appointment.mode is Mode.TEAMS and not stored.join_url:
            if self.meeting_links:
                notes.append(texts.TEAMS_LINK_LATER)
                await self.service.queue_link_notice(stored, self.clock())
            else:
                notes.append(texts.TEAMS_LINK_BY_WORKER)
        if appointment.mode is Mode.PHONE:
            notes.append(texts.PHONE_CALL)
        return cards.confirmation(
            heading=heading,
            when=appointment.start,
            how=how,
            where=where,
            reference=stored.reference,
            join_url=stored.join_url,
            notes=notes,
        )

    async def abandon(self, turn: Turn, value: dict[str, Any]) -> None:
        form = turn.form(value, "slots", "summary")
        if form is None:
            await self._stale(turn, value)
            return
        turn.consume(form["id"])
        await self._replace(turn, cards.notice(texts.ABANDONED, []))

    # -- my appointments --------------------------------------------------------------------

    async def show_mine(self, turn: Turn) -> None:
        appointments = await self.service.my_appointments(now=turn.now, agent_id=turn.agent_id)
        form = turn.issue("mine", appointments=[a.id for a in appointments])
        rows = []
        for stored in appointments:
            how, where = self._how_where(stored.appointment.mode.value, stored.site_id)
            note = texts.STATUS_REQUESTED if stored.appointment.status is AppointmentStatus.REQUESTED else ""
            rows.append((stored.id, stored.appointment.start, how, where, note))
        await self._send(turn, cards.my_appointments(form, rows))

    async def _mine_item(self, turn: Turn, value: dict[str, Any]) -> tuple[dict[str, Any], StoredAppointment] | None:
        form = turn.form(value, "mine")
        if form is None:
            await self._stale(turn, value)
            return None
        appointment_id = value.get("appointment")
        if appointment_id not in form["appointments"]:
            await self._say(turn, texts.REFUSALS["not_owner"])
            return None
        mine = await self.service.my_appointments(now=turn.now, agent_id=turn.agent_id)
        stored = next((a for a in mine if a.id == appointment_id), None)
        if stored is None:
            await self._say(turn, texts.REFUSALS["not_active"])
            return None
        return form, stored

    async def ask_cancel(self, turn: Turn, value: dict[str, Any]) -> None:
        found = await self._mine_item(turn, value)
        if found is None:
            return
        _, stored = found
        form = turn.issue("cancel", appointment=stored.id)
        await self._send(turn, cards.cancel_confirm(form, stored.appointment.start))

    async def cancel(self, turn: Turn, value: dict[str, Any]) -> None:
        form = turn.form(value, "cancel")
        if form is None:
            await self._stale(turn, value)
            return
        turn.consume(form["id"])
        try:
            cancelled = await self.service.cancel(
                now=turn.now, agent_id=turn.agent_id, appointment_id=form["appointment"]
            )
        except BookingRefused as refused:
            await self._say(turn, texts.REFUSALS.get(refused.reason.value, texts.REFUSALS["unknown"]))
            return
        except ConcurrentChange:
            await self._say(turn, texts.STALE_CARD)
            return
        if self.after_commit is not None:
            await self.after_commit(cancelled.id)
        await self._replace(
            turn, cards.notice(texts.CANCELLED.format(date=texts.day_and_hour(cancelled.appointment.start)), [])
        )

    async def keep(self, turn: Turn, value: dict[str, Any]) -> None:
        form = turn.form(value, "cancel")
        if form is None:
            await self._stale(turn, value)
            return
        turn.consume(form["id"])
        await self._replace(turn, cards.notice(texts.KEPT, []))

    async def start_move(self, turn: Turn, value: dict[str, Any]) -> None:
        found = await self._mine_item(turn, value)
        if found is None:
            return
        _, stored = found
        if stored.appointment.start - turn.now < self.service.deployment.booking.change_notice:
            await self._say(turn, texts.REFUSALS["too_late"])
            return
        request = {
            "site": stored.site_id,
            "topic": None,
            "mode": stored.appointment.mode.value,
            "message": "",
            "reschedule": stored.id,
            "kinds": [stored.appointment.kind.value],
        }
        await self._offer(
            turn,
            request,
            start=None,
            replace=False,
            heading=f"{texts.MOVE} : {texts.day_and_hour(stored.appointment.start)}",
        )

    # -- urgent -----------------------------------------------------------------------------

    async def start_urgent(self, turn: Turn) -> None:
        async with self.service.store.unit_of_work(read_only=True) as uow:
            phone = await uow.agents.phone(turn.agent_id)
        await self._send(turn, cards.urgent_form(turn.issue("urgent"), phone=phone))

    async def send_urgent(self, turn: Turn, value: dict[str, Any]) -> None:
        form = turn.form(value, "urgent")
        if form is None:
            await self._stale(turn, value)
            return
        description, phone, availability = (value.get(k) or "" for k in ("description", "phone", "availability"))
        if (
            not all(isinstance(v, str) for v in (description, phone, availability))
            or len(description) > 2000
            or len(availability) > 200
            or not PHONE.match(phone.strip())
        ):
            await self._say(turn, texts.URGENT_PHONE_REQUIRED)
            return
        turn.consume(form["id"])
        async with self.service.store.unit_of_work() as uow:
            site_id, _ = await uow.agents.profile(turn.agent_id)
            await uow.agents.set_phone(turn.agent_id, phone.strip(), turn.now)
            await uow.commit()
        filed = await self.service.file_urgent(
            now=turn.now,
            agent_id=turn.agent_id,
            site_id=site_id or self.directory.head_office.id,
            description=description,
            phone=phone,
            availability=availability,
        )
        if self.after_commit is not None:
            await self.after_commit(filed.request.id)
        if filed.handler is None or filed.deadline is None:
            urgent = self.service.deployment.urgent
            message = texts.URGENT_ACK_HOTLINE.format(
                name=urgent.hotline_name, phone=urgent.hotline_phone, reference=filed.request.reference
            )
        else:
            message = texts.URGENT_ACK.format(
                reference=filed.request.reference, who=filed.handler.name, deadline=texts.day_and_hour(filed.deadline)
            )
        await self._replace(turn, cards.notice(texts.URGENT_TITLE, [message]))

    # -- worker -----------------------------------------------------------------------------

    async def show_agenda(self, turn: Turn, period: str) -> None:
        if turn.worker is None:
            await self._say(turn, texts.NOT_ALLOWED)
            return
        today = self.service.local_date(turn.now)
        days = 7 if period == "week" else 1
        items = await self.service.agenda(now=turn.now, worker=turn.worker, start=today, days=days)
        rows = []
        for item in items:
            appointment = item.appointment.appointment
            how, where = self._how_where(appointment.mode.value, item.appointment.site_id)
            topic = (
                self.directory.topic(item.details.topic_id).label
                if item.details.topic_id in {t.id for t in self.directory.topics}
                else (item.details.topic_id or "")
            )
            rows.append(
                (
                    appointment.start,
                    item.details.agent_name or item.appointment.reference,
                    [
                        ("Site", self.directory.site(item.appointment.site_id).name),
                        ("Mode", how),
                        ("Lieu", where),
                        ("Sujet", topic),
                        ("Message", item.details.message),
                        ("Téléphone", item.details.phone),
                        ("Référence", item.appointment.reference),
                        ("Avec", self.directory.worker(appointment.worker_id).name),
                        ("Statut", texts.STATUS_REQUESTED if appointment.status is AppointmentStatus.REQUESTED else ""),
                    ],
                )
            )
        label = f"semaine du {texts.day(today)}" if period == "week" else texts.day(today)
        await self._send(turn, cards.agenda(label, rows))

    async def show_requests(self, turn: Turn) -> None:
        assert turn.worker is not None
        items = await self.service.pending_requests(now=turn.now, worker=turn.worker)
        form = turn.issue("requests", ids=[i.appointment.id for i in items])
        rows = [
            (
                i.appointment.id,
                f"{texts.day_and_hour(i.appointment.appointment.start)} · "
                f"{texts.MODE_LABELS[i.appointment.appointment.mode.value]}",
                [
                    ("Agent", i.details.agent_name),
                    ("Site", self.directory.site(i.appointment.site_id).name),
                    ("Message", i.details.message),
                    ("Téléphone", i.details.phone),
                ],
            )
            for i in items
        ]
        await self._send(
            turn,
            cards.decisions(
                texts.REQUESTS_TITLE,
                texts.REQUESTS_EMPTY,
                form,
                rows,
                [(texts.ACCEPT, "accept", "positive"), (texts.DECLINE, "decline", None)],
            ),
        )

    async def decide(self, turn: Turn, value: dict[str, Any], *, accept: bool) -> None:
        assert turn.worker is not None
        form = turn.form(value, "requests")
        if form is None or value.get("item") not in form["ids"]:
            await self._stale(turn, value)
            return
        try:
            decided = await self.service.decide_request(
                now=turn.now, worker=turn.worker, appointment_id=value.get("item"), accept=accept
            )
        except (AccessDenied, BookingRefused, ConcurrentChange):
            await self._say(turn, texts.ALREADY_DONE)
            return
        if self.after_commit is not None:
            await self.after_commit(decided.id)
        await self._say(turn, texts.DECIDED_ACCEPTED if accept else texts.DECIDED_DECLINED)

    async def show_urgent_list(self, turn: Turn) -> None:
        assert turn.worker is not None
        found = await self.service.open_urgent(now=turn.now, worker=turn.worker)
        form = turn.issue("urgent_list", ids=[r.id for r, _ in found])
        rows = []
        for request, (description, phone, availability) in found:
            async with self.service.store.unit_of_work(read_only=True) as uow:
                name = await uow.agents.name(request.agent_id)
            deadline = request.route[request.step][1]
            rows.append(
                (
                    request.id,
                    f"{request.reference} · {name}",
                    [
                        ("Reçue", texts.day_and_hour(request.received_at)),
                        ("Rappel avant", texts.day_and_hour(deadline) if deadline else ""),
                        ("Téléphone", phone),
                        ("Disponibilités", availability),
                        ("Situation", description),
                        ("Site", self.directory.site(request.site_id).name),
                    ],
                )
            )
        await self._send(
            turn,
            cards.decisions(
                texts.URGENT_LIST_TITLE, texts.URGENT_LIST_EMPTY, form, rows, [(texts.TAKE_IT, "take", "positive")]
            ),
        )

    async def take_urgent(self, turn: Turn, value: dict[str, Any]) -> None:
        assert turn.worker is not None
        form = turn.form(value, "urgent_list")
        if form is None or value.get("item") not in form["ids"]:
            await self._stale(turn, value)
            return
        try:
            taken = await self.service.acknowledge_urgent(
                now=turn.now, worker=turn.worker, request_id=value.get("item")
            )
        except (AccessDenied, ConcurrentChange):
            await self._say(turn, texts.ALREADY_DONE)
            return
        if self.after_commit is not None:
            await self.after_commit(taken.id)
        await self._say(turn, texts.TAKEN)

    async def start_absence(self, turn: Turn) -> None:
        assert turn.worker is not None
        today = self.service.local_date(turn.now).isoformat()
        await self._send(
            turn, cards.absence_form(turn.issue("absence"), self.directory.replacement_chain(turn.worker.id), today)
        )

    @staticmethod
    def _date(value: object) -> date | None:
        try:
            return date.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            return None

    @staticmethod
    def _time(value: object) -> time | None:
        try:
            return time.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            return None

    async def save_absence(self, turn: Turn, value: dict[str, Any]) -> None:
        assert turn.worker is not None
        form = turn.form(value, "absence")
        if form is None:
            await self._stale(turn, value)
            return
        start, end = self._date(value.get("start")), self._date(value.get("end"))
        replacement = value.get("replacement") or None
        if start is None or end is None or end < start:
            await self._say(turn, texts.BAD_INPUT.format(what=f"{texts.ABSENCE_FROM}, {texts.ABSENCE_TO}"))
            return
        try:
            await self.service.declare_absence(
                now=turn.now,
                worker=turn.worker,
                start=start,
                end=end,
                replacement_id=replacement if isinstance(replacement, str) else None,
            )
        except (ValueError, AccessDenied):
            await self._say(turn, texts.BAD_INPUT.format(what=f"{texts.ABSENCE_FROM}, {texts.ABSENCE_REPLACEMENT}"))
            return
        turn.consume(form["id"])
        await self._replace(
            turn,
            cards.notice(texts.ABSENCE_TITLE, [texts.ABSENCE_SAVED.format(start=texts.day(start), end=texts.day(end))]),
        )

    async def start_block(self, turn: Turn) -> None:
        if not self.local_calendar:
            await self._say(turn, texts.WORKER_ONLY_LOCAL)
            return
        await self._send(turn, cards.block_form(turn.issue("block"), self.service.local_date(turn.now).isoformat()))

    async def start_add_day(self, turn: Turn) -> None:
        if not self.local_calendar:
            await self._say(turn, texts.WORKER_ONLY_LOCAL)
            return
        await self._send(turn, cards.add_day_form(turn.issue("add_day"), self.service.local_date(turn.now).isoformat()))

    def _hours(self, value: dict[str, Any]) -> tuple[date, DayHours] | None:
        day, start, end = self._date(value.get("day")), self._time(value.get("start")), self._time(value.get("end"))
        if day is None or start is None or end is None or end <= start or day < self.service.local_date(self.clock()):
            return None
        return day, DayHours(start=start, end=end)

    async def save_block(self, turn: Turn, value: dict[str, Any]) -> None:
        assert turn.worker is not None
        form = turn.form(value, "block")
        parsed = self._hours(value)
        if form is None:
            await self._stale(turn, value)
            return
        if parsed is None or not self.local_calendar:
            await self._say(
                turn, texts.BAD_INPUT.format(what=f"{texts.BLOCK_DAY}, {texts.BLOCK_FROM}, {texts.BLOCK_TO}")
            )
            return
        day, hours = parsed
        zone = self.service.zone
        interval = Interval(
            start=datetime.combine(day, hours.start, tzinfo=zone), end=datetime.combine(day, hours.end, tzinfo=zone)
        )
        await self.service.block_time(now=turn.now, worker=turn.worker, interval=interval)
        turn.consume(form["id"])
        await self._replace(
            turn,
            cards.notice(
                texts.BLOCK_TITLE,
                [
                    texts.BLOCK_SAVED.format(
                        date=texts.day(day), start=texts.hour(interval.start), end=texts.hour(interval.end)
                    )
                ],
            ),
        )

    async def save_day(self, turn: Turn, value: dict[str, Any]) -> None:
        assert turn.worker is not None
        form = turn.form(value, "add_day")
        parsed = self._hours(value)
        kind = value.get("kind")
        if form is None:
            await self._stale(turn, value)
            return
        if parsed is None or kind not in {k.value for k in DayKind} or not self.local_calendar:
            await self._say(turn, texts.BAD_INPUT.format(what=f"{texts.BLOCK_DAY}, {texts.DAY_KIND_LABEL}"))
            return
        day, hours = parsed
        await self.service.add_day(now=turn.now, worker=turn.worker, day=day, kind=DayKind(kind), hours=hours)
        turn.consume(form["id"])
        await self._replace(turn, cards.notice(texts.DAY_TITLE, [texts.DAY_SAVED.format(date=texts.day(day))]))


def is_message(activity: Activity) -> bool:
    return activity.type == ActivityTypes.message
