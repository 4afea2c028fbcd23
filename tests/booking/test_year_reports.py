"""Suppression across the reports of a year: nothing hidden follows from the published set."""

from __future__ import annotations

from hypothesis import example, given, settings

from booking.reports import activity_report, year_reports
from tests.helpers.reports import PARIS, PERIODS, SITES, TOPICS, appointment, appointments, recoverable, urgent_requests

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
