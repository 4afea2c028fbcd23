"""Whether a queued reminder still applies when its time comes."""

from __future__ import annotations

from booking.model import Appointment, AppointmentStatus


def reminder_still_applies(appointment: Appointment, queued_start: object) -> bool:
    """A reminder is sent for a confirmed appointment that still starts when it did at queueing
    time (`queued_start`, ISO 8601): one cancelled or moved since had its own reminders queued
    anew, and a request not yet accepted is not reminded."""
    return appointment.status is AppointmentStatus.CONFIRMED and appointment.start.isoformat() == queued_start
