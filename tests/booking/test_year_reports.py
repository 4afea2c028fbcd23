"""Suppression across the reports of a year: nothing hidden follows from the published set."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import example, given, settings
from hypothesis import strategies as st

from booking.model import AppointmentStatus, DayKind, Mode
from booking.reports import ActivityReport, ReportAppointment, ReportUrgent, activity_report, year_reports

PARIS = ZoneInfo("Europe/Paris")
TOPICS = ["budget", "logement", "retraite", "sante"]
SITES = ["chasseneuil", "vanves", "lyon"]
PERIODS = ["Q1", "Q2", "Q3", "Q4", "year"]
HELD = ("topic", "site", "mode", "day")
PRIME = 2**61 - 1
STATUSES = [
    AppointmentStatus.CONFIRMED,
    AppointmentStatus.REQUESTED,
    AppointmentStatus.CANCELLED,
    AppointmentStatus.DECLINED,
]


def appointment(month: int, topic: int, site: int, mode: int, status: int) -> ReportAppointment:
    start = datetime(2027, month, 10, 9, tzinfo=UTC)
    return ReportAppointment(
        start=start,
        booked_at=start - timedelta(days=10),
        site_id=SITES[site],
        mode=list(Mode)[mode],
        kind=DayKind.PERMANENCE,
        status=STATUSES[status],
        urgent=False,
        topic_id=TOPICS[topic],
    )


appointments = st.lists(
    st.builds(
        appointment,
        st.integers(1, 12),
        st.integers(0, len(TOPICS) - 1),
        st.integers(0, len(SITES) - 1),
        st.integers(0, len(Mode) - 1),
        st.sampled_from([0, 0, 0, 1, 2]),  # mostly held, so that the other statuses stay small
    ),
    max_size=60,
)
urgent_requests = st.lists(
    st.builds(
        lambda month, site: ReportUrgent(
            received_at=datetime(2027, month, 3, 9, tzinfo=UTC), acknowledged_at=None, site_id=SITES[site]
        ),
        st.integers(1, 12),
        st.integers(0, len(SITES) - 1),
    ),
    max_size=20,
)


def recoverable(reports: dict[str, ActivityReport]) -> list[tuple[str, str, str]]:
    """Every hidden cell that a linear combination of the published equations gives exactly:
    each table's cells sum to its total, each key's quarters sum to its year, the held total
    is the same in four tables and the status table's « confirmed » row."""
    unknowns: dict[tuple[str, str, str], int] = {}  # (table, key or "total", period) -> column

    def term(table: str, key: str, period: str) -> int | None:
        report = reports[period].tables[table]
        count = report.total if key == "total" else next(c.count for c in report.cells if c.key == key)
        if count is not None:
            return None
        return unknowns.setdefault((table, key, period), len(unknowns))

    equations: list[dict[int, int]] = []

    def equation(terms: list[tuple[tuple[str, str, str], int]]) -> None:
        row: dict[int, int] = {}
        for cell, sign in terms:
            column = term(*cell)
            if column is not None:
                row[column] = row.get(column, 0) + sign
        if any(row.values()):
            equations.append(row)

    for table, published in reports["year"].tables.items():
        keys = [c.key for c in published.cells]
        for period in PERIODS:
            equation([((table, k, period), 1) for k in keys] + [((table, "total", period), -1)])
        for key in [*keys, "total"]:
            equation([((table, key, q), 1) for q in PERIODS[:4]] + [((table, key, "year"), -1)])
    for period in PERIODS:
        for table in HELD[1:]:
            equation([(("topic", "total", period), 1), ((table, "total", period), -1)])
        equation([(("topic", "total", period), 1), (("status", "confirmed", period), -1)])
    # Row reduction modulo a large prime (the coefficients are small integers).
    n = len(unknowns)
    matrix = [[row.get(j, 0) % PRIME for j in range(n)] for row in equations]
    pivots: list[int] = []
    r = 0
    for column in range(n):
        pivot = next((i for i in range(r, len(matrix)) if matrix[i][column]), None)
        if pivot is None:
            continue
        matrix[r], matrix[pivot] = matrix[pivot], matrix[r]
        inverse = pow(matrix[r][column], PRIME - 2, PRIME)
        matrix[r] = [v * inverse % PRIME for v in matrix[r]]
        for i in range(len(matrix)):
            if i != r and matrix[i][column]:
                factor = matrix[i][column]
                matrix[i] = [(a - factor * b) % PRIME for a, b in zip(matrix[i], matrix[r], strict=True)]
        pivots.append(column)
        r += 1
    free = set(range(n)) - set(pivots)
    exposed = {pivot for row, pivot in enumerate(pivots) if not any(matrix[row][f] for f in free)}
    return [cell for cell, column in unknowns.items() if column in exposed]


# A quarter's status total: the held total links the status table to the held tables, so the
# « mode » table's year row gave Q1 + Q2 held, and with it the status total of Q3.
Q3_STATUS_TOTAL = [appointment(1, 0, 0, 0, 0)] * 4 + [
    appointment(4, 0, 0, 0, 0),
    appointment(7, 0, 0, 0, 1),
    appointment(7, 0, 0, 1, 0),
]


@settings(max_examples=150, deadline=None)
@given(appointments, urgent_requests)
@example(Q3_STATUS_TOTAL, [])
def test_no_hidden_cell_follows_from_the_published_reports_of_a_year(appts, urgent):
    reports = year_reports(
        appointments=appts, urgent=urgent, year=2027, timezone=PARIS, threshold=5, topics=TOPICS, sites=SITES
    )
    assert recoverable(reports) == []
    for period, report in reports.items():  # nothing small is shown, and what is shown is true
        alone = activity_report(
            appointments=appts,
            urgent=urgent,
            start=report.start,
            end=report.end,
            threshold=5,
            topics=TOPICS,
            sites=SITES,
        )
        for name, table in report.tables.items():
            truth = {c.key: c.count for c in alone.tables[name].cells}
            for cell in table.cells:
                assert cell.count is None or cell.count == truth[cell.key] or truth[cell.key] is None
                if cell.count is not None:
                    assert cell.count == 0 or cell.count >= 5, (period, name, cell)


def test_a_quarter_hidden_alone_would_follow_from_the_year_minus_the_other_quarters():
    """The attack the year-wide suppression prevents, shown on the per-report suppression."""
    # budget: 6 a quarter; logement: 2 in Q1 (hidden), 5 in Q2, so 7 in the year.
    appts = [appointment(month, 0, 0, 0, 0) for month in (1, 4, 7, 10) for _ in range(6)]
    assert TOPICS[0] == "budget"
    appts += [appointment(2, 1, 0, 0, 0) for _ in range(2)] + [appointment(5, 1, 0, 0, 0) for _ in range(5)]
    per_report = {
        period: activity_report(
            appointments=appts,
            urgent=[],
            start=r.start,
            end=r.end,
            threshold=5,
            topics=TOPICS,
            sites=SITES,
        )
        for period, r in year_reports(
            appointments=appts, urgent=[], year=2027, timezone=PARIS, topics=TOPICS, sites=SITES
        ).items()
    }
    assert ("topic", "logement", "Q1") in recoverable(per_report)  # 7 - 5: the old way leaks
    together = year_reports(appointments=appts, urgent=[], year=2027, timezone=PARIS, topics=TOPICS, sites=SITES)
    assert recoverable(together) == []
    assert together["year"].held == 31  # what is safe is still shown


def test_a_cycle_within_one_table_is_not_enough_when_the_held_total_links_the_tables():
    """Each table alone had every hidden cell on a cycle, yet the status total of Q3 (2) was
    the year's status total (7) minus Q1 and Q2 held (5, the year of one mode)."""
    reports = year_reports(
        appointments=Q3_STATUS_TOTAL, urgent=[], year=2027, timezone=PARIS, threshold=5, topics=TOPICS, sites=SITES
    )
    assert reports["Q3"].tables["status"].total is None
    assert recoverable(reports) == []


def test_a_site_missing_from_the_known_sites_is_reported_in_every_period():
    """A site no longer listed (but in the data) of one quarter only: a zero in the others."""
    appts = [appointment(month, 0, 0, 0, 0) for month in (1, 4, 7, 10) for _ in range(6)]
    appts += [appointment(2, 0, 2, 0, 0) for _ in range(6)]
    assert SITES[2] == "lyon"
    reports = year_reports(appointments=appts, urgent=[], year=2027, timezone=PARIS, topics=TOPICS, sites=SITES[:2])
    assert [{c.key: c.count for c in reports[p].tables["site"].cells}["lyon"] for p in PERIODS] == [6, 0, 0, 0, 6]
    assert recoverable(reports) == []
