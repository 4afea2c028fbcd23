"""Aggregate activity reports for HR and the social action committee (contract §4.3).

Only counts leave: any cell below the threshold is hidden, and when a dimension would show
exactly one hidden cell beside its total, the next smallest cell is hidden too, so that
no hidden count can be recovered by subtraction.

The reports of one year (four quarters and the year) are published together, so
`year_reports` suppresses them together: each dimension is one table of keys by quarters,
with the year column and the totals row as margins, and a hidden cell must lie on a cycle of
hidden cells (a row and a column of the table each holding another hidden cell, and so on
around), or a combination of rows and columns of the published set would give it exactly.
Where one does not, the cheapest rectangle of cells completing a cycle is hidden too.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

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
    raw = _period_counts(appointments, urgent, start, end, topics, sites)
    tables = {name: suppress(counts, threshold) for name, counts in raw.tables.items()}
    return _report(raw, tables, threshold, held_hidden=not _shown(raw.held, threshold))


@dataclass(frozen=True, kw_only=True, slots=True)
class _PeriodCounts:
    start: datetime
    end: datetime
    tables: dict[str, dict[str, int]]
    held: int
    urgent_requests: int
    lead: list[float]
    callback: list[float]


def _shown(count: int, threshold: int) -> bool:
    return count == 0 or count >= threshold


def _period_counts(
    appointments: Iterable[ReportAppointment],
    urgent: Iterable[ReportUrgent],
    start: datetime,
    end: datetime,
    topics: Sequence[str],
    sites: Sequence[str],
) -> _PeriodCounts:
    start, end = ensure_utc(start, "start"), ensure_utc(end, "end")
    period = [a for a in appointments if start <= a.start < end]
    held = [a for a in period if a.status is AppointmentStatus.CONFIRMED]

    def counts(keys: Iterable[str], known: Sequence[str] = ()) -> dict[str, int]:
        counter = Counter(keys)
        return {k: counter.get(k, 0) for k in {*known, *counter}}

    requests = [u for u in urgent if start <= ensure_utc(u.received_at) < end]
    return _PeriodCounts(
        start=start,
        end=end,
        tables={
            "topic": counts((a.topic_id or "non_precise" for a in held), [*topics, "non_precise"]),
            "site": counts((a.site_id for a in held), sites),
            "mode": counts((a.mode.value for a in held), [m.value for m in Mode]),
            "day": counts((a.kind.value for a in held), [k.value for k in DayKind]),
            "status": counts((a.status.value for a in period), [s.value for s in AppointmentStatus]),
            "urgent_site": counts((u.site_id for u in requests), sites),
        },
        held=len(held),
        urgent_requests=len(requests),
        lead=[(a.start - a.booked_at).total_seconds() / 86400 for a in held],
        callback=[(u.acknowledged_at - u.received_at).total_seconds() / 3600 for u in requests if u.acknowledged_at],
    )


def _report(raw: _PeriodCounts, tables: dict[str, Table], threshold: int, *, held_hidden: bool) -> ActivityReport:
    return ActivityReport(
        start=raw.start,
        end=raw.end,
        threshold=threshold,
        held=None if held_hidden else raw.held,
        tables=tables,
        median_lead_days=_median(raw.lead, threshold),
        urgent_requests=tables["urgent_site"].total,
        median_callback_hours=_median(raw.callback, threshold),
    )


# The tables whose total is the number of appointments held: their totals row is one fact.
HELD_TABLES = ("topic", "site", "mode", "day")
YEAR = "year"
QUARTERS = ("Q1", "Q2", "Q3", "Q4")
CONFIRMED = AppointmentStatus.CONFIRMED.value
TOTAL = "\x00total"  # the totals row's key (cannot clash with a topic or site id)
Grid = dict[tuple[str, str], int]  # (row key, period) -> count; margins included


def _bridges(hidden: set[tuple[str, str]]) -> list[tuple[str, str]]:
    """Hidden cells on no cycle of the bipartite graph rows-columns: exactly derivable from
    the published rows and columns sums (the other hidden cells are not)."""
    found = []
    for cell in sorted(hidden):
        others = hidden - {cell}
        # Is there another path from the cell's row to its column through hidden cells?
        start, goal = ("r", cell[0]), ("c", cell[1])
        seen, frontier = {start}, [start]
        while frontier:
            side, key = frontier.pop()
            for row, column in others:
                if (side == "r" and row == key) or (side == "c" and column == key):
                    nxt = ("c", column) if side == "r" else ("r", row)
                    if nxt not in seen:
                        seen.add(nxt)
                        frontier.append(nxt)
        if goal not in seen:
            found.append(cell)
    return found


def _protect(grid: Grid, hidden: set[tuple[str, str]], threshold: int) -> set[tuple[str, str]]:
    """Add the fewest, smallest cells that put every hidden cell on a cycle (deterministic)."""
    hidden = set(hidden)
    rows = sorted({r for r, _ in grid})
    columns = sorted({c for _, c in grid})

    def cost(cell: tuple[str, str]) -> int:
        if cell in hidden:
            return 0
        value = grid[cell]
        return value if value > 0 else 10 * threshold + sum(grid.values())  # hide zeros last

    while bridges := _bridges(hidden):
        row, column = bridges[0]
        candidates = [
            (cost((row, c)) + cost((r, column)) + cost((r, c)), r, c)
            for r in rows
            for c in columns
            if r != row and c != column
        ]
        _, r, c = min(candidates)
        hidden |= {(row, c), (r, column), (r, c)}
    return hidden


def _grid(raws: Mapping[str, _PeriodCounts], name: str) -> Grid:
    grid: Grid = {}
    for period, raw in raws.items():
        for key, count in raw.tables[name].items():
            grid[(key, period)] = count
        grid[(TOTAL, period)] = sum(raw.tables[name].values())
    return grid


def year_reports(
    *,
    appointments: Iterable[ReportAppointment],
    urgent: Iterable[ReportUrgent],
    year: int,
    timezone: tzinfo,
    threshold: int = 5,
    topics: Sequence[str] = (),
    sites: Sequence[str] = (),
) -> dict[str, ActivityReport]:
    """The four quarterly reports and the yearly one ("Q1".."Q4", "year"), suppressed together,
    each from the whole year's data, so that no hidden count follows from any combination of
    them. Quarters are calendar quarters in `timezone`."""
    if threshold < 2:
        raise ValueError("a threshold below 2 would show single persons")
    appointments, urgent = list(appointments), list(urgent)
    bounds = [datetime(year, month, 1, tzinfo=timezone) for month in (1, 4, 7, 10)]
    bounds.append(datetime(year + 1, 1, 1, tzinfo=timezone))
    periods = {QUARTERS[i]: (bounds[i], bounds[i + 1]) for i in range(4)} | {YEAR: (bounds[0], bounds[4])}
    raws = {p: _period_counts(appointments, urgent, s, e, topics, sites) for p, (s, e) in periods.items()}
    grids = {name: _grid(raws, name) for name in raws[YEAR].tables}
    hidden = {
        name: {cell for cell, count in grid.items() if not _shown(count, threshold)} for name, grid in grids.items()
    }
    # The held totals are one fact in four tables: hide a total in all of them or in none.
    while True:
        for name, grid in grids.items():
            hidden[name] = _protect(grid, hidden[name], threshold)
        # ... and in the status table, as its "confirmed" row.
        periods_hidden = {c[1] for name in HELD_TABLES for c in hidden[name] if c[0] == TOTAL}
        periods_hidden |= {c[1] for c in hidden["status"] if c[0] == CONFIRMED}
        if (
            all({c[1] for c in hidden[name] if c[0] == TOTAL} == periods_hidden for name in HELD_TABLES)
            and {c[1] for c in hidden["status"] if c[0] == CONFIRMED} == periods_hidden
        ):
            break
        for name in HELD_TABLES:
            hidden[name] |= {(TOTAL, p) for p in periods_hidden}
        hidden["status"] |= {(CONFIRMED, p) for p in periods_hidden}

    reports = {}
    for period, raw in raws.items():
        tables = {}
        for name, counts in raw.tables.items():
            cells = tuple(
                Cell(key=k, count=None if (k, period) in hidden[name] else n) for k, n in sorted(counts.items())
            )
            total = sum(counts.values())
            tables[name] = Table(cells=cells, total=None if (TOTAL, period) in hidden[name] else total)
        reports[period] = _report(raw, tables, threshold, held_hidden=(TOTAL, period) in hidden["topic"])
    return reports
