"""Absences of workers: merging, short/long classification and who acts for whom."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from booking.model import Interval, ensure_utc

LONG_ABSENCE = timedelta(days=14)  # contract §5.2: two calendar weeks
# The end of an absence nobody gave an end for (automatic replies turned on without dates).
# A real instant, far away, so that intervals, overlaps and storage need no special case;
# far enough below `datetime.max` that adding days or changing zone never overflows.
UNTIL_FURTHER_NOTICE = datetime(9000, 1, 1, tzinfo=UTC)


class AbsenceSource(enum.StrEnum):
    DECLARED = "declared"  # declared in Teams by the worker
    AUTOMATIC_REPLIES = "automatic_replies"  # Outlook out-of-office setting
    OOF_EVENT = "oof_event"  # an Outlook event shown as "out of office"


class AbsenceLength(enum.StrEnum):
    SHORT = "short"
    LONG = "long"


@dataclass(frozen=True, kw_only=True, slots=True, order=True)
class Absence:
    """A worker away from `start` to `end` (excluded).

    An open-ended absence (`Absence.open_ended(...)`, `is_open_ended`) has no known return:
    it lasts until its source says otherwise, and it counts as short until it has lasted
    two calendar weeks (`length_at`). A dated absence of the same worker that overlaps it
    gives its return date (`merge_absences`)."""

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

    @classmethod
    def open_ended(
        cls, *, worker_id: str, start: datetime, source: AbsenceSource, replacement_id: str | None = None
    ) -> Absence:
        return cls(
            worker_id=worker_id, start=start, end=UNTIL_FURTHER_NOTICE, source=source, replacement_id=replacement_id
        )

    @property
    def is_open_ended(self) -> bool:
        return self.end >= UNTIL_FURTHER_NOTICE

    @property
    def return_at(self) -> datetime | None:
        """When she is back, if anyone said so."""
        return None if self.is_open_ended else self.end

    @property
    def interval(self) -> Interval:
        return Interval(start=self.start, end=self.end)

    @property
    def length(self) -> AbsenceLength:
        """The length of a dated absence; an open-ended one is judged at an instant (`length_at`)."""
        if self.is_open_ended:
            raise ValueError("an open-ended absence has no length yet: use length_at(now)")
        return AbsenceLength.LONG if self.end - self.start >= LONG_ABSENCE else AbsenceLength.SHORT

    def length_at(self, now: datetime) -> AbsenceLength:
        """Short or long as seen at `now`: an open-ended absence becomes long once it has
        lasted two calendar weeks."""
        if not self.is_open_ended:
            return self.length
        lasted = ensure_utc(now, "now") - self.start
        return AbsenceLength.LONG if lasted >= LONG_ABSENCE else AbsenceLength.SHORT

    def covers(self, instant: datetime) -> bool:
        return self.start <= instant < self.end


def _with_return_dates(absences: Sequence[Absence]) -> list[Absence]:
    """Give each open-ended absence the return date its worker gave elsewhere: the end of
    the first dated absence of hers that ends after it began (declared in Teams, or an
    Outlook event shown as out of office)."""
    resolved: list[Absence] = []
    for absence in absences:
        if absence.is_open_ended:
            dated = [
                a
                for a in absences
                if a.worker_id == absence.worker_id and not a.is_open_ended and a.end > absence.start
            ]
            if dated:
                first = min(dated, key=lambda a: (a.start, a.end))
                absence = Absence(
                    worker_id=absence.worker_id,
                    start=absence.start,
                    end=first.end,
                    source=absence.source,
                    replacement_id=absence.replacement_id,
                )
        resolved.append(absence)
    return resolved


def merge_absences(absences: Iterable[Absence]) -> list[Absence]:
    """Merge overlapping or touching absences of the same worker (Outlook often has both
    an out-of-office setting and oof events for the same leave); an open-ended absence
    takes the return date given by a dated one first (`_with_return_dates`)."""
    merged: list[Absence] = []
    for absence in sorted(_with_return_dates(list(absences)), key=lambda a: (a.worker_id, a.start, a.end)):
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
