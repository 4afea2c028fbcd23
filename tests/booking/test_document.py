"""The deployment document: the sample parses; mistakes are refused with the faulty entry named."""

from __future__ import annotations

import tomllib
from importlib import resources
from typing import Any

import pytest

from booking.document import parse_deployment
from booking.errors import PlanError


def sample() -> dict[str, Any]:
    text = resources.files("bot").joinpath("resources/plan.sample.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def test_sample_describes_cned(deployment):
    directory = deployment.directory
    assert len(directory.sites) == 8
    assert directory.head_office.id == "chasseneuil"
    assert directory.titular_for_site("toulouse", __import__("datetime").date(2027, 1, 1)).id == "ass"
    assert [w.id for w in directory.replacement_chain("ass")] == ["remplacante"]
    assert deployment.plans["ass"].yearly_budget_days == 68
    assert {t.id for t in directory.topics} >= {"retraite", "autre", "non_precise"}


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["plans"]["ass"]["weekly"][0].update(hours="17:00-09:00"), "plans.ass.weekly[0]"),
        (lambda d: d["plans"]["ass"]["weekly"][0].update(weekday="jeudi"), "weekday"),
        (lambda d: d["plans"]["ass"].update(site="paris"), "plans.ass.site"),
        (lambda d: d["plans"]["ass"]["retirement_fridays"].update(nth=[6]), "nth"),
        (lambda d: d["zones"][0].update(worker="nobody"), "unknown worker"),
        (lambda d: d["sites"][1].update(head_office=True), "head office"),
        (lambda d: d["plans"]["ass"].update(slot_minutes=0), "slot length"),
        (
            lambda d: d["plans"]["ass"].update(extra_days=[{"date": "2027-02-30", "hours": "09:00-12:00"}]),
            "date",
        ),
        (lambda d: d["topics"][0].update(days=["sunday"]), "topics[0].days"),
        (lambda d: d["plans"].pop("ass"), "has no plan"),
    ],
)
def test_mistakes_are_refused_with_the_entry_named(mutate, message):
    data = sample()
    mutate(data)
    with pytest.raises(PlanError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_deployment(data)
