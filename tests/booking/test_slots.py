"""Slots: busy blocks, appointments, notice, horizon, topics, alternatives, and properties."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from booking.model import DayKind, Interval, Slot
from booking.plan import expand_plan
from booking.slots import alternatives, free_slots, slots_of_day

NOW = datetime(2027, 2, 22, 8, 0, tzinfo=UTC)  # a Monday


def march(deployment, holidays):  # type: ignore[no-untyped-def]
    plan = deployment.plans["ass"]
    return plan, expand_plan(plan, date(2027, 3, 1), date(2027, 3, 8), holidays).days


def test_a_thursday_has_six_slots_around_lunch(deployment, holidays):
    plan, days = march(deployment, holidays)
    thursday = next(d for d in days if d.kind is DayKind.PERMANENCE)
    starts = [s.start.astimezone(plan.zone).strftime("%H:%M") for s in slots_of_day(thursday, plan)]
    assert starts == ["09:00", "10:00", "11:00", "13:30", "14:30", "15:30"]


def test_busy_blocks_and_appointments_remove_overlapping_slots(deployment, holidays):
    plan, days = march(deployment, holidays)
    everything = free_slots(plan=plan, days=days, busy=(), now=NOW)
    # 4 March 2027 10:30-11:15 Paris (a committee) overlaps the 10:00 and 11:00 slots.
    committee = Interval(start=datetime(2027, 3, 4, 9, 30, tzinfo=UTC), end=datetime(2027, 3, 4, 10, 15, tzinfo=UTC))
    booked = everything[0].interval
    remaining = free_slots(plan=plan, days=days, busy=[committee, booked], now=NOW)
    removed = set(everything) - set(remaining)
    assert {s.start for s in removed} == {
        everything[0].start,
        datetime(2027, 3, 4, 9, 0, tzinfo=UTC),
        datetime(2027, 3, 4, 10, 0, tzinfo=UTC),
    }
    # A busy block that merely touches a slot's end does not remove it.
    touching = Interval(start=everything[2].end, end=everything[2].end + timedelta(minutes=10))
    assert everything[2] in free_slots(plan=plan, days=days, busy=[touching], now=NOW)


def test_minimum_notice_and_horizon(deployment, holidays):
    plan, days = march(deployment, holidays)
    thursday_9 = datetime(2027, 3, 4, 8, 0, tzinfo=UTC)
    just_inside = thursday_9 - plan.min_notice
    assert free_slots(plan=plan, days=days, busy=(), now=just_inside)[0].start == thursday_9
    too_late = just_inside + timedelta(minutes=1)
    assert free_slots(plan=plan, days=days, busy=(), now=too_late)[0].start > thursday_9
    long_before = thursday_9 - plan.horizon - timedelta(minutes=1)
    assert free_slots(plan=plan, days=days, busy=(), now=long_before) == []


def test_retirement_topic_gets_only_retirement_fridays(deployment, holidays):
    plan = deployment.plans["ass"]
    days = expand_plan(plan, date(2027, 3, 1), date(2027, 4, 1), holidays).days
    retirement = deployment.directory.topic("retraite")
    housing = deployment.directory.topic("logement")
    for_retirement = free_slots(plan=plan, days=days, busy=(), now=NOW, topic=retirement)
    assert for_retirement and {s.kind for s in for_retirement} == {DayKind.RETIREMENT}
    assert {s.start.date() for s in for_retirement} == {date(2027, 3, 5), date(2027, 3, 19)}
    for_housing = free_slots(plan=plan, days=days, busy=(), now=NOW, topic=housing)
    assert {s.kind for s in for_housing} == {DayKind.PERMANENCE}


def test_alternatives_are_the_nearest_free_slots(deployment, holidays):
    plan, days = march(deployment, holidays)
    free = free_slots(plan=plan, days=days, busy=(), now=NOW)
    wanted = free[4].start
    nearby = alternatives(wanted, [s for s in free if s != free[4]], count=2)
    assert nearby == [free[3], free[5]]


intervals = st.builds(
    lambda start, minutes: Interval(
        start=datetime(2027, 3, 1, tzinfo=UTC) + timedelta(minutes=start),
        end=datetime(2027, 3, 1, tzinfo=UTC) + timedelta(minutes=start + minutes),
    ),
    st.integers(min_value=0, max_value=60 * 24 * 31),
    st.integers(min_value=1, max_value=60 * 24 * 3),
)


@settings(max_examples=150, deadline=None)
@given(busy=st.lists(intervals, max_size=25), data=st.data())
def test_slots_never_overlap_busy_time_or_each_other_and_ignore_input_order(deployment, holidays, busy, data):
    plan = deployment.plans["ass"]
    days = expand_plan(plan, date(2027, 3, 1), date(2027, 4, 1), holidays).days
    slots = free_slots(plan=plan, days=days, busy=busy, now=NOW)
    for slot in slots:
        assert not any(slot.interval.overlaps(b) for b in busy)
    for first, second in itertools.pairwise(slots):
        assert first.end <= second.start
    shuffled_busy = data.draw(st.permutations(busy))
    shuffled_days = data.draw(st.permutations(days))
    assert free_slots(plan=plan, days=shuffled_days, busy=shuffled_busy, now=NOW) == slots


@given(st.lists(intervals, min_size=1, max_size=10))
def test_slot_keys_are_unique_per_worker_and_start(busy):
    slots = {
        Slot(start=b.start, end=b.end, worker_id="ass", kind=DayKind.PERMANENCE, site_id="chasseneuil") for b in busy
    }
    assert len({s.key for s in slots}) == len({s.start for s in slots})
