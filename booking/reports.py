"""Aggregate activity reports for HR and the social action committee (contract §4.3).

Only counts leave: any cell below the threshold is hidden, and when a dimension would show
exactly one hidden cell beside its total, the next smallest cell is hidden too, so that
no hidden count can be recovered by subtraction.

The reports of one year (four quarters and the year) are published together, so
`year_reports` suppresses them together: each dimension is one table of keys by quarters,
with the year column and the totals row as margins, and the number of appointments held is
one count shown five times (the totals row of the topic, site, mode and day tables and the
« confirmed » row of the status table), which links those tables. The published counts are
read as a system of sums, and a hidden count is safe only when no combination of them gives
it exactly (checked by exact row reduction over the rationals: a cycle of hidden cells in its
own table is not enough, another table may pin the held total). Where one is exposed, the
cheapest rectangle of cells through it is hidden too, completed in every linked table when
it moves the held total.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from fractions import Fraction

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


# The tables whose total is the number of appointments held: their totals row is one fact,
# which the status table shows too, as its "confirmed" row.
HELD_TABLES = ("topic", "site", "mode", "day")
LINKED_TABLES = (*HELD_TABLES, "status")
YEAR = "year"
QUARTERS = ("Q1", "Q2", "Q3", "Q4")
PERIODS = (*QUARTERS, YEAR)
CONFIRMED = AppointmentStatus.CONFIRMED.value
TOTAL = "\x00total"  # the totals row's key (cannot clash with a topic or site id)
HELD = "\x00held"  # the table of the shared held total
Grid = dict[tuple[str, str], int]  # (row key, period) -> count; margins included
Unknown = tuple[str, str, str]  # (table, row key, period); the held total is (HELD, TOTAL, period)


def _linked_row(name: str) -> str | None:
    """The row of a table that is the held total, if any."""
    return TOTAL if name in HELD_TABLES else CONFIRMED if name == "status" else None


def _unknown(name: str, key: str, period: str) -> Unknown:
    return (HELD, TOTAL, period) if key == _linked_row(name) else (name, key, period)


def _equations(grids: Mapping[str, Grid]) -> list[dict[Unknown, int]]:
    """What the published set says, as sums: each table's cells make its total, each row's
    quarters make its year; the held total is a single unknown shared by five tables."""
    equations = []
    for name, grid in grids.items():
        rows = sorted({key for key, _ in grid})
        for period in PERIODS:
            sums = {_unknown(name, key, period): 1 for key in rows if key != TOTAL}
            equations.append(sums | {_unknown(name, TOTAL, period): -1})
        for key in rows:
            sums = {_unknown(name, key, quarter): 1 for quarter in QUARTERS}
            equations.append(sums | {_unknown(name, key, YEAR): -1})
    return equations


def _exposed(equations: Sequence[Mapping[Unknown, int]], hidden: set[Unknown]) -> list[Unknown]:
    """Hidden unknowns that some combination of the equations gives exactly (the others can all
    move together while every published count stays): reduced row echelon form over the
    rationals, an unknown is exposed when its pivot row holds nothing else."""
    rows = [{u: Fraction(c) for u, c in equation.items() if u in hidden and c} for equation in equations]
    rows = [row for row in rows if row]
    pivots: list[tuple[Unknown, dict[Unknown, Fraction]]] = []
    for column in sorted(hidden):
        index = next((i for i, row in enumerate(rows) if column in row), None)
        if index is None:
            continue
        pivot = rows.pop(index)
        scale = pivot[column]
        pivot = {u: c / scale for u, c in pivot.items()}
        for other in (*rows, *(row for _, row in pivots)):
            factor = other.get(column)
            if factor:
                for u, c in pivot.items():
                    value = other.get(u, 0) - factor * c
                    if value:
                        other[u] = value
                    else:
                        other.pop(u, None)
        pivots.append((column, pivot))
    return [column for column, row in pivots if len(row) == 1]


def _cheapest_cover(grids: Mapping[str, Grid], exposed: Unknown, cost: Callable[[Unknown], int]) -> set[Unknown]:
    """The cheapest cells whose hiding lets `exposed` move while every published count stays:
    a rectangle through it in one of its tables (one count moved between two rows and two
    periods). A rectangle on the held total's row moves the held total, so it is completed, in
    each other linked table, by the cheapest rectangle on that table's held row and the same
    two periods. Each such set carries a change of the hidden counts that all equations allow."""
    name, key, period = exposed
    places = [(t, _linked_row(t) or "") for t in LINKED_TABLES] if name == HELD else [(name, key)]
    best: tuple[int, list[Unknown]] | None = None
    for table, row in places:
        keys = sorted({k for k, _ in grids[table]})
        for other_period in PERIODS:
            for other_row in keys:
                if other_period == period or other_row == row:
                    continue
                cells = {_unknown(table, r, p) for r in (row, other_row) for p in (period, other_period)}
                if _linked_row(table) in (row, other_row):
                    others = [t for t in LINKED_TABLES if t != table]
                    completions = [_held_rectangle(grids, t, (period, other_period), cost) for t in others]
                    if any(c is None for c in completions):
                        continue  # a linked table with no other row: the held total cannot move
                    cells = cells.union(*(c for c in completions if c is not None))
                candidate = (sum(cost(c) for c in cells), sorted(cells))
                if best is None or candidate < best:
                    best = candidate
    if best is None:
        raise RuntimeError("no cells can protect a hidden count")  # each table has two rows or more
    return set(best[1])


def _held_rectangle(
    grids: Mapping[str, Grid], table: str, periods: tuple[str, str], cost: Callable[[Unknown], int]
) -> set[Unknown] | None:
    """The cheapest other row of a linked table beside its held row, on two periods."""
    linked = _linked_row(table)
    pairs = [{_unknown(table, k, p) for p in periods} for k in sorted({k for k, _ in grids[table]} - {linked})]
    return min(pairs, key=lambda pair: (sum(cost(c) for c in pair), sorted(pair)), default=None)


def _suppress_year(
    grids: Mapping[str, Grid], threshold: int, earlier: Mapping[Unknown, int | None] | None = None
) -> set[Unknown]:
    """Hide the small counts (primary), then, while a combination of the published counts gives
    a hidden one exactly, the cheapest cells that let it move (deterministic).

    `earlier`: what the reports of the same year already published (None: hidden). What they
    hid stays hidden; what they showed is known to everyone, so it protects nothing even when
    hidden now, and the exposure is judged with it as published."""
    earlier = earlier or {}
    values = {_unknown(name, key, period): n for name, grid in grids.items() for (key, period), n in grid.items()}
    known = {u for u, n in earlier.items() if n is not None and u in values}
    hidden = {u for u, n in values.items() if not _shown(n, threshold)}
    hidden |= {u for u, n in earlier.items() if n is None and u in values}
    zero_cost = 10 * threshold + sum(values.values())  # hide a zero only when nothing else will do
    useless = zero_cost * (len(values) + 1)  # a known count: hiding it protects nothing

    def cost(unknown: Unknown) -> int:
        if unknown in known:
            return useless
        if unknown in hidden:
            return 0
        return values[unknown] or zero_cost

    equations = _equations(grids)
    while exposed := _exposed(equations, hidden - known):
        cover = _cheapest_cover(grids, exposed[0], cost) - known
        if cover <= hidden:  # every cover, once hidden, lets the count move: it must add a cell
            raise RuntimeError("a hidden count cannot be protected")
        hidden |= cover
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
    earlier: Mapping[str, int | None] | None = None,
) -> dict[str, ActivityReport]:
    """The four quarterly reports and the yearly one ("Q1".."Q4", "year"), suppressed together,
    each from the whole year's data, so that no hidden count follows from any combination of
    them. Quarters are calendar quarters in `timezone`. `earlier`: the cells the reports of the
    same year already published (`published_cells`), honoured: a publication in April and one
    in January, together, give nothing away either."""
    if threshold < 2:
        raise ValueError("a threshold below 2 would show single persons")
    appointments, urgent = list(appointments), list(urgent)
    bounds = [datetime(year, month, 1, tzinfo=timezone) for month in (1, 4, 7, 10)]
    bounds.append(datetime(year + 1, 1, 1, tzinfo=timezone))
    periods = {QUARTERS[i]: (bounds[i], bounds[i + 1]) for i in range(4)} | {YEAR: (bounds[0], bounds[4])}
    # Every key of the year in every quarter (a zero shown as zero), so that each table is a full grid.
    whole = _period_counts(appointments, urgent, bounds[0], bounds[4], topics, sites).tables
    topics = sorted({*topics, *whole["topic"]} - {"non_precise"})
    sites = sorted({*sites, *whole["site"], *whole["urgent_site"]})
    raws = {p: _period_counts(appointments, urgent, s, e, topics, sites) for p, (s, e) in periods.items()}
    grids = {name: _grid(raws, name) for name in raws[YEAR].tables}
    hidden = _suppress_year(grids, threshold, {_parse_cell(k): n for k, n in (earlier or {}).items()})

    reports = {}
    for period, raw in raws.items():
        tables = {}
        for name, counts in raw.tables.items():
            cells = tuple(
                Cell(key=k, count=None if _unknown(name, k, period) in hidden else n) for k, n in sorted(counts.items())
            )
            total = sum(counts.values())
            tables[name] = Table(cells=cells, total=None if _unknown(name, TOTAL, period) in hidden else total)
        reports[period] = _report(raw, tables, threshold, held_hidden=(HELD, TOTAL, period) in hidden)
    return reports


def _cell_name(unknown: Unknown) -> str:
    table, key, period = unknown
    return "|".join((table.replace(HELD, "held"), "total" if key == TOTAL else key, period))


def _parse_cell(name: str) -> Unknown:
    table, key, period = name.split("|", 2)
    return (HELD if table == "held" else table, TOTAL if key == "total" else key, period)


def published_cells(report: ActivityReport, period: str) -> dict[str, int | None]:
    """What publishing `report` (the period "Q1".."Q4" or "year" of `year_reports`) makes known,
    by cell ("table|key|period", None: hidden), to keep and give back as `earlier`."""
    cells: dict[str, int | None] = {}
    for name, table in report.tables.items():
        for cell in table.cells:
            cells[_cell_name(_unknown(name, cell.key, period))] = cell.count
        cells[_cell_name(_unknown(name, TOTAL, period))] = table.total
    cells[_cell_name((HELD, TOTAL, period))] = report.held
    return cells
