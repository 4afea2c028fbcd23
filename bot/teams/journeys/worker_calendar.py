"""The worker's own time from the chat: declare an absence; with the embedded calendar, block a
time or add a day of presence (with Outlook she does those in Outlook)."""

from __future__ import annotations

from datetime import date, time
from typing import Any

from booking.model import DayKind
from booking.plan import DayHours
from bot import texts
from bot.application.absences import InvalidAbsence
from bot.application.context import AccessDenied
from bot.teams import cards
from bot.teams.journeys.base import Journey, worker_of
from bot.teams.router import Rejected, Route, Submit
from bot.teams.turn import Turn


def _date(value: object) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _time(value: object) -> time | None:
    try:
        return time.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


class WorkerCalendarJourney(Journey):
    def routes(self) -> dict[str, Route]:
        return {
            "absence": Route(handler=self.start_absence, worker_only=True),
            "absence_save": Route(handler=self.save_absence, forms=("absence",), worker_only=True, consumes=True),
            "block": Route(handler=self.start_block, worker_only=True),
            "block_save": Route(handler=self.save_block, forms=("block",), worker_only=True, consumes=True),
            "add_day": Route(handler=self.start_add_day, worker_only=True),
            "add_day_save": Route(handler=self.save_day, forms=("add_day",), worker_only=True, consumes=True),
        }

    def _today(self, turn: Turn) -> date:
        return self.app.context.local_date(turn.now)

    async def start_absence(self, turn: Turn, submit: Submit) -> None:
        chain = self.directory.replacement_chain(worker_of(turn).id)
        await turn.send(cards.absence_form(turn.issue("absence"), chain, self._today(turn).isoformat()))

    async def save_absence(self, turn: Turn, submit: Submit) -> None:
        start, end = _date(submit.value.get("start")), _date(submit.value.get("end"))
        replacement = submit.value.get("replacement") or None
        if start is None or end is None or end < start:
            raise Rejected(texts.BAD_INPUT.format(what=f"{texts.ABSENCE_FROM}, {texts.ABSENCE_TO}"))
        try:
            await self.app.absences.declare(
                now=turn.now,
                worker=worker_of(turn),
                start=start,
                end=end,
                replacement_id=replacement if isinstance(replacement, str) else None,
            )
        except (InvalidAbsence, AccessDenied) as err:
            raise Rejected(texts.BAD_INPUT.format(what=f"{texts.ABSENCE_FROM}, {texts.ABSENCE_REPLACEMENT}")) from err
        saved = texts.ABSENCE_SAVED.format(start=texts.day(start), end=texts.day(end))
        await turn.replace(cards.notice(texts.ABSENCE_TITLE, [saved]))

    async def start_block(self, turn: Turn, submit: Submit) -> None:
        if not self.services.local_calendar:
            await turn.say(texts.WORKER_ONLY_LOCAL)
            return
        await turn.send(cards.block_form(turn.issue("block"), self._today(turn).isoformat()))

    async def start_add_day(self, turn: Turn, submit: Submit) -> None:
        if not self.services.local_calendar:
            await turn.say(texts.WORKER_ONLY_LOCAL)
            return
        await turn.send(cards.add_day_form(turn.issue("add_day"), self._today(turn).isoformat()))

    def _hours(self, turn: Turn, value: dict[str, Any]) -> tuple[date, DayHours] | None:
        day, start, end = _date(value.get("day")), _time(value.get("start")), _time(value.get("end"))
        if day is None or start is None or end is None or end <= start or day < self._today(turn):
            return None
        return day, DayHours(start=start, end=end)

    async def save_block(self, turn: Turn, submit: Submit) -> None:
        parsed = self._hours(turn, submit.value)
        if parsed is None or not self.services.local_calendar:
            raise Rejected(texts.BAD_INPUT.format(what=f"{texts.BLOCK_DAY}, {texts.BLOCK_FROM}, {texts.BLOCK_TO}"))
        day, hours = parsed
        interval = await self.app.local_calendar.block_time(now=turn.now, worker=worker_of(turn), day=day, hours=hours)
        saved = texts.BLOCK_SAVED.format(
            date=texts.day(day), start=texts.hour(interval.start), end=texts.hour(interval.end)
        )
        await turn.replace(cards.notice(texts.BLOCK_TITLE, [saved]))

    async def save_day(self, turn: Turn, submit: Submit) -> None:
        parsed = self._hours(turn, submit.value)
        kind = submit.value.get("kind")
        if parsed is None or kind not in {k.value for k in DayKind} or not self.services.local_calendar:
            raise Rejected(texts.BAD_INPUT.format(what=f"{texts.BLOCK_DAY}, {texts.DAY_KIND_LABEL}"))
        day, hours = parsed
        await self.app.local_calendar.add_day(
            now=turn.now, worker=worker_of(turn), day=day, kind=DayKind(kind), hours=hours
        )
        await turn.replace(cards.notice(texts.DAY_TITLE, [texts.DAY_SAVED.format(date=texts.day(day))]))
