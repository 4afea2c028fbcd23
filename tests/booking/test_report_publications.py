"""Finding 4 of issue 22: reports published over time reveal nothing together. Each quarter is
published as it ends (seeing the bookings made by then), the year in January, and a quarter again
after that; every run honours what the earlier ones published (`published_cells`), and the union
of everything published lets no hidden count be computed."""

from __future__ import annotations

import dataclasses
import os
from datetime import datetime

from hypothesis import given, settings

from booking.reports import ActivityReport, Cell, Table, _period_counts, published_cells, year_reports
from tests.helpers.reports import PARIS, SITES, TOPICS, appointments, recoverable, urgent_requests

EXAMPLES = int(os.environ.get("PERMANENCE_PUBLICATION_EXAMPLES", "150"))
ENDS = {
    "Q1": datetime(2027, 4, 1, tzinfo=PARIS),
    "Q2": datetime(2027, 7, 1, tzinfo=PARIS),
    "Q3": datetime(2027, 10, 1, tzinfo=PARIS),
    "Q4": datetime(2028, 1, 1, tzinfo=PARIS),
    "year": datetime(2028, 1, 1, tzinfo=PARIS),
}
START = {q: datetime(2027, 3 * i + 1, 1, tzinfo=PARIS) for i, q in enumerate(("Q1", "Q2", "Q3", "Q4"))}
# When each report is run: as its period ends, then the first quarter again in January.
SEQUENCE = ["Q1", "Q2", "Q3", "Q4", "year", "Q1"]


def publish(appts, urgent, *, honour: bool) -> tuple[dict[str, int | None], dict[str, ActivityReport]]:  # type: ignore[no-untyped-def]
    """Run the sequence; returns the union of the cells published (None: hidden every time it
    was published) and the final data's reports (the truth the published counts come from)."""
    shown: dict[str, int | None] = {}
    kept: dict[str, int | None] = {}
    for period in SEQUENCE:
        run_at = ENDS[period]
        seen = [a for a in appts if a.booked_at < run_at]  # what was booked when the report ran
        heard = [u for u in urgent if u.received_at < run_at]
        report = year_reports(
            appointments=seen,
            urgent=heard,
            year=2027,
            timezone=PARIS,
            threshold=5,
            topics=TOPICS,
            sites=SITES,
            earlier=kept if honour else None,
        )[period]
        cells = published_cells(report, period)
        for name, count in cells.items():
            kept[name] = count if kept.get(name) is None else kept[name]
            if count is not None:
                shown[name] = count
            else:
                shown.setdefault(name, None)
    truth = year_reports(
        appointments=appts, urgent=urgent, year=2027, timezone=PARIS, threshold=2, topics=TOPICS, sites=SITES
    )
    return shown, truth


def as_published(shown: dict[str, int | None], truth: dict[str, ActivityReport]) -> dict[str, ActivityReport]:
    """The reports as a reader who kept every publication knows them."""
    merged = {}
    for period, report in truth.items():
        cells = published_cells(report, period)
        tables = {}
        for name, table in report.tables.items():
            prefix = "held" if name in ("topic", "site", "mode", "day") else name
            total_key = f"{prefix}|total|{period}"
            tables[name] = Table(
                cells=tuple(
                    Cell(key=c.key, count=shown.get(next(k for k in cells if _same(k, name, c.key, period))))
                    for c in table.cells
                ),
                total=shown.get(total_key),
            )
        merged[period] = dataclasses.replace(report, tables=tables)
    return merged


def _same(name: str, table: str, key: str, period: str) -> bool:
    if table == "status" and key == "confirmed":
        return name == f"held|total|{period}"
    return name == f"{table}|{key}|{period}"


@settings(max_examples=EXAMPLES, deadline=None)
@given(appointments, urgent_requests)
def test_no_hidden_cell_follows_from_every_publication_of_a_year(appts, urgent):
    shown, truth = publish(appts, urgent, honour=True)
    for name, count in shown.items():  # what is shown is true (each quarter was over when run)
        if count is not None:
            assert count == _truth(appts, urgent, name), name
    assert recoverable(as_published(shown, truth)) == []


def _truth(appts, urgent, name: str) -> int:  # type: ignore[no-untyped-def]
    """The count a published cell stands for, from the final data."""
    table, key, period = name.split("|")
    start = datetime(2027, 1, 1, tzinfo=PARIS) if period == "year" else START[period]
    raw = _period_counts(appts, urgent, start, ENDS[period], TOPICS, SITES)
    if table == "held":
        return raw.held
    if key == "total":
        return sum(raw.tables[table].values())
    return raw.tables[table][key]
