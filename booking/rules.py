"""Booking rules: what an agent may book, cancel or move, as typed refusals."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from booking.errors import BookingRefused, RefusalReason
from booking.model import Appointment, Mode, Site, Slot, Topic, ensure_utc
from booking.slots import GENERAL_DAYS, alternatives


@dataclass(frozen=True, kw_only=True, slots=True)
class BookingPolicy:
    max_upcoming: int = 2  # active future appointments an agent may hold
    change_notice: timedelta = timedelta(hours=24)  # cancel or move until this before

    def __post_init__(self) -> None:
        if self.max_upcoming < 1:
            raise ValueError("an agent must be allowed at least one appointment")


def check_new_booking(
    *,
    now: datetime,
    slot: Slot,
    free: Sequence[Slot],
    planned: Sequence[Slot],
    upcoming: int,
    policy: BookingPolicy,
    mode: Mode,
    agent_site: Site,
    topic: Topic | None,
) -> None:
    """Raise `BookingRefused` unless `slot` may be booked now.

    `free` are the slots bookable now, `planned` every slot the plans allow (taken or not):
    a slot in neither was never offered (a forged or stale card).
    """
    now = ensure_utc(now, "now")
    if slot.start <= now:
        raise BookingRefused(RefusalReason.IN_PAST)
    if slot.kind not in (topic.day_kinds if topic is not None else GENERAL_DAYS):
        raise BookingRefused(RefusalReason.TOPIC_NOT_ALLOWED)
    if mode is Mode.IN_PERSON and not agent_site.head_office:
        raise BookingRefused(RefusalReason.MODE_NOT_ALLOWED)
    if upcoming >= policy.max_upcoming:
        raise BookingRefused(RefusalReason.LIMIT_REACHED)
    if slot not in free:
        if slot in planned:
            raise BookingRefused(RefusalReason.SLOT_TAKEN, alternatives(slot.start, free))
        raise BookingRefused(RefusalReason.SLOT_NOT_OFFERED)


def check_change(*, now: datetime, appointment: Appointment, agent_id: str, policy: BookingPolicy) -> None:
    """Raise `BookingRefused` unless `agent_id` may cancel or move `appointment` now."""
    now = ensure_utc(now, "now")
    if appointment.agent_id != agent_id:
        raise BookingRefused(RefusalReason.NOT_OWNER)
    if not appointment.status.is_active:
        raise BookingRefused(RefusalReason.NOT_ACTIVE)
    if appointment.start <= now:
        raise BookingRefused(RefusalReason.IN_PAST)
    if appointment.start - now < policy.change_notice:
        raise BookingRefused(RefusalReason.TOO_LATE)
