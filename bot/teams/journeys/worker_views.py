"""The worker's views in the chat: agenda of the day or week, requests to accept or decline,
urgent requests to take. Who and why appear only here, in her own conversation."""

from __future__ import annotations

from datetime import date, timedelta

from booking.errors import BookingRefused
from booking.model import AppointmentStatus
from booking.records import ConcurrentChange
from bot import texts
from bot.application.context import AccessDenied, AlreadyDone
from bot.teams import cards, views
from bot.teams.journeys.base import Journey, item_of, worker_of
from bot.teams.router import Rejected, Route, Submit
from bot.teams.turn import Turn


class WorkerViewsJourney(Journey):
    def routes(self) -> dict[str, Route]:
        return {
            "agenda": Route(handler=self.agenda, worker_only=True),
            "agenda_week": Route(handler=self.agenda_week, worker_only=True),
            "requests": Route(handler=self.requests, worker_only=True),
            "accept": Route(handler=self.accept, forms=("requests",), worker_only=True),
            "decline": Route(handler=self.decline, forms=("requests",), worker_only=True),
            "urgent_list": Route(handler=self.urgent_list, worker_only=True),
            "take": Route(handler=self.take, forms=("urgent_list",), worker_only=True),
        }

    async def agenda(self, turn: Turn, submit: Submit) -> None:
        if submit.value.get("period") == "week":
            await self.agenda_week(turn, submit)
        else:
            await self._agenda(turn, self.app.context.local_date(turn.now), days=1)

    async def agenda_week(self, turn: Turn, submit: Submit) -> None:
        """The calendar week (Monday to Sunday) of today, or of the day a previous/next button names."""
        day = self.app.context.local_date(turn.now)
        asked = submit.value.get("start")
        if asked is not None:
            try:
                day = date.fromisoformat(str(asked))
            except ValueError as err:
                raise Rejected(texts.BAD_INPUT.format(what="la semaine demandée")) from err
        await self._agenda(turn, day - timedelta(days=day.weekday()), days=7)

    async def _agenda(self, turn: Turn, start: date, *, days: int) -> None:
        items = await self.app.worker_views.agenda(now=turn.now, worker=worker_of(turn), start=start, days=days)
        topics = {t.id: t.label for t in self.directory.topics}
        rows = []
        for item in items:
            appointment = item.appointment.appointment
            how, where = views.how_where(self.deployment, appointment.mode.value, item.appointment.site_id)
            topic_id = item.details.topic_id or ""
            rows.append(
                (
                    appointment.start,
                    cards.literal(item.details.agent_name) or item.appointment.reference,
                    [
                        ("Site", self.directory.site(item.appointment.site_id).name),
                        ("Mode", how),
                        ("Lieu", where),
                        ("Sujet", topics.get(topic_id, topic_id)),
                        ("Message", cards.literal(item.details.message)),
                        ("Téléphone", cards.literal(item.details.phone)),
                        ("Référence", item.appointment.reference),
                        ("Avec", self.directory.worker(appointment.worker_id).name),
                        ("Statut", texts.STATUS_REQUESTED if appointment.status is AppointmentStatus.REQUESTED else ""),
                    ],
                )
            )
        if days == 1:
            await turn.send(cards.agenda(texts.day(start), rows))
            return
        sunday = start + timedelta(days=6)
        label = texts.AGENDA_WEEK.format(monday=texts.day(start, year=False), sunday=texts.day(sunday))
        week = timedelta(days=7)
        await turn.send(cards.agenda(label, rows, weeks=(start - week, start + week)))

    async def requests(self, turn: Turn, submit: Submit) -> None:
        items = await self.app.worker_views.pending_requests(now=turn.now, worker=worker_of(turn))
        form = turn.issue("requests", ids=[i.appointment.id for i in items])
        rows = [
            (
                i.appointment.id,
                f"{texts.day_and_hour(i.appointment.appointment.start)} · "
                f"{texts.MODE_LABELS[i.appointment.appointment.mode.value]}",
                [
                    ("Agent", cards.literal(i.details.agent_name)),
                    ("Site", self.directory.site(i.appointment.site_id).name),
                    ("Message", cards.literal(i.details.message)),
                    ("Téléphone", cards.literal(i.details.phone)),
                ],
            )
            for i in items
        ]
        choices = [(texts.ACCEPT, "accept", "positive"), (texts.DECLINE, "decline", None)]
        await turn.send(cards.decisions(texts.REQUESTS_TITLE, texts.REQUESTS_EMPTY, form, rows, choices))

    async def accept(self, turn: Turn, submit: Submit) -> None:
        await self._decide(turn, submit, accept=True)

    async def decline(self, turn: Turn, submit: Submit) -> None:
        await self._decide(turn, submit, accept=False)

    async def _decide(self, turn: Turn, submit: Submit, *, accept: bool) -> None:
        item = item_of(submit, "ids")
        try:
            decided = await self.app.worker_views.decide_request(
                now=turn.now,
                worker=worker_of(turn),
                appointment_id=item,
                accept=accept,
                key=f"{submit.checked_form['id']}:{item}",
            )
        except (AlreadyDone, AccessDenied, BookingRefused, ConcurrentChange):
            await turn.say(texts.ALREADY_DONE)
            return
        said = texts.DECIDED_ACCEPTED if accept else texts.DECIDED_DECLINED
        turn.done = texts.DONE_PREFIX + said
        await self.after_effect(turn, decided.id, lambda: turn.say(said))

    async def urgent_list(self, turn: Turn, submit: Submit) -> None:
        found = await self.app.urgent.open_for(now=turn.now, worker=worker_of(turn))
        form = turn.issue("urgent_list", ids=[f.request.id for f in found])
        rows = [
            (
                f.request.id,
                f"{f.request.reference} · {cards.literal(f.details.agent_name)}",
                [
                    ("Priorité", texts.URGENT_LIST_DANGER if f.details.danger else ""),
                    ("Reçue", texts.day_and_hour(f.request.received_at)),
                    ("Rappel avant", texts.day_and_hour(f.deadline) if f.deadline else ""),
                    ("Téléphone", cards.literal(f.details.phone)),
                    ("Disponibilités", cards.literal(f.details.availability)),
                    ("Situation", cards.literal(f.details.description)),
                    ("Site", self.directory.site(f.request.site_id).name),
                ],
            )
            for f in found
        ]
        await turn.send(
            cards.decisions(
                texts.URGENT_LIST_TITLE, texts.URGENT_LIST_EMPTY, form, rows, [(texts.TAKE_IT, "take", "positive")]
            )
        )

    async def take(self, turn: Turn, submit: Submit) -> None:
        item = item_of(submit, "ids")
        try:
            taken = await self.app.urgent.take(
                now=turn.now, worker=worker_of(turn), request_id=item, key=f"{submit.checked_form['id']}:{item}"
            )
        except (AlreadyDone, AccessDenied, ConcurrentChange):
            await turn.say(texts.ALREADY_DONE)
            return
        turn.done = texts.DONE_PREFIX + texts.TAKEN
        await self.after_effect(turn, taken.id, lambda: turn.say(texts.TAKEN))
