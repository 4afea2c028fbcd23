"""`permanence absences list|declare|cancel` end to end, with its refusals and exit codes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from booking.absence import Absence, AbsenceSource
from booking.model import Worker, WorkerRole
from bot.cli import main
from bot.runtime import open_store
from bot.settings import Settings
from bot.texts import PARIS


@pytest.fixture
def settings(tmp_path, monkeypatch, pinned_service) -> Settings:  # type: ignore[no-untyped-def]
    data = tmp_path / "var"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PERMANENCE_DATA_DIR", str(data))
    monkeypatch.setenv("PERMANENCE_KEY_FILE", str(tmp_path / "config" / "keys.json"))
    monkeypatch.delenv("PERMANENCE_DATABASE_URL", raising=False)
    monkeypatch.delenv("PERMANENCE_PLAN_FILE", raising=False)
    return Settings(_env_file=None, data_dir=data)


@pytest.fixture
def day(pinned_now: datetime) -> Callable[[int], str]:
    """The date `offset` days from the pinned today, as the command line reads it."""
    today = pinned_now.astimezone(PARIS).date()
    return lambda offset: (today + timedelta(days=offset)).isoformat()


def listed(capsys: pytest.CaptureFixture[str], *extra: str) -> list[dict[str, object]]:
    capsys.readouterr()
    assert main(["absences", "list", "--json", *extra]) == 0
    rows: list[dict[str, object]] = json.loads(capsys.readouterr().out)
    return rows


def audit(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    capsys.readouterr()
    assert main(["audit", "show", "--json"]) == 0
    rows: list[dict[str, object]] = json.loads(capsys.readouterr().out)
    return rows


def test_declare_list_and_cancel_an_absence_with_the_operator_audited(settings, capsys, day):
    assert listed(capsys) == []
    code = main(["absences", "declare", "--worker", "ass", "--from", day(7), "--to", day(9), "--reason", "formation"])
    out = capsys.readouterr().out
    assert code == 0 and "déclarée" in out
    [row] = listed(capsys)
    assert row["worker"] == "ass" and row["from"] == day(7) and row["to"] == day(9)
    assert row["source"] == "declared" and row["declared_here"] is True and "reason" not in row
    declared = [e for e in audit(capsys) if e["action"] == "absence.declare"]
    assert len(declared) == 1 and declared[0]["subject_id"] == row["id"]
    assert declared[0]["actor"] == "admin" and "@" in str(declared[0]["operator"])

    # The reason is kept encrypted and shown only when asked, each read audited.
    capsys.readouterr()
    assert main(["absences", "list"]) == 0
    assert "formation" not in capsys.readouterr().out
    [with_reason] = listed(capsys, "--reasons")
    assert with_reason["reason"] == "formation"
    assert [e["subject_id"] for e in audit(capsys) if e["action"] == "absence.read_reason"] == [row["id"]]

    assert main(["absences", "cancel", str(row["id"])]) == 0
    assert listed(capsys) == []
    assert [e["subject_id"] for e in audit(capsys) if e["action"] == "absence.cancel"] == [row["id"]]
    capsys.readouterr()
    assert main(["absences", "cancel", str(row["id"])]) == 1
    assert "aucune absence" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--worker", "ass", "--from", "2027-02-30", "--to", "2027-03-02"], "date invalide (AAAA-MM-JJ attendu)"),
        (["--worker", "ass", "--from", "demain", "--to", "2027-03-02"], "date invalide (AAAA-MM-JJ attendu)"),
        (["--worker", "ass", "--from", "+9", "--to", "+7"], "se termine avant de commencer"),
        (["--worker", "ass", "--from", "-9", "--to", "-7"], "déjà terminée"),
        (["--worker", "personne", "--from", "+7", "--to", "+9"], "assistante sociale inconnue 'personne'"),
        (["--worker", "ass", "--from", "+7", "--to", "+9", "--replacement", "ass"], "ne remplace pas"),
        (["--worker", "ass", "--from", "+7", "--to", "+9", "--reason", "x" * 201], "limité à 200"),
        (["--from", "+7", "--to", "+9"], "--worker"),
    ],
    ids=["no-such-day", "not-a-date", "reversed", "past", "unknown-worker", "not-a-replacement", "long", "no-worker"],
)
def test_bad_input_is_refused_with_exit_code_2_and_nothing_stored(settings, capsys, arguments, message, day):
    resolved = [day(int(a)) if a[:1] in "+-" and a[1:].isdigit() else a for a in arguments]
    try:
        code = main(["absences", "declare", *resolved])
    except SystemExit as exit_:  # argparse refuses malformed arguments itself, with code 2
        code = exit_.code
    assert code == 2
    assert message in capsys.readouterr().err
    assert listed(capsys) == []


def test_an_absence_read_from_outlook_is_listed_but_not_cancelled_here(settings, capsys, pinned_now):
    async def outlook_absence() -> None:
        store = await open_store(settings)
        now = pinned_now
        try:
            async with store.unit_of_work() as uow:
                await uow.workers.sync([Worker(id="ass", name="ASS", role=WorkerRole.TITULAR)])
                await uow.absences.add(
                    Absence(
                        worker_id="ass",
                        start=now + timedelta(days=3),
                        end=now + timedelta(days=5),
                        source=AbsenceSource.AUTOMATIC_REPLIES,
                    ),
                    now,
                )
                await uow.commit()
        finally:
            await store.dispose()

    asyncio.run(outlook_absence())
    [row] = listed(capsys)
    assert row["source"] == "automatic_replies" and row["declared_here"] is False
    capsys.readouterr()
    assert main(["absences", "cancel", str(row["id"])]) == 1
    err = capsys.readouterr().err
    assert "vient d'Outlook" in err and "modifiez-la dans son Outlook" in err
    assert len(listed(capsys)) == 1
