"""Offering slots: what an agent may book now, and checking that a chosen slot is one of them."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from booking.absence import Absence
from booking.availability import Offer, offer_slots
from booking.errors import BookingRefused, RefusalReason
from booking.model import DayKind, Slot, Topic
from booking.plan import ExplicitDay
from booking.slots import alternatives
from bot.application.context import Context
from bot.application.ports import UnitOfWork

# Where « slot taken » looks for the nearest free slots: two weeks either side of the slot.
ALTERNATIVES_BEFORE = timedelta(days=14)
ALTERNATIVES_DAYS = 29

SLOT_KEY = re.compile(r"^(?P<worker>[a-z0-9_-]{1,64})@(?P<start>\d{8}T\d{4}Z)$")


def parse_slot_key(key: object) -> tuple[str, datetime]:
    """Parse a slot key from a card; anything malformed is a forged card."""
    if not isinstance(key, str) or (match := SLOT_KEY.match(key)) is None:
        raise BookingRefused(RefusalReason.SLOT_NOT_OFFERED)
    try:
        start = datetime.strptime(match["start"], "%Y%m%dT%H%MZ").replace(tzinfo=UTC)
    except ValueError as err:
        raise BookingRefused(RefusalReason.SLOT_NOT_OFFERED) from err
    return match["worker"], start


class Offers:
    def __init__(self, context: Context) -> None:
        self.context = context

    async def offer(
        self,
        *,
        now: datetime,
        site_id: str,
        topic_id: str | None,
        start: date | None = None,
        days: int = 14,
        kinds: Sequence[str] | None = None,
    ) -> Offer:
        topic = self.context.topic(topic_id, kinds)
        start = start or self.context.local_date(now)
        async with self.context.store.unit_of_work(read_only=True) as uow:
            schedules = await self.context.schedules(uow, now, start, start + timedelta(days=days), site_id=site_id)
        return offer_slots(now=now, site_id=site_id, topic=topic, start=start, days=days, schedules=schedules)

    async def worker_year(
        self, *, worker_id: str, start: date, end: date
    ) -> tuple[tuple[ExplicitDay, ...], list[Absence]]:
        """What the chat and Outlook changed of `worker_id`'s plan in [start, end): the days she
        added in her calendar, and every absence (declared, or out of office in Outlook)."""
        async with self.context.store.unit_of_work(read_only=True) as uow:
            schedules = await self.context.schedules(uow, self.context.local_midnight(start), start, end)
        calendar = schedules.calendars.get(worker_id)
        return (calendar.added_days if calendar else ()), list(schedules.absences)

    async def first_offer(
        self,
        *,
        now: datetime,
        site_id: str,
        topic_id: str | None,
        start: date | None = None,
        days: int = 14,
        kinds: Sequence[str] | None = None,
    ) -> Offer:
        """The first period with free slots, looking up to the booking horizon.

        At most two reads: the first period; if it has no free slot, the rest of the horizon at
        once, then period by period from what was read (a day's slots depend on that day alone)."""
        context = self.context
        start = start or context.local_date(now)
        horizon = max(p.horizon for p in context.deployment.plans.values())
        offer = await self.offer(now=now, site_id=site_id, topic_id=topic_id, start=start, days=days, kinds=kinds)
        later_starts = []
        while context.local_midnight(start) < now + horizon:
            start += timedelta(days=days)
            later_starts.append(start)
        if offer.slots or not later_starts:
            return offer
        topic = context.topic(topic_id, kinds)
        async with context.store.unit_of_work(read_only=True) as uow:
            schedules = await context.schedules(
                uow, now, later_starts[0], later_starts[-1] + timedelta(days=days), site_id=site_id
            )
        for later_start in later_starts:
            later = offer_slots(
                now=now, site_id=site_id, topic=topic, start=later_start, days=days, schedules=schedules
            )
            offer = dataclasses.replace(later, notice=offer.notice or later.notice)
            if offer.slots:
                break
        return offer

    async def validated_slot(
        self, uow: UnitOfWork, *, now: datetime, slot_key: object, site_id: str, topic: Topic | None
    ) -> tuple[Slot, list[Slot], list[Slot]]:
        """The slot a card names, if it is offered now: (slot, free slots of its day, planned
        slots of its day).

        Only the slot's own day is read and computed (a day's slots depend on that day alone),
        from what the calendar and the appointments say now, in the caller's transaction: a
        slot that became busy since it was offered is refused. The titular is the one an offer
        around that day names (as when this checked the four weeks around it)."""
        worker_id, start = parse_slot_key(slot_key)
        day = self.context.local_date(start)
        titular_on = day - ALTERNATIVES_BEFORE
        schedules = await self.context.schedules(uow, now, day, day + timedelta(days=1), site_id=site_id)
        free = list(
            offer_slots(
                now=now, site_id=site_id, topic=topic, start=day, days=1, schedules=schedules, titular_on=titular_on
            ).slots
        )
        planned = list(
            offer_slots(
                now=now,
                site_id=site_id,
                topic=topic,
                start=day,
                days=1,
                ignore_busy=True,
                schedules=schedules,
                titular_on=titular_on,
            ).slots
        )
        slot = next((s for s in [*free, *planned] if s.worker_id == worker_id and s.start == start), None)
        if slot is None:
            # Maybe valid for another topic (e.g. a retirement Friday with a housing topic).
            every_kind = Topic(id="", label="", day_kinds=frozenset(DayKind))
            any_topic = offer_slots(
                start=day,
                days=1,
                ignore_busy=True,
                now=now,
                site_id=site_id,
                topic=every_kind,
                schedules=schedules,
                titular_on=titular_on,
            ).slots
            if any(s.worker_id == worker_id and s.start == start for s in any_topic):
                raise BookingRefused(RefusalReason.TOPIC_NOT_ALLOWED)
            raise BookingRefused(RefusalReason.SLOT_NOT_OFFERED)
        return slot, free, planned

    async def taken_with_alternatives(
        self, now: datetime, slot_key: object, site_id: str, topic_id: str | None, kinds: Sequence[str] | None = None
    ) -> BookingRefused:
        """« Slot taken », with the nearest free slots of the same kind (read afresh, in the
        two weeks either side of the slot)."""
        _, start = parse_slot_key(slot_key)
        offer = await self.offer(
            now=now,
            site_id=site_id,
            topic_id=topic_id,
            start=self.context.local_date(start) - ALTERNATIVES_BEFORE,
            days=ALTERNATIVES_DAYS,
            kinds=kinds,
        )
        return BookingRefused(RefusalReason.SLOT_TAKEN, alternatives(start, offer.slots))
