"""The instants the date-sensitive tests are pinned to: the suite's default, and the matrix that
`pytest --now=matrix` (CI, on the tests that start no browser) and `scripts/test-dates` (every
date-sensitive test) run them under. Each is a day on which a calendar product tends to be wrong."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path

from booking.document import parse_deployment
from booking.holidays import FrenchHolidays
from booking.plan import expand_plan


@dataclass(frozen=True, kw_only=True)
class PinnedDate:
    id: str
    instant: datetime
    why: str


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


DEFAULT = PinnedDate(
    id="default", instant=_at("2027-03-01T09:00:00+01:00"), why="an ordinary Monday morning (the suite's default)"
)

MATRIX = (
    DEFAULT,
    PinnedDate(
        id="ascension-2027",
        instant=_at("2027-05-03T10:00:00+02:00"),
        why="the week whose Thursday (6 May 2027, Ascension Day) is a public holiday",
    ),
    PinnedDate(
        id="christmas-week",
        instant=_at("2026-12-29T10:00:00+01:00"),
        why="between Christmas and New Year; her Christmas week (24 December) is closed",
    ),
    PinnedDate(
        id="last-thursday-next-planned",
        instant=_at("2026-12-31T15:00:00+01:00"),
        why="the last Thursday of 2026, during the permanence; 2027 is planned",
    ),
    PinnedDate(
        id="last-thursday-next-unplanned",
        instant=_at("2028-12-28T15:00:00+01:00"),
        why="the last Thursday of 2028, the sample plan's last year: 2029 is not planned, no slot is left",
    ),
    PinnedDate(
        id="dst-spring",
        instant=_at("2027-03-27T23:30:00+01:00"),
        why="the night before clocks go forward (28 March 2027)",
    ),
    PinnedDate(
        id="dst-autumn",
        instant=_at("2027-10-30T22:00:00+02:00"),
        why="the night before clocks go back (31 October 2027)",
    ),
    PinnedDate(
        id="friday-to-monday",
        instant=_at("2027-03-05T16:45:00+01:00"),
        why="a Friday at the end of the day: the notice period spans the weekend",
    ),
    PinnedDate(
        id="leap-day-2028",
        instant=_at("2028-02-29T09:00:00+01:00"),
        why="29 February 2028",
    ),
    PinnedDate(
        id="worker-on-holiday",
        instant=_at("2027-02-25T10:00:00+01:00"),
        why="a Thursday of her holidays (closed in the plan): she is away, no permanence today",
    ),
)


def select(option: str | None) -> tuple[PinnedDate, ...]:
    """`--now`: nothing (the default), `matrix`, ids of the matrix or ISO 8601 instants, comma-separated."""
    if not option:
        return (DEFAULT,)
    if option == "matrix":
        return MATRIX
    known = {d.id: d for d in MATRIX}
    chosen = []
    for item in filter(None, (part.strip() for part in option.split(","))):
        if item in known:
            chosen.append(known[item])
            continue
        instant = datetime.fromisoformat(item)
        if instant.tzinfo is None:
            raise ValueError(f"--now: give {item!r} with its offset (e.g. +01:00)")
        chosen.append(PinnedDate(id=item, instant=instant, why="given on the command line"))
    return tuple(chosen)


def pinned_environment(now: datetime) -> dict[str, str]:
    """What a served process or the command line needs to run at `now` (test mode, loopback)."""
    return {"PERMANENCE_TEST_MODE": "true", "PERMANENCE_TEST_NOW": now.isoformat()}


def sample_plan_text() -> str:
    return resources.files("bot").joinpath("resources/plan.sample.toml").read_text(encoding="utf-8")


def plan_opening_days(text: str, now: datetime) -> bool:
    """Whether the plan's titular opens a day between `now` (and its notice) and her booking horizon."""
    deployment = parse_deployment(tomllib.loads(text))
    plan = deployment.plans[deployment.directory.zones[0].worker_id]
    start = (now + plan.min_notice).astimezone(plan.zone).date()
    calendar = expand_plan(plan, start, (now + plan.horizon).date(), FrenchHolidays(deployment.subdivision))
    return bool(calendar.days)


def served_environment(now: datetime, folder: Path) -> dict[str, str]:
    """The environment of a served process (or the command line) that books at `now`: test mode
    and the pinned clock; and when the sample plan opens no day from then (its last year is
    ending), the sample with the next year agreed too, written in `folder`, so that a test that
    needs slots finds some. What an agent reads when next year is not planned has tests of its own."""
    environment = pinned_environment(now)
    text = bookable_plan_text(now)
    if text != sample_plan_text():
        path = folder / "plan.toml"
        path.write_text(text, encoding="utf-8")
        environment["PERMANENCE_PLAN_FILE"] = str(path)
    return environment


def bookable_plan_text(now: datetime) -> str:
    """The sample plan; or, when it opens no day from `now` (its last year is ending), the
    sample with the next year agreed too."""
    text = sample_plan_text()
    if plan_opening_days(text, now):
        return text
    following = now.year + 1
    extended, count = re.subn(r"^years = \[(.*)\]$", rf"years = [\1, {following}]", text, flags=re.MULTILINE)
    assert count == 1 and plan_opening_days(extended, now), "the sample plan's years could not be extended"
    return extended
