"""My appointments: the agent's upcoming appointments, to cancel or move."""

from __future__ import annotations

from booking.errors import BookingRefused
from booking.model import AppointmentStatus
from booking.records import ConcurrentChange, StoredAppointment
from bot import texts
from bot.application.context import AlreadyDone
from bot.teams import cards, views
from bot.teams.journeys.base import Journey, Services
from bot.teams.journeys.booking import BookingJourney
from bot.teams.router import Rejected, Route, Submit
from bot.teams.turn import Turn


class MineJourney(Journey):
    def __init__(self, services: Services, booking: BookingJourney) -> None:
        super().__init__(services)
        self.booking = booking

    def routes(self) -> dict[str, Route]:
        return {
            "mine": Route(handler=self.show),
            "move": Route(handler=self.start_move, forms=("mine",)),
            "cancel": Route(handler=self.ask_cancel, forms=("mine",)),
            "cancel_yes": Route(handler=self.cancel, forms=("cancel",), consumes=True),
            "cancel_no": Route(handler=self.keep, forms=("cancel",), consumes=True),
        }

    async def show(self, turn: Turn, submit: Submit) -> None:
        appointments = await self.app.bookings.mine(now=turn.now, agent_id=turn.agent_id)
        # Nothing listed, nothing to act on: no form (and no state to write).
        form = turn.reissue("mine", appointments=[a.id for a in appointments]) if appointments else ""
        rows = []
        for stored in appointments:
            how, where = views.how_where(self.deployment, stored.appointment.mode.value, stored.site_id)
            note = texts.STATUS_REQUESTED if stored.appointment.status is AppointmentStatus.REQUESTED else ""
            rows.append((stored.id, stored.appointment.start, how, where, note))
        await turn.send(cards.my_appointments(form, rows))

    async def _chosen(self, turn: Turn, submit: Submit) -> StoredAppointment:
        appointment_id = submit.value.get("appointment")
        if appointment_id not in submit.checked_form["appointments"]:
            raise Rejected(texts.REFUSALS["not_owner"])
        mine = await self.app.bookings.mine(now=turn.now, agent_id=turn.agent_id)
        stored = next((a for a in mine if a.id == appointment_id), None)
        if stored is None:
            raise Rejected(texts.REFUSALS["not_active"])
        return stored

    async def ask_cancel(self, turn: Turn, submit: Submit) -> None:
        stored = await self._chosen(turn, submit)
        form = turn.issue("cancel", appointment=stored.id)
        await turn.send(cards.cancel_confirm(form, stored.appointment.start))

    async def cancel(self, turn: Turn, submit: Submit) -> None:
        form = submit.checked_form
        try:
            cancelled = await self.app.bookings.cancel(
                now=turn.now, agent_id=turn.agent_id, appointment_id=form["appointment"], key=form["id"]
            )
        except AlreadyDone:
            stored = await self.app.bookings.get(agent_id=turn.agent_id, appointment_id=form["appointment"])
            await turn.say(texts.DONE_CANCELLED.format(date=texts.day_and_hour(stored.appointment.start)))
            return
        except BookingRefused as refused:
            turn.refused = True  # nothing was cancelled: never answered later as done
            await turn.say(texts.REFUSALS.get(refused.reason.value, texts.REFUSALS["unknown"]))
            return
        except ConcurrentChange:
            await turn.say(texts.STALE_CARD)
            return
        when = texts.day_and_hour(cancelled.appointment.start)
        turn.done = texts.DONE_CANCELLED.format(date=when)
        await self.after_effect(
            turn, cancelled.id, lambda: turn.replace(cards.notice(texts.CANCELLED.format(date=when), []))
        )

    async def keep(self, turn: Turn, submit: Submit) -> None:
        await turn.replace(cards.notice(texts.KEPT, []))

    async def start_move(self, turn: Turn, submit: Submit) -> None:
        stored = await self._chosen(turn, submit)
        if stored.appointment.start - turn.now < self.deployment.booking.change_notice:
            raise Rejected(texts.REFUSALS["too_late"])
        request = {
            "site": stored.site_id,
            "topic": None,
            "mode": stored.appointment.mode.value,
            "message": "",
            "reschedule": stored.id,
            "kinds": [stored.appointment.kind.value],
        }
        heading = f"{texts.MOVE} : {texts.day_and_hour(stored.appointment.start)}"
        await self.booking.offer(turn, request, start=None, replace=False, heading=heading)
