"""Reports: counts only, small cells hidden, hidden cells not recoverable from totals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from booking.model import AppointmentStatus, DayKind, Mode
from booking.reports import ReportAppointment, ReportUrgent, activity_report, suppress

START = datetime(2027, 1, 1, tzinfo=UTC)


def appointment(topic: str | None, site: str = "vanves", days: int = 10, **changes) -> ReportAppointment:  # type: ignore[no-untyped-def]
    base = dict(
        start=START + timedelta(days=days),
        booked_at=START + timedelta(days=days - 4),
        site_id=site,
        mode=Mode.TEAMS,
        kind=DayKind.PERMANENCE,
        status=AppointmentStatus.CONFIRMED,
        urgent=False,
        topic_id=topic,
    )
    base.update(changes)
    return ReportAppointment(**base)  # type: ignore[arg-type]


def test_small_cells_are_hidden_and_one_hidden_cell_is_never_alone():
    table = suppress({"budget": 12, "logement": 7, "retraite": 2, "sante": 0}, 5)
    shown = {c.key: c.count for c in table.cells}
    assert shown == {"budget": 12, "logement": None, "retraite": None, "sante": 0}
    assert table.total == 21


def test_a_total_below_the_threshold_hides_everything():
    table = suppress({"a": 3, "b": 0}, 5)
    assert table.total is None and [c.count for c in table.cells] == [None, 0]
    alone = suppress({"a": 2, "b": 0, "c": 0}, 5)
    assert all(c.count in (None, 0) for c in alone.cells) and alone.total is None


@given(st.dictionaries(st.sampled_from("abcdefg"), st.integers(min_value=0, max_value=30), min_size=1))
def test_no_hidden_count_can_be_recovered_by_subtraction(counts):
    table = suppress(counts, 5)
    hidden = [c for c in table.cells if c.count is None]
    assert len(hidden) != 1 or table.total is None
    assert all(c.count is None or c.count == 0 or c.count >= 5 for c in table.cells)


def test_the_activity_report_counts_the_period_only():
    held = [appointment("budget") for _ in range(6)] + [appointment("retraite", kind=DayKind.RETIREMENT)]
    cancelled = [appointment("budget", status=AppointmentStatus.CANCELLED) for _ in range(5)]
    outside = [appointment("budget", days=200)]
    urgent = [
        ReportUrgent(
            received_at=START + timedelta(days=i), acknowledged_at=START + timedelta(days=i, hours=2), site_id="lyon"
        )
        for i in range(5)
    ]
    report = activity_report(
        appointments=held + cancelled + outside,
        urgent=urgent,
        start=START,
        end=START + timedelta(days=90),
        topics=["budget", "retraite", "logement"],
        sites=["vanves", "lyon"],
    )
    assert report.held == 7
    topics = {c.key: c.count for c in report.tables["topic"].cells}
    assert topics["logement"] == 0 and topics["retraite"] is None and topics["budget"] is None  # secondary
    assert {c.key: c.count for c in report.tables["status"].cells}["cancelled"] == 5
    assert report.median_lead_days == 4.0
    assert report.urgent_requests == 5 and report.median_callback_hours == 2.0


def test_a_threshold_of_one_is_refused():
    with pytest.raises(ValueError):
        activity_report(appointments=[], urgent=[], start=START, end=START + timedelta(days=1), threshold=1)
