"""Operator commands end to end through `permanence`: outbox, plan check, backup and a restore drill."""

from __future__ import annotations

import asyncio
import json
import shutil
import stat
import tomllib
import uuid
from datetime import date, datetime, time, timedelta
from importlib import resources
from pathlib import Path

import pytest

from booking.document import parse_deployment
from booking.holidays import FrenchHolidays
from booking.model import Appointment, AppointmentStatus, DayKind, Mode, Worker, WorkerRole
from booking.plan import expand_plan
from bot.cli import main
from bot.runtime import key_file, open_store
from bot.settings import Settings
from bot.texts import PARIS
from tests.storage.conftest import OPERATOR

SAMPLE = resources.files("bot").joinpath("resources/plan.sample.toml").read_text(encoding="utf-8")


@pytest.fixture
def settings(tmp_path, monkeypatch, pinned_service) -> Settings:  # type: ignore[no-untyped-def]
    data = tmp_path / "var"
    monkeypatch.setenv("PERMANENCE_DATA_DIR", str(data))
    monkeypatch.delenv("PERMANENCE_DATABASE_URL", raising=False)
    monkeypatch.delenv("PERMANENCE_PLAN_FILE", raising=False)
    return Settings(_env_file=None, data_dir=data)


# The sample's rules in every year (not only the years it was agreed for), so that a test pinned
# to the sample's last year still finds Thursdays after it.
EVERY_YEAR = SAMPLE.replace("years = [2026, 2027, 2028]\n", "")


def thursdays(now: datetime, count: int) -> list[date]:
    """The first `count` permanence Thursdays the plan opens from two weeks after `now`."""
    deployment = parse_deployment(tomllib.loads(EVERY_YEAR))
    start = now.astimezone(PARIS).date() + timedelta(days=14)
    calendar = expand_plan(
        deployment.plans["ass"], start, start + timedelta(days=120), FrenchHolidays(deployment.subdivision)
    )
    found = [d.date for d in calendar.days if d.kind is DayKind.PERMANENCE]
    assert len(found) >= count, "the plan opens too few Thursdays"
    return found[:count]


async def book(settings: Settings, starts: list[datetime], now: datetime) -> list[str]:
    store = await open_store(settings)
    references = []
    try:
        async with store.unit_of_work() as uow:
            await uow.workers.sync([Worker(id="ass", name="ASS", role=WorkerRole.TITULAR)])
            for i, start in enumerate(starts):
                agent = await uow.agents.ensure(f"oid-{i}", f"SENTINEL-Nom-{i}", now)
                stored = await uow.appointments.add(
                    Appointment(
                        id=str(uuid.uuid4()),
                        worker_id="ass",
                        agent_id=agent,
                        start=start,
                        end=start + timedelta(minutes=45),
                        mode=Mode.TEAMS,
                        kind=DayKind.PERMANENCE,
                        status=AppointmentStatus.CONFIRMED,
                    ),
                    site_id="vanves",
                    topic_id="logement",
                    message=f"SENTINEL-message-{i}",
                    now=now,
                )
                references.append(stored.reference)
            await uow.commit()
    finally:
        await store.dispose()
    return references


async def queue_outbox(settings: Settings, now: datetime) -> dict[str, int]:
    store = await open_store(settings)
    try:
        async with store.unit_of_work() as uow:
            ids = {
                "dead": await uow.outbox.add(
                    "calendar.create", {"appointment_id": "SENTINEL"}, now - timedelta(hours=2)
                ),
                "late": await uow.outbox.add("notify.reminder", {}, now - timedelta(hours=1)),
                "future": await uow.outbox.add("notify.reminder", {}, now, not_before=now + timedelta(days=1)),
            }
            await uow.commit()
        async with store.unit_of_work() as uow:
            await uow.outbox.claim("test", now, limit=1)
            await uow.outbox.retry_later(ids["dead"], "test", "graph_403_forbidden", now, dead=True)
            await uow.commit()
        return ids
    finally:
        await store.dispose()


def test_outbox_list_retry_and_drop(settings, capsys, pinned_now):
    ids = asyncio.run(queue_outbox(settings, pinned_now))
    assert main(["outbox", "list", "--json"]) == 0
    out = capsys.readouterr().out
    rows = {r["id"]: r for r in json.loads(out)}
    assert {r["state"] for r in rows.values()} == {"dead", "late", "scheduled"}
    assert rows[ids["dead"]]["last_error"] == "graph_403_forbidden" and rows[ids["dead"]]["attempts"] == 1
    assert "SENTINEL" not in out and "appointment_id" not in out
    assert main(["outbox", "list", "--state", "dead"]) == 0
    table = capsys.readouterr().out
    assert "graph_403_forbidden" in table and "notify.reminder" not in table

    assert main(["outbox", "drop", str(ids["late"])]) == 1  # not dead
    assert "--force" in capsys.readouterr().err
    assert main(["outbox", "retry", "999999"]) == 1
    assert "aucune ligne n° 999999" in capsys.readouterr().err
    assert main(["outbox", "drop", "999999"]) == 1
    assert main(["outbox", "retry"]) == 2
    assert main(["outbox", "retry", "--all-dead"]) == 0
    assert "1 ligne abandonnée remise à traiter" in capsys.readouterr().out
    assert main(["outbox", "list", "--state", "dead", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["outbox", "drop", "--force", str(ids["future"])]) == 0
    assert f"ligne n° {ids['future']} supprimée" in capsys.readouterr().out
    assert main(["outbox", "list", "--json"]) == 0
    assert ids["future"] not in {r["id"] for r in json.loads(capsys.readouterr().out)}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plan.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_plan_check_accepts_the_sample(settings, tmp_path, capsys):
    assert main(["plan", "check", str(write(tmp_path, SAMPLE))]) == 0
    assert "planning valide" in capsys.readouterr().out


def line_of(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if fragment in line)


@pytest.mark.parametrize(
    ("old", "new", "key", "french"),
    [
        ('hours = "09:00-17:00"\nbreaks', 'hours = "9h-17h"\nbreaks', "plans.ass.weekly[0].hours", "09:00-17:00"),
        ('site = "chasseneuil"', 'site = "paris"', "plans.ass.site", "site inconnu"),
        ("slot_minutes = 45", "slot_minute = 45", "plans.ass", "clé inconnue : « slot_minute »"),
        ("nth = [1, 3]", "nth = [1, 6]", "plans.ass.retirement_fridays.nth[1]", "hors des limites"),
        ('weekday = "thursday"', 'weekday = "jeudi"', "plans.ass.weekly[0].weekday", "valeur non reconnue"),
        ("date = 2027-08-12", 'date = "12/08/2027"', "plans.ass.closed_days[9].date", "AAAA-MM-JJ"),
        ('worker = "ass"', 'worker = "personne"', "", "intervenante inconnue"),
        ("[booking]", "[booking", "", "syntaxe TOML invalide"),
    ],
)
def test_plan_check_names_the_line_at_fault_in_french_and_english(settings, tmp_path, capsys, old, new, key, french):
    assert old in SAMPLE
    broken = SAMPLE.replace(old, new, 1)
    assert main(["plan", "check", str(write(tmp_path, broken))]) == 1
    err = capsys.readouterr().err
    expected = line_of(broken, new.split("\n")[0])
    assert f"ligne {expected}" in err and f"line {expected}" not in err  # French only
    assert french in err and (not key or f"({key})" in err)


def test_plan_check_against_the_database_lists_the_appointments_a_new_plan_would_orphan(
    settings, tmp_path, capsys, pinned_now
):
    thursday, later = thursdays(pinned_now, 2)
    nine = datetime.combine(thursday, time(9), tzinfo=PARIS)
    afternoon = datetime.combine(later, time(14, 30), tzinfo=PARIS)
    references = asyncio.run(book(settings, [nine, afternoon], pinned_now))
    assert main(["plan", "check", str(write(tmp_path, EVERY_YEAR)), "--against-database"]) == 0
    assert "aucun rendez-vous orphelin" in capsys.readouterr().out
    closed = EVERY_YEAR + f'\n[[plans.ass.closed_days]]\ndate = {thursday.isoformat()}\nreason = "CPAS"\n'
    assert main(["plan", "check", str(write(tmp_path, closed)), "--against-database"]) == 1
    out = capsys.readouterr().out
    assert "1 rendez-vous sans créneau" in out and references[0] in out and references[1] not in out
    assert "SENTINEL" not in out


def test_backup_refuses_postgresql_with_guidance(settings, monkeypatch, capsys):
    monkeypatch.setenv("PERMANENCE_DATABASE_URL", "postgresql+asyncpg://permanence@127.0.0.1:5432/permanence")
    monkeypatch.setenv("PERMANENCE_ENCRYPTION_KEY", "k1:" + "A" * 43 + "=")
    assert main(["backup", "--output", "x.db"]) == 2
    assert "pg_dump" in capsys.readouterr().err


def test_restore_drill_finds_every_appointment(settings, tmp_path, monkeypatch, capsys, pinned_now):
    starts = [datetime.combine(day, time(h), tzinfo=PARIS) for day in thursdays(pinned_now, 3) for h in (9, 10)]
    references = asyncio.run(book(settings, starts, pinned_now))
    output = tmp_path / "backups" / "permanence.db"
    assert main(["backup", "--output", str(output)]) == 0
    assert "keys.json" in capsys.readouterr().out
    assert stat.S_IMODE(output.stat().st_mode) == 0o600

    # The drill: a fresh data directory with the backup as its database and the key file kept apart.
    restored = tmp_path / "restored"
    restored.mkdir(mode=0o700)
    shutil.copyfile(output, restored / "permanence.db")
    kept_apart = tmp_path / "keys-kept-apart.json"
    shutil.copyfile(key_file(settings), kept_apart)

    async def read_back() -> tuple[list[str], list[str]]:
        store = await open_store(Settings(_env_file=None, data_dir=restored, key_file=kept_apart))
        try:
            async with store.unit_of_work(read_only=True) as uow:
                found = await uow.appointments.for_worker(
                    "ass", starts[0] - timedelta(days=1), starts[-1] + timedelta(days=1)
                )
                messages = [(await uow.appointments.details(s.id, grant=OPERATOR)).message for s in found]
            return [s.reference for s in found], messages
        finally:
            await store.dispose()

    found, messages = asyncio.run(read_back())
    assert sorted(found) == sorted(references)
    assert sorted(messages) == sorted(f"SENTINEL-message-{i}" for i in range(len(starts)))
