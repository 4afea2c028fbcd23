"""The deployment document: sites, workers, zones, topics, plans and policies, as plain data.

Parsing is pure (it takes the mapping that a TOML reader returns) so that the plan agreed
at the kick-off meeting is data, validated with messages that name the faulty entry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, time, timedelta
from typing import Any

from booking.directory import Directory, PermanentReplacement
from booking.errors import PlanError
from booking.model import DayKind, Site, Topic, Worker, WorkerRole, Zone
from booking.plan import (
    PARIS,
    ClosedDay,
    DayHours,
    ExplicitDay,
    PermanencePlan,
    RetirementFridays,
    TimeWindow,
    WeeklyDay,
)
from booking.rules import BookingPolicy
from booking.urgency import UrgentPolicy, WorkingHours

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True, kw_only=True, slots=True)
class InformationService:
    """The minimum information service offered while the worker is away (contract §5.2)."""

    phone: str = ""
    hours: str = ""
    practical: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class Deployment:
    directory: Directory
    plans: dict[str, PermanencePlan]
    booking: BookingPolicy
    urgent: UrgentPolicy
    information: InformationService
    subdivision: str | None = None  # regional holidays (e.g. "Alsace-Moselle")


def _table(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise PlanError(f"{where}.{key} must be a table")
    return value


def _list(data: Mapping[str, Any], key: str, where: str) -> Sequence[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise PlanError(f"{where}.{key} must be a list")
    return value


def _str(data: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str) or (default is None and not value):
        raise PlanError(f"{where}.{key} must be a non-empty string")
    return value


def _int(data: Mapping[str, Any], key: str, where: str, default: int) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PlanError(f"{where}.{key} must be a non-negative whole number")
    return value


def _date(value: Any, where: str) -> date:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise PlanError(f"{where} must be a date (YYYY-MM-DD)")


def _window(value: Any, where: str) -> TimeWindow:
    if not isinstance(value, str) or value.count("-") != 1:
        raise PlanError(f"{where} must look like '09:00-17:00'")
    first, last = value.split("-")
    try:
        return TimeWindow(start=time.fromisoformat(first.strip()), end=time.fromisoformat(last.strip()))
    except ValueError as err:
        raise PlanError(f"{where} must look like '09:00-17:00'") from err


def _hours(data: Mapping[str, Any], where: str) -> DayHours:
    window = _window(data.get("hours"), f"{where}.hours")
    breaks = tuple(_window(b, f"{where}.breaks") for b in _list(data, "breaks", where))
    try:
        return DayHours(start=window.start, end=window.end, breaks=breaks)
    except ValueError as err:
        raise PlanError(f"{where}: {err}") from err


def _kind(value: Any, where: str) -> DayKind:
    try:
        return DayKind(value)
    except ValueError as err:
        raise PlanError(f"{where} must be one of {', '.join(k.value for k in DayKind)}") from err


def _weekday(value: Any, where: str) -> int:
    if isinstance(value, str) and value.lower() in WEEKDAYS:
        return WEEKDAYS.index(value.lower())
    raise PlanError(f"{where} must be a weekday name in English (e.g. 'thursday')")


def _plan(worker_id: str, data: Mapping[str, Any], timezone: str, site_ids: set[str]) -> PermanencePlan:
    where = f"plans.{worker_id}"
    site = _str(data, "site", where)
    if site not in site_ids:
        raise PlanError(f"{where}.site names an unknown site")
    weekly = tuple(
        WeeklyDay(
            weekday=_weekday(w.get("weekday"), f"{where}.weekly[{i}].weekday"),
            kind=_kind(w.get("kind", "permanence"), f"{where}.weekly[{i}].kind"),
            hours=_hours(w, f"{where}.weekly[{i}]"),
        )
        for i, w in enumerate(_list(data, "weekly", where))
    )
    retirement = None
    if "retirement_fridays" in data:
        table = _table(data, "retirement_fridays", where)
        nth = tuple(_list(table, "nth", f"{where}.retirement_fridays"))
        if any(isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 5 for n in nth):
            raise PlanError(f"{where}.retirement_fridays.nth must hold numbers from 1 to 5")
        retirement = RetirementFridays(
            nth=nth,
            dates=tuple(
                _date(d, f"{where}.retirement_fridays.dates")
                for d in _list(table, "dates", f"{where}.retirement_fridays")
            ),
            hours=_hours(table, f"{where}.retirement_fridays"),
        )
    explicit = tuple(
        ExplicitDay(
            date=_date(e.get("date"), f"{where}.extra_days[{i}].date"),
            kind=_kind(e.get("kind", "extra"), f"{where}.extra_days[{i}].kind"),
            hours=_hours(e, f"{where}.extra_days[{i}]"),
        )
        for i, e in enumerate(_list(data, "extra_days", where))
    )
    closed = tuple(
        ClosedDay(
            date=_date(c.get("date"), f"{where}.closed_days[{i}].date"),
            reason=_str(c, "reason", f"{where}.closed_days[{i}]", ""),
        )
        for i, c in enumerate(_list(data, "closed_days", where))
    )
    years = tuple(_list(data, "years", where))
    if any(isinstance(y, bool) or not isinstance(y, int) or not 2000 <= y <= 2100 for y in years):
        raise PlanError(f"{where}.years must list years, e.g. [2026, 2027]")
    ordered_raw = _table(data, "ordered_extra_days", where)
    try:
        ordered = {int(year): int(days) for year, days in ordered_raw.items()}
    except (TypeError, ValueError) as err:
        raise PlanError(f"{where}.ordered_extra_days maps years to day counts") from err
    try:
        return PermanencePlan(
            worker_id=worker_id,
            site_id=site,
            place=_str(data, "place", where, ""),
            timezone=timezone,
            weekly=weekly,
            retirement=retirement,
            explicit_days=explicit,
            closed_days=closed,
            slot_length=timedelta(minutes=_int(data, "slot_minutes", where, 45)),
            buffer=timedelta(minutes=_int(data, "buffer_minutes", where, 15)),
            min_notice=timedelta(hours=_int(data, "min_notice_hours", where, 24)),
            horizon=timedelta(days=_int(data, "horizon_days", where, 60)),
            yearly_budget_days=_int(data, "yearly_budget_days", where, 68),
            ordered_extra_days=ordered,
            years=tuple(sorted(set(years))),
        )
    except ValueError as err:
        raise PlanError(f"{where}: {err}") from err


def parse_deployment(data: Mapping[str, Any]) -> Deployment:
    """Build and validate the deployment from a TOML-shaped mapping."""
    timezone = _str(data, "timezone", "document", PARIS)
    sites = tuple(
        Site(
            id=_str(s, "id", f"sites[{i}]"),
            name=_str(s, "name", f"sites[{i}]"),
            department=_str(s, "department", f"sites[{i}]", ""),
            head_office=bool(s.get("head_office", False)),
            address=_str(s, "address", f"sites[{i}]", ""),
        )
        for i, s in enumerate(_list(data, "sites", "document"))
    )
    workers = []
    for i, w in enumerate(_list(data, "workers", "document")):
        try:
            role = WorkerRole(w.get("role", "titular"))
        except ValueError as err:
            raise PlanError(f"workers[{i}].role must be 'titular' or 'replacement'") from err
        workers.append(
            Worker(
                id=_str(w, "id", f"workers[{i}]"),
                name=_str(w, "name", f"workers[{i}]"),
                role=role,
                phone=_str(w, "phone", f"workers[{i}]", ""),
                object_id=_str(w, "object_id", f"workers[{i}]", ""),
                mailbox=_str(w, "mailbox", f"workers[{i}]", ""),
            )
        )
    zones = tuple(
        Zone(
            id=_str(z, "id", f"zones[{i}]"),
            worker_id=_str(z, "worker", f"zones[{i}]"),
            site_ids=frozenset(_list(z, "sites", f"zones[{i}]")),
        )
        for i, z in enumerate(_list(data, "zones", "document"))
    )
    topics = tuple(
        Topic(
            id=_str(t, "id", f"topics[{i}]"),
            label=_str(t, "label", f"topics[{i}]"),
            day_kinds=frozenset(
                _kind(k, f"topics[{i}].days") for k in _list(t, "days", f"topics[{i}]") or ["permanence", "extra"]
            ),
        )
        for i, t in enumerate(_list(data, "topics", "document"))
    )
    replacements = {str(k): tuple(str(x) for x in v) for k, v in _table(data, "replacements", "document").items()}
    permanent = tuple(
        PermanentReplacement(
            predecessor_id=_str(p, "predecessor", f"permanent_replacements[{i}]"),
            successor_id=_str(p, "successor", f"permanent_replacements[{i}]"),
            effective=_date(p.get("effective"), f"permanent_replacements[{i}].effective"),
        )
        for i, p in enumerate(_list(data, "permanent_replacements", "document"))
    )
    try:
        directory = Directory(
            sites=sites,
            workers=tuple(workers),
            zones=zones,
            topics=topics,
            replacements=replacements,
            permanent=permanent,
        )
    except ValueError as err:
        raise PlanError(str(err)) from err
    if sum(1 for s in sites if s.head_office) != 1:
        raise PlanError("exactly one site must be the head office")

    site_ids = {s.id for s in sites}
    worker_ids = {w.id for w in workers}
    plans = {}
    for worker_id, plan_data in _table(data, "plans", "document").items():
        if worker_id not in worker_ids:
            raise PlanError(f"plans.{worker_id} names an unknown worker")
        plans[worker_id] = _plan(worker_id, plan_data, timezone, site_ids)
    for zone in zones:
        if zone.worker_id not in plans:
            raise PlanError(f"the titular of zone {zone.id} has no plan")

    booking_data = _table(data, "booking", "document")
    urgent_data = _table(data, "urgent", "document")
    info = _table(data, "information", "document")
    window = _window(urgent_data.get("working_hours", "09:00-17:00"), "urgent.working_hours")
    working_days = _list(urgent_data, "working_days", "urgent") or list(WEEKDAYS[:5])
    try:
        booking = BookingPolicy(
            max_upcoming=_int(booking_data, "max_upcoming", "booking", 2),
            change_notice=timedelta(hours=_int(booking_data, "change_notice_hours", "booking", 24)),
        )
        urgent = UrgentPolicy(
            response_time=timedelta(hours=_int(urgent_data, "response_working_hours", "urgent", 4)),
            working_hours=WorkingHours(
                weekdays=frozenset(_weekday(d, "urgent.working_days") for d in working_days),
                start=window.start,
                end=window.end,
                timezone=timezone,
            ),
            hotline_name=_str(urgent_data, "hotline_name", "urgent", ""),
            hotline_phone=_str(urgent_data, "hotline_phone", "urgent", ""),
        )
    except ValueError as err:
        raise PlanError(str(err)) from err
    subdivision = data.get("holiday_subdivision")
    return Deployment(
        directory=directory,
        plans=plans,
        booking=booking,
        urgent=urgent,
        information=InformationService(
            phone=_str(info, "phone", "information", ""),
            hours=_str(info, "hours", "information", ""),
            practical=tuple(str(p) for p in _list(info, "practical", "information")),
        ),
        subdivision=str(subdivision) if subdivision else None,
    )
