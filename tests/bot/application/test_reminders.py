"""The reminder rule: only a confirmed appointment that still starts when the reminder was queued."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from booking.model import AppointmentStatus
from bot.application.reminders import reminder_still_applies
from tests.helpers.store import SLOT, appointment


def test_a_confirmed_appointment_at_its_queued_time_is_reminded():
    assert reminder_still_applies(appointment("agent", SLOT), SLOT.isoformat())


def test_a_moved_appointment_is_not_reminded_by_its_old_reminders():
    moved = appointment("agent", SLOT + timedelta(hours=1))
    assert not reminder_still_applies(moved, SLOT.isoformat())
    assert not reminder_still_applies(moved, None)


def test_only_a_confirmed_appointment_is_reminded():
    for status in AppointmentStatus:
        stated = dataclasses.replace(appointment("agent", SLOT), status=status)
        assert reminder_still_applies(stated, SLOT.isoformat()) is (status is AppointmentStatus.CONFIRMED), status
