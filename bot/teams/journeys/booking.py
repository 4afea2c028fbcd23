"""Booking: site, topic, mode and message; slots by day; summary; confirmation (also used to
move an appointment to another slot)."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from booking.errors import BookingRefused, RefusalReason
from booking.model import AppointmentStatus, Mode
from booking.records import ConcurrentChange, StoredAppointment
from bot import texts
from bot.application.context import AlreadyDone
from bot.application.offers import parse_slot_key
from bot.teams import cards, views
from bot.teams.journeys.base import Journey
from bot.teams.router import Rejected, Route, Stale, Submit
from bot.teams.turn import Form, Turn

PHONE = re.compile(r"^\+?[0-9 .()-]{6,20}$")
PAGE_DAYS = 14
SLOTS_PER_CARD = 24
MAX_MESSAGE = 1000
REQUEST_KEYS = ("site", "topic", "mode", "message", "phone", "reschedule", "kinds")


def request_of(form: Form) -> dict[str, Any]:
    """What the agent asked for, carried from form to form."""
    return {k: form.get(k) for k in REQUEST_KEYS}


class BookingJourney(Journey):
    def routes(self) -> dict[str, Route]:
        return {
            "book": Route(handler=self.start),
            "site": Route(handler=self.choose_site, forms=("site",), consumes=True),
            "change_site": Route(handler=self.change_site, forms=("booking",), consumes=True),
            "slots": Route(handler=self.show_slots, forms=("booking",), consumes=True),
            "more": Route(handler=self.more_slots, forms=("slots",), consumes=True),
            "earlier": Route(handler=self.earlier_slots, forms=("slots",), consumes=True),
            "pick": Route(handler=self.pick_slot, forms=("slots",), consumes=True),
            "back": Route(handler=self.back_to_slots, forms=("summary",), consumes=True),
            "confirm": Route(handler=self.confirm, forms=("summary",), consumes=True),
            "abandon": Route(handler=self.abandon, forms=("slots", "summary"), consumes=True),
        }

    async def start(self, turn: Turn, submit: Submit) -> None:
        if (full := await self._full(turn)) is not None:
            await turn.send(full)
            return
        profile = await self.app.people.profile(turn.agent_id)
        if profile.site_id is None:
            await turn.send(cards.site_picker(turn.issue("site"), self.directory.sites, None))
            return
        await turn.send(self._form(turn, profile.site_id, profile.phone))

    async def _full(self, turn: Turn) -> cards.Card | None:
        """She already holds as many upcoming appointments as she may: told at the first step,
        and again instead of a review whose « Confirmer » could only be refused."""
        most = self.deployment.booking.max_upcoming
        count = len(await self.app.bookings.mine(now=turn.now, agent_id=turn.agent_id))
        if count < most:
            return None
        return cards.notice(
            texts.LIMIT_TITLE,
            [texts.LIMIT_BODY.format(most=most, count=count), texts.URGENT_PATH],
            [
                cards.submit(texts.ACTION_MINE, "mine", style="positive"),
                cards.submit(texts.ACTION_URGENT, "urgent", style="destructive"),
            ],
        )

    def _form(self, turn: Turn, site_id: str, phone: str) -> cards.Card:
        return cards.booking_form(
            turn.issue("booking", site=site_id),
            self.directory.site(site_id),
            self.directory.topics,
            views.modes_for(self.deployment, site_id),
            phone=phone,
        )

    async def choose_site(self, turn: Turn, submit: Submit) -> None:
        site_id = submit.value.get("site")
        if not isinstance(site_id, str) or site_id not in {s.id for s in self.directory.sites}:
            raise Rejected(texts.BAD_INPUT.format(what=texts.SITE_LABEL))
        profile = await self.app.people.choose_site(turn.agent_id, site_id, turn.now)
        await turn.replace(self._form(turn, site_id, profile.phone))

    async def change_site(self, turn: Turn, submit: Submit) -> None:
        current = submit.checked_form["site"]
        await turn.replace(cards.site_picker(turn.issue("site"), self.directory.sites, current))

    async def show_slots(self, turn: Turn, submit: Submit) -> None:
        value = submit.value
        site_id: str = submit.checked_form["site"]
        topic = value.get("topic") or None
        mode = value.get("mode")
        message = value.get("message") or ""
        phone = value.get("phone") or ""
        problems = []
        if topic is not None and topic not in {t.id for t in self.directory.topics}:
            problems.append(texts.TOPIC_LABEL)
        if mode not in views.modes_for(self.deployment, site_id):
            problems.append(texts.MODE_LABEL)
        if not isinstance(message, str) or len(message) > MAX_MESSAGE:
            problems.append(texts.MESSAGE_LABEL)
        phone = phone.strip() if isinstance(phone, str) else "?"
        if (phone and not PHONE.match(phone)) or (mode == Mode.PHONE.value and not phone):
            problems.append(texts.PHONE_LABEL)
        if problems:
            raise Rejected(texts.BAD_INPUT.format(what=" ; ".join(problems)))
        if (full := await self._full(turn)) is not None:
            await turn.replace(full)
            return
        # The phone is remembered with the booking (its own transaction), not on the way there.
        request = {
            "site": site_id,
            "topic": topic,
            "mode": mode,
            "message": message,
            "phone": phone,
            "reschedule": None,
        }
        await self.offer(turn, request, start=None, replace=True)

    async def offer(
        self,
        turn: Turn,
        request: dict[str, Any],
        *,
        start: str | None,
        replace: bool,
        heading: str = texts.SLOTS_TITLE,
        earlier: list[str | None] | None = None,
    ) -> None:
        """A card of the first free slots from `start` (ISO date), for `request`; `earlier`: the
        starts of the pages shown before this one (« Dates précédentes » goes back to the last)."""
        offer = await self.app.offers.first_offer(
            now=turn.now,
            site_id=request["site"],
            topic_id=request["topic"],
            start=date.fromisoformat(start) if start else None,
            days=PAGE_DAYS,
            kinds=request.get("kinds"),
        )
        shown = list(offer.slots[:SLOTS_PER_CARD])
        notice = []
        if offer.notice is not None:
            notice = views.absence_notice(self.deployment, offer.notice.return_at, offer.notice.acting_id)
        elif not shown and start is None:  # nothing open in the whole horizon, not only on this page
            notice = views.nothing_open_notice(self.deployment)
        local_date = self.app.context.local_date
        next_start = (local_date(shown[-1].start) + timedelta(days=1)).isoformat() if shown else None
        earlier = list(earlier or [])
        form = turn.issue(
            "slots",
            **request,
            slots=[s.key for s in shown],
            start=start,
            next=next_start,
            earlier=earlier,
            heading=heading,
        )
        card = cards.slots(
            form, views.by_day(shown), notice=notice, more=bool(shown), heading=heading, earlier=bool(earlier)
        )
        await (turn.replace(card) if replace else turn.send(card))

    async def more_slots(self, turn: Turn, submit: Submit) -> None:
        form = submit.checked_form
        if not form.get("next"):
            await turn.say(texts.STALE_CARD)
            return
        earlier = [*self._earlier(form), form.get("start")]
        await self.offer(
            turn, request_of(form), start=form["next"], replace=True, earlier=earlier, heading=self._heading(form)
        )

    async def earlier_slots(self, turn: Turn, submit: Submit) -> None:
        form = submit.checked_form
        earlier = self._earlier(form)
        if not earlier:
            raise Stale
        await self.offer(
            turn, request_of(form), start=earlier[-1], replace=True, earlier=earlier[:-1], heading=self._heading(form)
        )

    @staticmethod
    def _earlier(form: Form) -> list[str | None]:
        earlier = form.get("earlier") or []
        return [e for e in earlier if e is None or isinstance(e, str)]

    @staticmethod
    def _heading(form: Form) -> str:
        heading = form.get("heading")
        return heading if isinstance(heading, str) and heading else texts.SLOTS_TITLE

    async def back_to_slots(self, turn: Turn, submit: Submit) -> None:
        form = submit.checked_form
        await self.offer(
            turn,
            request_of(form),
            start=form.get("start"),
            replace=True,
            earlier=self._earlier(form),
            heading=self._heading(form),
        )

    async def pick_slot(self, turn: Turn, submit: Submit) -> None:
        form = submit.checked_form
        key = submit.value.get("slot")
        if key not in form["slots"]:  # never offered on this card: forged
            raise Rejected(texts.REFUSALS[RefusalReason.SLOT_NOT_OFFERED])
        request = request_of(form)
        if not request["reschedule"] and (full := await self._full(turn)) is not None:
            await turn.replace(full)
            return
        # A move keeps what she chose when booking: the offer is made for a new booking only.
        invitation = self.services.outlook_invitation and not request["reschedule"]
        summary = turn.issue(
            "summary",
            **request,
            slot=key,
            start=form.get("start"),
            invitation=invitation,
            earlier=self._earlier(form),
            heading=self._heading(form),
        )
        worker_id, start = parse_slot_key(key)
        how, where = views.how_where(self.deployment, request["mode"], request["site"])
        topic_id, was = request["topic"], None
        if request["reschedule"]:  # a move: the appointment's own topic, and the time it leaves
            try:
                moving, topic_id = await self.app.bookings.to_move(
                    agent_id=turn.agent_id, appointment_id=request["reschedule"]
                )
            except BookingRefused as refused:
                raise Rejected(texts.REFUSALS.get(refused.reason.value, texts.REFUSALS["unknown"])) from refused
            was = moving.appointment.start
        topic = self._topic_label(topic_id)
        worker = self.directory.worker(worker_id)
        await turn.replace(
            cards.summary(
                summary,
                when=start,
                how=how,
                where=where,
                topic=topic,
                worker=worker,
                invitation=invitation,
                phone=request["phone"] or "",
                call=request["mode"] == Mode.PHONE.value,
                was=was,
            )
        )

    def _topic_label(self, topic_id: str | None) -> str:
        if not topic_id:
            return ""
        try:
            return self.directory.topic(topic_id).label
        except KeyError:  # a topic the plan no longer has
            return ""

    @staticmethod
    def _invite(submit: Submit) -> bool:
        """Whether she ticked the Outlook invitation (only if the card offered it)."""
        value = submit.value.get("invite", "false")
        if value not in ("true", "false", True, False):
            raise Rejected(texts.BAD_INPUT.format(what=texts.INVITE_LABEL))
        return bool(submit.checked_form.get("invitation")) and value in ("true", True)

    async def confirm(self, turn: Turn, submit: Submit) -> None:
        form = submit.checked_form
        request = request_of(form)
        moved = bool(request["reschedule"])
        invite = self._invite(submit)
        if request["mode"] == Mode.PHONE.value and not moved:
            # The number to call, as she checked (or corrected) it on the review card.
            phone = submit.value.get("phone", request["phone"])
            phone = phone.strip() if isinstance(phone, str) else ""
            if not PHONE.match(phone):
                raise Rejected(texts.BAD_INPUT.format(what=texts.SUMMARY_PHONE))
            request["phone"] = phone
        try:
            if moved:
                stored = await self.app.bookings.reschedule(
                    now=turn.now,
                    agent_id=turn.agent_id,
                    appointment_id=request["reschedule"],
                    slot_key=form["slot"],
                    site_id=request["site"],
                    key=form["id"],
                    link_notice=self.services.meeting_links,
                )
            else:
                stored = await self.app.bookings.book(
                    now=turn.now,
                    agent_id=turn.agent_id,
                    site_id=request["site"],
                    slot_key=form["slot"],
                    mode=Mode(request["mode"]),
                    topic_id=request["topic"],
                    message=request["message"] or "",
                    phone=request["phone"] or "",
                    invite_agent=invite,
                    key=form["id"],
                    link_notice=self.services.meeting_links,
                )
        except AlreadyDone as done:
            await turn.say(await self._done_text(turn, done.ref, moved=moved))
            return
        except BookingRefused as refused:
            turn.refused = True  # nothing was booked: the card's « Confirmer » may work later
            await self._refused(turn, refused, request)
            return
        except ConcurrentChange:
            await turn.say(texts.STALE_CARD)
            return
        turn.done = self.done_text(stored, moved=moved)
        # The outbox is waited for when what she sees depends on it: the Teams link the calendar
        # writes, her earlier lists a move updates in place. A new booking's other work (the
        # calendar event, the worker's notice) only wakes it.
        await self.after_effect(
            turn,
            stored.id,
            lambda: self._show_confirmation(turn, stored, moved=moved, phone=request["phone"] or ""),
            wait=moved or self._link_to_come(stored),
        )

    def _link_to_come(self, stored: StoredAppointment) -> bool:
        return self.services.meeting_links and stored.appointment.mode is Mode.TEAMS and not stored.join_url

    @staticmethod
    def done_text(stored: StoredAppointment, *, moved: bool) -> str:
        when = texts.day_and_hour(stored.appointment.start)
        if moved:
            return texts.DONE_MOVED.format(date=when)
        if stored.appointment.status is AppointmentStatus.REQUESTED:
            return texts.DONE_REQUESTED.format(date=when)
        return texts.DONE_BOOKED.format(date=when)

    async def _done_text(self, turn: Turn, ref: str, *, moved: bool) -> str:
        """A repeated confirmation (another click, another replica): what the first one did."""
        try:
            stored = await self.app.bookings.get(agent_id=turn.agent_id, appointment_id=ref)
        except BookingRefused:
            return texts.ALREADY_DONE
        return self.done_text(stored, moved=moved)

    async def _show_confirmation(self, turn: Turn, stored: StoredAppointment, *, moved: bool, phone: str = "") -> None:
        await turn.replace(await self._confirmation(turn, stored, moved=moved, phone=phone))

    async def _refused(self, turn: Turn, refused: BookingRefused, request: dict[str, Any]) -> None:
        message = texts.REFUSALS.get(refused.reason.value, texts.REFUSALS["unknown"])
        if refused.reason is not RefusalReason.SLOT_TAKEN:
            await turn.say(message)
            return
        alternatives = list(refused.alternatives)
        form = turn.issue("slots", **request, slots=[s.key for s in alternatives], start=None, next=None)
        await turn.replace(cards.slots(form, views.by_day(alternatives), notice=[message], more=False))

    async def _confirmation(self, turn: Turn, stored: StoredAppointment, *, moved: bool, phone: str = "") -> cards.Card:
        links = self.services.meeting_links
        if self._link_to_come(stored):
            # Read again: the outbox may have added the Teams link meanwhile (its notice, queued
            # with the booking, is then withdrawn). Nothing else on the card can have changed.
            stored = await self.app.bookings.confirmation(
                agent_id=turn.agent_id, appointment_id=stored.id, now=turn.now
            )
        appointment = stored.appointment
        how, where = views.how_where(self.deployment, appointment.mode.value, stored.site_id)
        notes = []
        if appointment.status is AppointmentStatus.REQUESTED:
            heading = texts.REQUESTED_TITLE
            notes.append(texts.REQUESTED_BODY)
        else:
            heading = texts.MOVED_TITLE if moved else texts.CONFIRMED_TITLE
        if appointment.mode is Mode.TEAMS and not stored.join_url:
            notes.append(texts.TEAMS_LINK_LATER if links else texts.TEAMS_LINK_BY_WORKER)
        if appointment.mode is Mode.PHONE:
            notes.append(texts.PHONE_CALL_AT.format(phone=phone) if phone else texts.PHONE_CALL)
        return cards.confirmation(
            heading=heading,
            when=appointment.start,
            how=how,
            where=where,
            reference=stored.reference,
            join_url=stored.join_url,
            notes=notes,
        )

    async def abandon(self, turn: Turn, submit: Submit) -> None:
        await turn.replace(cards.notice(texts.ABANDONED, []))
