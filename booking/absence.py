"""Absences of workers: merging, short/long classification and who acts for whom."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from booking.model import Interval, ensure_utc

LONG_ABSENCE = timedelta(days=14)  # contract §5.2: two calendar weeks


class AbsenceSource(enum.StrEnum):
    DECLARED = "declared"  # declared in Teams by the worker
    AUTOMATIC_REPLIES = "automatic_replies"  # Outlook out-of-office setting
    OOF_EVENT = "oof_event"  # an Outlook event shown as "out of office"


class AbsenceLength(enum.StrEnum):
    SHORT = "short"
    LONG = "long"


@dataclass(frozen=True, kw_only=True, slots=True, order=True)
class Absence:
    worker_id: str
    start: datetime
    end: datetime
    source: AbsenceSource = AbsenceSource.DECLARED
    replacement_id: str | None = None  # who was named to act, when declared with one

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", ensure_utc(self.start, "start"))
        object.__setattr__(self, "end", ensure_utc(self.end, "end"))
        if self.end <= self.start:
            raise ValueError("an absence must end after it starts")

    @property
    def interval(self) -> Interval:
        return Interval(start=self.start, end=self.end)

    @property
    def length(self) -> AbsenceLength:
        return AbsenceLength.LONG if self.end - self.start >= LONG_ABSENCE else AbsenceLength.SHORT

    def covers(self, instant: datetime) -> bool:
        return self.start <= instant < self.end


def merge_absences(absences: Iterable[Absence]) -> list[Absence]:
    """Merge overlapping or touching absences of the same worker (Outlook often has both
    an out-of-office setting and oof events for the same leave)."""
    merged: list[Absence] = []
    for absence in sorted(absences, key=lambda a: (a.worker_id, a.start, a.end)):
        last = merged[-1] if merged else None
        if last is not None and last.worker_id == absence.worker_id and absence.start <= last.end:
            merged[-1] = Absence(
                worker_id=last.worker_id,
                start=last.start,
                end=max(last.end, absence.end),
                source=last.source,
                replacement_id=last.replacement_id or absence.replacement_id,
            )
        else:
            merged.append(absence)
    return merged


def absence_at(worker_id: str, instant: datetime, absences: Sequence[Absence]) -> Absence | None:
    instant = ensure_utc(instant, "instant")
    for absence in merge_absences(a for a in absences if a.worker_id == worker_id):
        if absence.covers(instant):
            return absence
    return None


def is_present(worker_id: str, instant: datetime, absences: Sequence[Absence]) -> bool:
    return absence_at(worker_id, instant, absences) is None
