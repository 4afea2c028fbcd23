"""Offers: short and long absences, who is offered, and permanent replacement."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime

import pytest

from booking.absence import Absence, AbsenceLength, AbsenceSource, merge_absences
from booking.availability import Schedules, WorkerCalendar, offer_slots
from booking.directory import PermanentReplacement
from booking.model import Appointment, AppointmentStatus, DayKind, Interval, Mode

NOW = datetime(2027, 2, 22, 8, 0, tzinfo=UTC)


def schedules(deployment, holidays, **changes):  # type: ignore[no-untyped-def]
    base = Schedules(
        directory=deployment.directory,
        plans=deployment.plans,
        calendars={},
        absences=(),
        appointments=(),
        holidays=holidays,
    )
    return dataclasses.replace(base, **changes)


def paris(y, m, d, h=0, minute=0):  # type: ignore[no-untyped-def]
    from zoneinfo import ZoneInfo

    return datetime(y, m, d, h, minute, tzinfo=ZoneInfo("Europe/Paris"))


def test_present_worker_offers_her_own_slots(deployment, holidays):
    offer = offer_slots(
        now=NOW,
        site_id="vanves",
        topic=None,
        start=date(2027, 3, 1),
        days=14,
        schedules=schedules(deployment, holidays),
    )
    assert offer.notice is None
    assert {s.worker_id for s in offer.slots} == {"ass"}
    assert {s.start.date() for s in offer.slots if s.kind is DayKind.PERMANENCE} == {
        date(2027, 3, 4),
        date(2027, 3, 11),
    }


def test_short_absence_hides_her_slots_and_says_when_she_returns(deployment, holidays):
    away = Absence(
        worker_id="ass",
        start=paris(2027, 2, 22),
        end=paris(2027, 3, 6),
        source=AbsenceSource.AUTOMATIC_REPLIES,
    )
    assert away.length is AbsenceLength.SHORT
    offer = offer_slots(
        now=NOW,
        site_id="lille",
        topic=None,
        start=date(2027, 3, 1),
        days=14,
        schedules=schedules(deployment, holidays, absences=[away]),
    )
    assert offer.notice is not None
    assert offer.notice.length is AbsenceLength.SHORT and offer.notice.acting_id is None
    assert offer.notice.return_at == away.end
    assert offer.slots and min(s.start for s in offer.slots) >= away.end
    assert {s.worker_id for s in offer.slots} == {"ass"}


def test_long_absence_offers_the_replacement_on_the_permanence(deployment, holidays):
    away = Absence(worker_id="ass", start=paris(2027, 2, 15), end=paris(2027, 3, 8))
    assert away.length is AbsenceLength.LONG
    offer = offer_slots(
        now=NOW,
        site_id="rennes",
        topic=None,
        start=date(2027, 3, 1),
        days=14,
        schedules=schedules(deployment, holidays, absences=[away]),
    )
    assert offer.notice is not None and offer.notice.acting_id == "remplacante"
    during = [s for s in offer.slots if s.start < away.end]
    after = [s for s in offer.slots if s.start >= away.end]
    assert during and {s.worker_id for s in during} == {"remplacante"}
    assert after and {s.worker_id for s in after} == {"ass"}
    # The replacement's own calendar still counts.
    first = during[0]
    busy = WorkerCalendar(busy=(first.interval,))
    again = offer_slots(
        now=NOW,
        site_id="rennes",
        topic=None,
        start=date(2027, 3, 1),
        days=14,
        schedules=schedules(deployment, holidays, absences=[away], calendars={"remplacante": busy}),
    )
    assert first not in again.slots


def test_exactly_two_weeks_is_long(deployment):
    assert Absence(worker_id="ass", start=paris(2027, 3, 1), end=paris(2027, 3, 15)).length is AbsenceLength.LONG
    assert (
        Absence(worker_id="ass", start=paris(2027, 3, 1), end=paris(2027, 3, 14, 23, 59)).length is AbsenceLength.SHORT
    )


def test_overlapping_outlook_sources_merge_into_one_long_absence():
    ooo = Absence(
        worker_id="ass",
        start=paris(2027, 3, 1),
        end=paris(2027, 3, 10),
        source=AbsenceSource.AUTOMATIC_REPLIES,
    )
    oof = Absence(worker_id="ass", start=paris(2027, 3, 8), end=paris(2027, 3, 20), source=AbsenceSource.OOF_EVENT)
    other = Absence(worker_id="remplacante", start=paris(2027, 3, 1), end=paris(2027, 3, 2))
    merged = merge_absences([oof, other, ooo])
    assert [(a.worker_id, a.start, a.end) for a in merged] == [
        ("ass", ooo.start, oof.end),
        ("remplacante", other.start, other.end),
    ]
    assert merged[0].length is AbsenceLength.LONG


def test_booked_appointments_remove_their_slot(deployment, holidays):
    base = offer_slots(
        now=NOW,
        site_id="vanves",
        topic=None,
        start=date(2027, 3, 1),
        days=7,
        schedules=schedules(deployment, holidays),
    )
    taken = base.slots[0]
    appointment = Appointment(
        id="a1",
        worker_id="ass",
        agent_id="x",
        start=taken.start,
        end=taken.end,
        mode=Mode.TEAMS,
        kind=taken.kind,
        status=AppointmentStatus.CONFIRMED,
    )
    cancelled = dataclasses.replace(
        appointment,
        id="a2",
        status=AppointmentStatus.CANCELLED,
        start=base.slots[1].start,
        end=base.slots[1].end,
    )
    offer = offer_slots(
        now=NOW,
        site_id="vanves",
        topic=None,
        start=date(2027, 3, 1),
        days=7,
        schedules=schedules(deployment, holidays, appointments=[appointment, cancelled]),
    )
    assert taken not in offer.slots and base.slots[1] in offer.slots
    ignoring = offer_slots(
        now=NOW,
        site_id="vanves",
        topic=None,
        start=date(2027, 3, 1),
        days=7,
        schedules=schedules(deployment, holidays, appointments=[appointment]),
        ignore_busy=True,
    )
    assert taken in ignoring.slots


def test_permanent_replacement_takes_the_zone_from_its_date(deployment, holidays):
    directory = dataclasses.replace(
        deployment.directory,
        permanent=(PermanentReplacement(predecessor_id="ass", successor_id="remplacante", effective=date(2027, 3, 8)),),
    )
    plans = {
        **deployment.plans,
        "remplacante": dataclasses.replace(deployment.plans["ass"], worker_id="remplacante"),
    }
    s = schedules(deployment, holidays, directory=directory, plans=plans)
    before = offer_slots(now=NOW, site_id="lyon", topic=None, start=date(2027, 3, 1), days=7, schedules=s)
    after = offer_slots(now=NOW, site_id="lyon", topic=None, start=date(2027, 3, 8), days=7, schedules=s)
    assert before.titular.id == "ass" and after.titular.id == "remplacante"
    assert {x.worker_id for x in after.slots} == {"remplacante"}


def test_calendar_busy_blocks_are_respected(deployment, holidays):
    block = Interval(start=paris(2027, 3, 4, 0), end=paris(2027, 3, 5, 0))
    offer = offer_slots(
        now=NOW,
        site_id="vanves",
        topic=None,
        start=date(2027, 3, 1),
        days=7,
        schedules=schedules(deployment, holidays, calendars={"ass": WorkerCalendar(busy=(block,))}),
    )
    assert all(s.start.date() != date(2027, 3, 4) for s in offer.slots)


def test_open_ended_absence_is_short_with_no_return_date_for_two_weeks(deployment, holidays):
    away = Absence.open_ended(worker_id="ass", start=paris(2027, 2, 22), source=AbsenceSource.AUTOMATIC_REPLIES)
    assert away.is_open_ended and away.return_at is None
    with pytest.raises(ValueError, match="length_at"):
        _ = away.length
    assert away.length_at(paris(2027, 3, 7, 23, 59)) is AbsenceLength.SHORT
    assert away.length_at(paris(2027, 3, 8)) is AbsenceLength.LONG
    offer = offer_slots(
        now=NOW,
        site_id="lille",
        topic=None,
        start=date(2027, 3, 1),
        days=28,
        schedules=schedules(deployment, holidays, absences=[away]),
    )
    assert offer.notice is not None
    assert offer.notice.length is AbsenceLength.SHORT and offer.notice.return_at is None
    assert offer.notice.acting_id is None
    assert offer.slots == ()  # no return known: none of her slots is offered


def test_open_ended_absence_becomes_long_after_two_weeks_and_the_replacement_runs_the_permanence(deployment, holidays):
    away = Absence.open_ended(worker_id="ass", start=paris(2027, 2, 1), source=AbsenceSource.AUTOMATIC_REPLIES)
    offer = offer_slots(
        now=NOW,  # three weeks later
        site_id="rennes",
        topic=None,
        start=date(2027, 3, 1),
        days=14,
        schedules=schedules(deployment, holidays, absences=[away]),
    )
    assert offer.notice is not None and offer.notice.length is AbsenceLength.LONG
    assert offer.notice.return_at is None and offer.notice.acting_id == "remplacante"
    assert offer.slots and {s.worker_id for s in offer.slots} == {"remplacante"}


def test_a_return_date_she_gives_ends_an_open_ended_absence(deployment, holidays):
    away = Absence.open_ended(worker_id="ass", start=paris(2027, 2, 22), source=AbsenceSource.AUTOMATIC_REPLIES)
    declared = Absence(worker_id="ass", start=paris(2027, 2, 23), end=paris(2027, 3, 6))
    later_leave = Absence(worker_id="ass", start=paris(2027, 8, 2), end=paris(2027, 8, 20))
    merged = merge_absences([later_leave, away, declared])
    assert [(a.start, a.end) for a in merged] == [(away.start, declared.end), (later_leave.start, later_leave.end)]
    assert merged[0].length is AbsenceLength.SHORT
    offer = offer_slots(
        now=NOW,
        site_id="lille",
        topic=None,
        start=date(2027, 3, 1),
        days=14,
        schedules=schedules(deployment, holidays, absences=[away, declared]),
    )
    assert offer.notice is not None and offer.notice.return_at == declared.end
    assert offer.slots and min(s.start for s in offer.slots) >= declared.end
    assert {s.worker_id for s in offer.slots} == {"ass"}
