"""The published JSON Schema of the plan file agrees with the parser in booking/document.py."""

from __future__ import annotations

import tomllib
from importlib import resources

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from booking.document import WEEKDAYS, parse_deployment
from booking.errors import PlanError
from booking.model import DayKind, WorkerRole
from bot.checks.plan_check import _jsonable, key_lines, plan_schema

SAMPLE = resources.files("bot").joinpath("resources/plan.sample.toml").read_text(encoding="utf-8")


def validator() -> Draft202012Validator:
    Draft202012Validator.check_schema(plan_schema())
    return Draft202012Validator(plan_schema(), format_checker=FormatChecker())


def test_the_sample_plan_validates_and_the_enums_are_the_parsers():
    assert list(validator().iter_errors(_jsonable(tomllib.loads(SAMPLE)))) == []
    definitions = plan_schema()["$defs"]
    assert set(definitions["kind"]["enum"]) == {k.value for k in DayKind}
    assert {d.lower() for d in definitions["weekday"]["enum"]} == set(WEEKDAYS)
    workers = plan_schema()["properties"]["workers"]["items"]["properties"]
    assert set(workers["role"]["enum"]) == {r.value for r in WorkerRole}


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('hours = "09:00-17:00"\nbreaks', 'hours = "9h"\nbreaks'),
        ('weekday = "thursday"', 'weekday = "jeudi"'),
        ("nth = [1, 3]", "nth = [0]"),
        ('kind = "permanence"', 'kind = "holiday"'),
        ("date = 2027-08-12", 'date = "2027-02-30"'),
        ('role = "replacement"', 'role = "intern"'),
    ],
)
def test_what_the_parser_refuses_the_schema_refuses_too(old, new):
    broken = tomllib.loads(SAMPLE.replace(old, new, 1))
    with pytest.raises(PlanError):
        parse_deployment(broken)
    assert list(validator().iter_errors(_jsonable(broken)))


def test_key_lines_point_at_tables_entries_and_keys():
    lines = key_lines(SAMPLE)
    numbered = SAMPLE.splitlines()
    assert numbered[lines[("plans", "ass", "weekly", 0, "hours")] - 1].startswith("hours =")
    assert numbered[lines[("sites", 7, "id")] - 1] == 'id = "toulouse"'
    assert numbered[lines[("plans", "ass", "closed_days", 5)] - 1] == "[[plans.ass.closed_days]]"
    assert numbered[lines[("information", "practical")] - 1].startswith("practical = [")
