"""Aggregate activity reports for HR and the social action committee (contract §4.3).

Only counts leave: any cell below the threshold is hidden, and when a dimension would show
exactly one hidden cell beside its total, the next smallest cell is hidden too, so that
no hidden count can be recovered by subtraction.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from booking.model import AppointmentStatus, DayKind, Mode, ensure_utc

HIDDEN = "masqué"  # not "< n": a cell hidden to protect another may itself be large


@dataclass(frozen=True, kw_only=True, slots=True)
class ReportAppointment:
    start: datetime
    booked_at: datetime
    site_id: str
    mode: Mode
    kind: DayKind
    status: AppointmentStatus
    urgent: bool
    topic_id: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class ReportUrgent:
    received_at: datetime
    acknowledged_at: datetime | None
    site_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Cell:
    key: str
    count: int | None  # None: hidden

    def shown(self) -> str:
        return HIDDEN if self.count is None else str(self.count)


@dataclass(frozen=True, kw_only=True, slots=True)
class Table:
    cells: tuple[Cell, ...]
    total: int | None


@dataclass(frozen=True, kw_only=True, slots=True)
class ActivityReport:
    start: datetime
    end: datetime
    threshold: int
    held: int | None  # confirmed appointments in the period
    tables: dict[str, Table]
    median_lead_days: float | None
    urgent_requests: int | None
    median_callback_hours: float | None


def suppress(counts: Mapping[str, int], threshold: int) -> Table:
    """Hide small cells (primary) and, where one hidden cell could be recovered from the
    total, the next smallest one (secondary). A total below the threshold is hidden too."""
    total = sum(counts.values())
    hidden = {k for k, n in counts.items() if 0 < n < threshold}
    if len(hidden) == 1:
        others = sorted((n, k) for k, n in counts.items() if k not in hidden and n > 0)
        if others:
            hidden.add(others[0][1])
        # else the hidden cell is the whole total, itself below the threshold and hidden
    cells = tuple(Cell(key=k, count=None if k in hidden else n) for k, n in sorted(counts.items()))
    return Table(cells=cells, total=total if total == 0 or total >= threshold else None)


def _median(values: Sequence[float], threshold: int) -> float | None:
    return round(statistics.median(values), 1) if len(values) >= threshold else None


def activity_report(
    *,
    appointments: Iterable[ReportAppointment],
    urgent: Iterable[ReportUrgent],
    start: datetime,
    end: datetime,
    threshold: int = 5,
    topics: Sequence[str] = (),
    sites: Sequence[str] = (),
) -> ActivityReport:
    """Counts for [start, end). `topics` and `sites` list every known key, so that a zero
    is reported as zero and absent keys cannot be inferred from their absence."""
    if threshold < 2:
        raise ValueError("a threshold below 2 would show single persons")
    start, end = ensure_utc(start, "start"), ensure_utc(end, "end")
    period = [a for a in appointments if start <= a.start < end]
    held = [a for a in period if a.status is AppointmentStatus.CONFIRMED]

    def counts(keys: Iterable[str], known: Sequence[str] = ()) -> dict[str, int]:
        counter = Counter(keys)
        return {k: counter.get(k, 0) for k in {*known, *counter}}

    tables = {
        "topic": suppress(counts((a.topic_id or "non_precise" for a in held), [*topics, "non_precise"]), threshold),
        "site": suppress(counts((a.site_id for a in held), sites), threshold),
        "mode": suppress(counts((a.mode.value for a in held), [m.value for m in Mode]), threshold),
        "day": suppress(counts((a.kind.value for a in held), [k.value for k in DayKind]), threshold),
        "status": suppress(counts((a.status.value for a in period), [s.value for s in AppointmentStatus]), threshold),
    }
    requests = [u for u in urgent if start <= ensure_utc(u.received_at) < end]
    tables["urgent_site"] = suppress(counts((u.site_id for u in requests), sites), threshold)
    lead = [(a.start - a.booked_at).total_seconds() / 86400 for a in held]
    callback = [(u.acknowledged_at - u.received_at).total_seconds() / 3600 for u in requests if u.acknowledged_at]
    return ActivityReport(
        start=start,
        end=end,
        threshold=threshold,
        held=len(held) if len(held) == 0 or len(held) >= threshold else None,
        tables=tables,
        median_lead_days=_median(lead, threshold),
        urgent_requests=len(requests) if len(requests) == 0 or len(requests) >= threshold else None,
        median_callback_hours=_median(callback, threshold),
    )
