"""Suite-wide fixtures: every test keeps its embedded key file in its own temporary folder (never
the home folder), and every date-sensitive test runs at a pinned instant, never the wall clock.

A test that depends on the date asks for `pinned_now` (or `pinned_service` for the command line
and served processes) and is marked `any_date`: `pytest --now=matrix` runs those tests under each
date of `tests/dates.py` (Ascension week, Christmas week, daylight-saving nights, 29 February, ...).
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pytest

from tests.dates import pinned_environment, select


@pytest.fixture(autouse=True)
def _key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERMANENCE_KEY_FILE", str(tmp_path / "config" / "keys.json"))
    # The operators' metrics listener on a port the system chooses: tests run side by side.
    monkeypatch.setenv("PERMANENCE_METRICS_PORT", "0")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--now",
        default=os.environ.get("PERMANENCE_SUITE_NOW", ""),
        metavar="WHEN",
        help="pin the date-sensitive tests (marked any_date) to: 'matrix' (every date of tests/dates.py), "
        "ids of that matrix, or ISO 8601 instants with their offset, comma-separated "
        "(default: Monday 1 March 2027, 9:00 in Paris)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "pinned_now" in metafunc.fixturenames:
        dates = select(metafunc.config.getoption("--now"))
        metafunc.parametrize("pinned_now", [d.instant for d in dates], ids=[d.id for d in dates], scope="session")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Runs before `-m` deselects (a marker set in a conftest's `pytestmark` would not apply).
    for item in items:
        if "pinned_now" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.any_date)
        if "e2e" in item.path.parts:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def pinned_now() -> datetime:
    """The instant a date-sensitive test runs at (parametrized by `--now`; see above)."""
    raise AssertionError("parametrized by pytest_generate_tests")


@pytest.fixture
def pinned_service(pinned_now: datetime, monkeypatch: pytest.MonkeyPatch) -> datetime:
    """The command line run in this process at the pinned instant."""
    for name, value in pinned_environment(pinned_now).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PERMANENCE_HOST", raising=False)
    return pinned_now
