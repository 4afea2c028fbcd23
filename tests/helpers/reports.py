"""Appointments and urgent requests of a year, for the report tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from booking.model import AppointmentStatus, DayKind, Mode
from booking.reports import ActivityReport, ReportAppointment, ReportUrgent

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
