"""Domain values: sites, workers, zones, topics, modes, intervals, slots and appointments."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


class DayKind(enum.StrEnum):
    """What a bookable day is for."""

    PERMANENCE = "permanence"
    RETIREMENT = "retirement"
    EXTRA = "extra"


class Mode(enum.StrEnum):
    """How an appointment takes place."""

    IN_PERSON = "in_person"  # at the permanence office (bureau 16, head office)
    TEAMS = "teams"
    PHONE = "phone"
    OTHER_SITE = "other_site"  # a request the worker accepts or declines
    HOME_VISIT = "home_visit"  # a request the worker accepts or declines

    @property
    def needs_acceptance(self) -> bool:
        return self in (Mode.OTHER_SITE, Mode.HOME_VISIT)

    @property
    def is_remote(self) -> bool:
        return self in (Mode.TEAMS, Mode.PHONE)


class WorkerRole(enum.StrEnum):
    TITULAR = "titular"
    REPLACEMENT = "replacement"


class AppointmentStatus(enum.StrEnum):
    REQUESTED = "requested"  # other site / home visit, awaiting the worker's answer
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    DECLINED = "declined"

    @property
    def is_active(self) -> bool:
        """Active appointments hold their slot."""
        return self in (AppointmentStatus.REQUESTED, AppointmentStatus.CONFIRMED)


def ensure_utc(value: datetime, what: str = "datetime") -> datetime:
    """Return `value` in UTC, refusing naive datetimes (they hide time-zone bugs)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware")
    return value.astimezone(UTC)


@dataclass(frozen=True, kw_only=True, slots=True)
class Site:
    id: str
    name: str
    department: str
    head_office: bool = False
    address: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class Worker:
    id: str
    name: str
    role: WorkerRole
    phone: str = ""
    object_id: str = ""  # Entra object id, set from settings at deployment
    mailbox: str = ""  # Outlook mailbox (UPN or id)


@dataclass(frozen=True, kw_only=True, slots=True)
class Zone:
    """The sites a worker serves."""

    id: str
    worker_id: str
    site_ids: frozenset[str]


@dataclass(frozen=True, kw_only=True, slots=True)
class Topic:
    id: str
    label: str
    day_kinds: frozenset[DayKind]


@dataclass(frozen=True, kw_only=True, slots=True, order=True)
class Interval:
    """A half-open time interval [start, end) in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", ensure_utc(self.start, "start"))
        object.__setattr__(self, "end", ensure_utc(self.end, "end"))
        if self.end <= self.start:
            raise ValueError("an interval must end after it starts")

    def overlaps(self, other: Interval) -> bool:
        return self.start < other.end and other.start < self.end

    def contains(self, instant: datetime) -> bool:
        return self.start <= instant < self.end

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


@dataclass(frozen=True, kw_only=True, slots=True, order=True)
class Slot:
    """A bookable period of one worker on one kind of day."""

    start: datetime
    end: datetime
    worker_id: str
    kind: DayKind
    site_id: str
    place: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", ensure_utc(self.start, "start"))
        object.__setattr__(self, "end", ensure_utc(self.end, "end"))
        if self.end <= self.start:
            raise ValueError("a slot must end after it starts")

    @property
    def interval(self) -> Interval:
        return Interval(start=self.start, end=self.end)

    @property
    def key(self) -> str:
        """Stable identifier, used in cards to name an offered slot."""
        return f"{self.worker_id}@{self.start.strftime('%Y%m%dT%H%MZ')}"


@dataclass(frozen=True, kw_only=True, slots=True)
class Appointment:
    id: str
    worker_id: str
    agent_id: str
    start: datetime
    end: datetime
    mode: Mode
    kind: DayKind
    status: AppointmentStatus
    urgent: bool = False
    topic_id: str | None = None
    version: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", ensure_utc(self.start, "start"))
        object.__setattr__(self, "end", ensure_utc(self.end, "end"))
        if self.end <= self.start:
            raise ValueError("an appointment must end after it starts")

    @property
    def interval(self) -> Interval:
        return Interval(start=self.start, end=self.end)
