"""Urgent triage in working hours, escalation order, and booking rules as typed refusals."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from booking.absence import Absence, AbsenceSource
from booking.errors import BookingRefused, RefusalReason
from booking.model import Appointment, AppointmentStatus, DayKind, Mode, Slot
from booking.rules import BookingPolicy, check_change, check_new_booking
from booking.urgency import UrgentPolicy, WorkingHours, add_working_time, triage

PARIS = ZoneInfo("Europe/Paris")


def paris(y, m, d, h=0, minute=0):  # type: ignore[no-untyped-def]
    return datetime(y, m, d, h, minute, tzinfo=PARIS)


def test_working_time_skips_evenings_weekends_and_holidays(holidays):
    hours = WorkingHours()
    # Friday 16:00 + 4 working hours -> Monday 12:00.
    assert add_working_time(paris(2027, 3, 5, 16), timedelta(hours=4), hours, holidays) == paris(2027, 3, 8, 12)
    # Wednesday 5 May 2027 16:30 + 2 h: Thursday 6 is Ascension -> Friday 7 at 10:30.
    assert add_working_time(paris(2027, 5, 5, 16, 30), timedelta(hours=2), hours, holidays) == paris(2027, 5, 7, 10, 30)
    # Saturday night counts from Monday opening.
    assert add_working_time(paris(2027, 3, 6, 23), timedelta(hours=1), hours, holidays) == paris(2027, 3, 8, 10)
    # Across the spring DST change (Sunday 28 March 2027) and Easter Monday (29 March).
    assert add_working_time(paris(2027, 3, 26, 16), timedelta(hours=2), hours, holidays) == paris(2027, 3, 30, 10)


def test_urgent_goes_to_the_present_worker_then_the_chain_then_the_hotline(deployment, holidays):
    policy = deployment.urgent
    now = paris(2027, 3, 3, 10)  # Wednesday
    route = triage(
        now=now,
        site_id="grenoble",
        directory=deployment.directory,
        absences=[],
        policy=policy,
        holidays=holidays,
    )
    assert [s.worker_id for s in route.steps] == ["ass", "remplacante", None]
    assert route.steps[0].deadline == paris(2027, 3, 3, 14)
    assert route.steps[1].deadline == paris(2027, 3, 4, 10)  # 3 h Wednesday + 1 h Thursday
    assert route.step_at(paris(2027, 3, 3, 13, 59)).worker_id == "ass"
    assert route.step_at(paris(2027, 3, 3, 14)).worker_id == "remplacante"
    assert route.step_at(paris(2027, 3, 5, 9)).worker_id is None


def test_urgent_during_an_absence_goes_to_the_replacement(deployment, holidays):
    away = Absence(worker_id="ass", start=paris(2027, 3, 1), end=paris(2027, 3, 6))
    route = triage(
        now=paris(2027, 3, 3, 10),
        site_id="grenoble",
        directory=deployment.directory,
        absences=[away],
        policy=deployment.urgent,
        holidays=holidays,
    )
    assert [s.worker_id for s in route.steps] == ["remplacante", None]
    both_away = [away, dataclasses.replace(away, worker_id="remplacante")]
    route = triage(
        now=paris(2027, 3, 3, 10),
        site_id="grenoble",
        directory=deployment.directory,
        absences=both_away,
        policy=deployment.urgent,
        holidays=holidays,
    )
    assert [s.worker_id for s in route.steps] == [None]
    assert deployment.urgent.hotline_phone


def test_urgent_on_a_weekend_has_a_monday_deadline(deployment, holidays):
    policy = dataclasses.replace(deployment.urgent, response_time=timedelta(hours=2))
    route = triage(
        now=paris(2027, 3, 6, 20),
        site_id="lille",
        directory=deployment.directory,
        absences=[],
        policy=policy,
        holidays=holidays,
    )
    assert route.first.deadline == paris(2027, 3, 8, 11)


def test_working_hours_are_validated():
    with pytest.raises(ValueError):
        WorkingHours(weekdays=frozenset())
    with pytest.raises(ValueError):
        UrgentPolicy(
            working_hours=WorkingHours(start=datetime(2027, 1, 1, 17).time(), end=datetime(2027, 1, 1, 9).time())
        )


NOW = datetime(2027, 3, 1, 8, tzinfo=UTC)


def slot(day: int, hour: int, kind: DayKind = DayKind.PERMANENCE) -> Slot:
    start = datetime(2027, 3, day, hour, tzinfo=UTC)
    return Slot(start=start, end=start + timedelta(minutes=45), worker_id="ass", kind=kind, site_id="chasseneuil")


def book(deployment, chosen, *, free=None, planned=None, upcoming=0, mode=Mode.TEAMS, site="vanves", topic=None):  # type: ignore[no-untyped-def]
    free = [chosen] if free is None else free
    check_new_booking(
        now=NOW,
        slot=chosen,
        free=free,
        planned=planned or free,
        upcoming=upcoming,
        policy=deployment.booking,
        mode=mode,
        agent_site=deployment.directory.site(site),
        topic=deployment.directory.topic(topic) if topic else None,
    )


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"chosen": slot(4, 8), "free": [], "planned": [slot(4, 8)]}, RefusalReason.SLOT_TAKEN),
        (
            {"chosen": slot(4, 8), "free": [slot(4, 9)], "planned": [slot(4, 9)]},
            RefusalReason.SLOT_NOT_OFFERED,
        ),
        ({"chosen": slot(4, 8), "upcoming": 2}, RefusalReason.LIMIT_REACHED),
        ({"chosen": slot(4, 8), "mode": Mode.IN_PERSON, "site": "vanves"}, RefusalReason.MODE_NOT_ALLOWED),
        ({"chosen": slot(4, 8), "topic": "retraite"}, RefusalReason.TOPIC_NOT_ALLOWED),
        ({"chosen": slot(5, 8, DayKind.RETIREMENT), "topic": "logement"}, RefusalReason.TOPIC_NOT_ALLOWED),
        (
            {
                "chosen": Slot(
                    start=NOW - timedelta(hours=1),
                    end=NOW,
                    worker_id="ass",
                    kind=DayKind.PERMANENCE,
                    site_id="x",
                )
            },
            RefusalReason.IN_PAST,
        ),
    ],
)
def test_refusals_have_machine_readable_reasons(deployment, kwargs, reason):
    with pytest.raises(BookingRefused) as refused:
        book(deployment, **kwargs)
    assert refused.value.reason is reason


def test_taken_slot_comes_with_alternatives(deployment):
    free = [slot(4, 9), slot(4, 10), slot(11, 8)]
    with pytest.raises(BookingRefused) as refused:
        book(deployment, slot(4, 8), free=free, planned=[slot(4, 8), *free])
    assert refused.value.alternatives == (slot(4, 9), slot(4, 10), slot(11, 8))


def test_valid_bookings_pass(deployment):
    book(deployment, slot(4, 8), mode=Mode.IN_PERSON, site="chasseneuil", topic="logement")
    book(deployment, slot(5, 8, DayKind.RETIREMENT), topic="retraite", upcoming=1)


def appointment(**changes) -> Appointment:  # type: ignore[no-untyped-def]
    base = Appointment(
        id="a",
        worker_id="ass",
        agent_id="me",
        start=datetime(2027, 3, 4, 8, tzinfo=UTC),
        end=datetime(2027, 3, 4, 8, 45, tzinfo=UTC),
        mode=Mode.TEAMS,
        kind=DayKind.PERMANENCE,
        status=AppointmentStatus.CONFIRMED,
    )
    return dataclasses.replace(base, **changes)


@pytest.mark.parametrize(
    ("appt", "agent", "now", "reason"),
    [
        (appointment(), "someone-else", NOW, RefusalReason.NOT_OWNER),
        (appointment(status=AppointmentStatus.CANCELLED), "me", NOW, RefusalReason.NOT_ACTIVE),
        (appointment(), "me", datetime(2027, 3, 3, 9, tzinfo=UTC), RefusalReason.TOO_LATE),
        (appointment(), "me", datetime(2027, 3, 5, tzinfo=UTC), RefusalReason.IN_PAST),
    ],
)
def test_changes_are_refused_to_others_and_too_late(appt, agent, now, reason):
    with pytest.raises(BookingRefused) as refused:
        check_change(now=now, appointment=appt, agent_id=agent, policy=BookingPolicy())
    assert refused.value.reason is reason


def test_owner_may_change_in_time():
    check_change(now=NOW, appointment=appointment(), agent_id="me", policy=BookingPolicy())


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        Absence(worker_id="ass", start=datetime(2027, 3, 1), end=datetime(2027, 3, 2))


def test_urgent_during_an_open_ended_absence_goes_to_the_replacement(deployment, holidays):
    away = Absence.open_ended(worker_id="ass", start=paris(2027, 3, 1), source=AbsenceSource.AUTOMATIC_REPLIES)
    route = triage(
        now=paris(2027, 6, 3, 10),  # months later, until she turns her automatic replies off
        site_id="grenoble",
        directory=deployment.directory,
        absences=[away],
        policy=deployment.urgent,
        holidays=holidays,
    )
    assert [s.worker_id for s in route.steps] == ["remplacante", None]
