"""Fixtures for the pure domain: the shipped sample deployment, parsed once."""

from __future__ import annotations

import tomllib
from importlib import resources

import pytest

from booking.document import Deployment, parse_deployment
from booking.holidays import FrenchHolidays


def load_sample() -> Deployment:
    text = resources.files("bot").joinpath("resources/plan.sample.toml").read_text(encoding="utf-8")
    return parse_deployment(tomllib.loads(text))


@pytest.fixture(scope="session")
def deployment() -> Deployment:
    return load_sample()


@pytest.fixture(scope="session")
def holidays() -> FrenchHolidays:
    return FrenchHolidays()
