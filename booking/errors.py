"""Typed domain errors with machine-readable reasons (messages carry no personal data)."""

from __future__ import annotations

import enum
from collections.abc import Sequence

from booking.model import Slot


class RefusalReason(enum.StrEnum):
    SLOT_TAKEN = "slot_taken"
    SLOT_NOT_OFFERED = "slot_not_offered"
    IN_PAST = "in_past"
    TOO_LATE = "too_late"  # inside the minimum notice or the change notice
    BEYOND_HORIZON = "beyond_horizon"
    LIMIT_REACHED = "limit_reached"
    NOT_OWNER = "not_owner"
    NOT_ACTIVE = "not_active"
    TOPIC_NOT_ALLOWED = "topic_not_allowed"
    MODE_NOT_ALLOWED = "mode_not_allowed"
    UNKNOWN = "unknown"


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""


class PlanError(DomainError):
    """The permanence plan document is invalid."""


class BookingRefused(DomainError):
    """A booking, cancellation or change was refused by a rule."""

    def __init__(self, reason: RefusalReason, alternatives: Sequence[Slot] = ()) -> None:
        super().__init__(reason.value)
        self.reason = reason
        self.alternatives: tuple[Slot, ...] = tuple(alternatives)
