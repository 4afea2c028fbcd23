"""`PERMANENCE_TEST_NOW`: the service and the command line at a pinned instant, for tests only:
refused without test mode and off loopback, honoured by every clock read above `booking/`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.bootstrap import bootstrap
from bot.cli import main
from bot.clock import PinnedClock, service_clock, system_clock
from bot.runtime import StartupError
from bot.settings import Settings
from tests.helpers.bot_http import APP_ID, TENANT
from tests.helpers.served import serve

LEAP_DAY = datetime(2028, 2, 29, 9, 0, tzinfo=UTC)


def settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "var", key_file=tmp_path / "config" / "keys.json", **values)


def test_a_pinned_clock_without_test_mode_is_refused_by_serve_and_the_command_line(tmp_path, monkeypatch, capsys):
    result = serve(tmp_path, PERMANENCE_TEST_NOW=LEAP_DAY.isoformat())
    assert result.returncode == 2
    assert "PERMANENCE_TEST_NOW is for tests only" in result.stderr

    monkeypatch.setenv("PERMANENCE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("PERMANENCE_TEST_NOW", LEAP_DAY.isoformat())
    monkeypatch.delenv("PERMANENCE_TEST_MODE", raising=False)
    assert main(["plan", "show", "--json"]) == 2
    assert "PERMANENCE_TEST_NOW is for tests only" in capsys.readouterr().err
    assert not (tmp_path / "var").exists()  # refused before anything was opened


async def test_bootstrap_refuses_a_pinned_clock_without_test_mode(tmp_path):
    with pytest.raises(StartupError, match="for tests only"):
        await bootstrap(settings(tmp_path, test_now=LEAP_DAY))


def test_a_pinned_clock_is_refused_off_loopback(tmp_path, monkeypatch, capsys):
    result = serve(
        tmp_path,
        MicrosoftAppId=APP_ID,
        MicrosoftAppPassword="secret",
        MicrosoftAppTenantId=TENANT,
        PERMANENCE_HOST="0.0.0.0",
        PERMANENCE_TEST_MODE="true",
        PERMANENCE_TEST_NOW=LEAP_DAY.isoformat(),
    )
    assert result.returncode == 2
    assert "refused on 0.0.0.0" in result.stderr

    monkeypatch.setenv("PERMANENCE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("PERMANENCE_HOST", "10.1.2.3")
    monkeypatch.setenv("PERMANENCE_TEST_MODE", "true")
    monkeypatch.setenv("PERMANENCE_TEST_NOW", LEAP_DAY.isoformat())
    assert main(["plan", "show"]) == 2
    assert "PERMANENCE_TEST_NOW is refused on 10.1.2.3" in capsys.readouterr().err


def test_an_instant_without_its_offset_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PERMANENCE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("PERMANENCE_TEST_MODE", "true")
    monkeypatch.setenv("PERMANENCE_TEST_NOW", "2028-02-29T09:00:00")
    assert main(["plan", "show"]) == 2
    assert "give the instant with its offset" in capsys.readouterr().err


def test_the_pinned_clock_starts_at_its_instant_and_moves_on_with_time():
    ticks = iter([100.0, 100.0, 103.5, 103.5])
    clock = PinnedClock(datetime.fromisoformat("2028-02-29T10:00:00+01:00"), monotonic=lambda: next(ticks))
    assert clock() == LEAP_DAY
    assert clock() == LEAP_DAY + timedelta(seconds=3.5)
    assert clock().tzinfo is UTC
    with pytest.raises(ValueError, match="offset"):
        PinnedClock(datetime(2028, 2, 29, 9))


def test_without_a_pinned_instant_the_service_reads_the_system_clock(tmp_path):
    assert service_clock(settings(tmp_path)) is system_clock
    assert service_clock(settings(tmp_path, test_mode=True)) is system_clock


async def test_the_service_at_a_pinned_instant_offers_slots_from_that_day(tmp_path):
    runtime = await bootstrap(settings(tmp_path, test_mode=True, test_now=LEAP_DAY))
    try:
        now = runtime.clock()
        assert LEAP_DAY <= now < LEAP_DAY + timedelta(minutes=5)
        offer = await runtime.app.offers.offer(now=now, site_id="vanves", topic_id=None, days=14)
        assert offer.slots, "the sample plan opens days in March 2028"
        first = offer.slots[0].start
        # Tuesday 29 February: 24 h of notice, then the first permanence Thursday, 2 March 2028.
        assert first.astimezone(UTC).date().isoformat() == "2028-03-02"
    finally:
        await runtime.close()


def test_the_command_line_defaults_to_the_pinned_year(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PERMANENCE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("PERMANENCE_TEST_MODE", "true")
    monkeypatch.setenv("PERMANENCE_TEST_NOW", LEAP_DAY.isoformat())
    assert main(["plan", "show", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["year"] == 2028
    assert len(document["days"]) == 68  # the sample plan's 2028 fits the contract's budget
