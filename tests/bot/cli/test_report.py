"""`permanence report`: aggregates from the store, small counts hidden, nothing nominative."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime

import pytest

from booking.model import Worker, WorkerRole
from bot.cli import main
from bot.runtime import open_store
from bot.settings import Settings
from tests.dates import pinned_environment
from tests.helpers.cli import seed


@pytest.fixture(autouse=True)
def key_file(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PERMANENCE_KEY_FILE", str(tmp_path / "config" / "keys.json"))
    # The command line's clock, pinned after the year these reports cover.
    for name, value in pinned_environment(datetime(2028, 1, 10, 9, tzinfo=UTC)).items():
        monkeypatch.setenv(name, value)


def test_quarterly_report_shows_counts_and_hides_small_ones(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PERMANENCE_DATA_DIR", str(tmp_path))
    asyncio.run(seed(Settings(_env_file=None, data_dir=tmp_path)))
    assert main(["report", "--year", "2027", "--quarter", "1", "--json"]) == 0
    output = capsys.readouterr().out
    document = json.loads(output)
    assert document["appointments_held"] == 13
    topics = document["tables"]["topic"]["cells"]
    # retraite (2) is hidden; logement (5) too, or retraite would follow from the total.
    assert topics["budget"] == "6" and topics["logement"] == "masqué" and topics["retraite"] == "masqué"
    assert topics["sante"] == "0"
    assert document["tables"]["site"]["cells"] == {
        **{s: "0" for s in document["tables"]["site"]["cells"]},
        "vanves": "6",
        "lyon": "7",
    }
    assert document["median_lead_days"] == 31.2  # 31 days and 5 hours for the median booking
    assert "SENTINEL" not in output
    assert main(["report", "--year", "2027", "--quarter", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["appointments_held"] == 0
    assert main(["report", "--year", "2027"]) == 0
    text = capsys.readouterr().out
    assert "Rapport d'activité" in text and "Dossier de retraite" in text and "masqué" in text
    assert main(["report", "--year", "2027", "--quarter", "5"]) == 2


def test_a_period_not_over_is_refused_unless_provisional_and_publications_are_kept(tmp_path, monkeypatch, capsys):
    """Finding 4 of issue 22: counts of a period not over move with each booking."""
    monkeypatch.setenv("PERMANENCE_DATA_DIR", str(tmp_path))
    asyncio.run(seed(Settings(_env_file=None, data_dir=tmp_path)))
    for name, value in pinned_environment(datetime(2027, 5, 10, 9, tzinfo=UTC)).items():
        monkeypatch.setenv(name, value)
    assert main(["report", "--year", "2027", "--quarter", "2"]) == 2
    assert "n'est pas terminée" in capsys.readouterr().err
    assert main(["report", "--year", "2027", "--quarter", "2", "--provisional"]) == 0
    assert "PROVISOIRE" in capsys.readouterr().out
    assert main(["report", "--year", "2027", "--quarter", "1", "--json"]) == 0  # Q1 is over
    document = json.loads(capsys.readouterr().out)
    assert document["provisional"] is False
    hidden_in_april = {k for k, v in document["tables"]["topic"]["cells"].items() if v == "masqué"}

    async def kept() -> dict[str, object]:
        store = await open_store(Settings(_env_file=None, data_dir=tmp_path))
        try:
            async with store.unit_of_work(read_only=True) as uow:
                return await uow.sync_state.get("report.published:2027") or {}
        finally:
            await store.dispose()

    published = asyncio.run(kept())
    assert {
        k.split("|")[1] for k, v in published.items() if k.startswith("topic|") and k.endswith("|Q1") and v is None
    } == (hidden_in_april)
    for name, value in pinned_environment(datetime(2028, 1, 10, 9, tzinfo=UTC)).items():
        monkeypatch.setenv(name, value)
    assert main(["report", "--year", "2027", "--quarter", "1", "--json"]) == 0  # again, in January
    again = json.loads(capsys.readouterr().out)["tables"]["topic"]["cells"]
    assert hidden_in_april <= {k for k, v in again.items() if v == "masqué"}


def test_dossiers_round_trip_through_the_command_line(tmp_path, monkeypatch, capsys):
    source, target = tmp_path / "source", tmp_path / "target"
    asyncio.run(seed(Settings(_env_file=None, data_dir=source)))
    monkeypatch.setenv("PERMANENCE_DOSSIERS_PASSPHRASE", "a long passphrase for the seal")
    monkeypatch.setenv("PERMANENCE_DATA_DIR", str(source))
    sealed = tmp_path / "handover.sealed"
    assert main(["dossiers", "export", "--output", str(sealed)]) == 0
    assert b"SENTINEL" not in sealed.read_bytes() and oct(sealed.stat().st_mode)[-3:] == "600"
    assert "chaque agent porte son identifiant Entra" in capsys.readouterr().out
    with pytest.raises(SystemExit):  # the lookup key never leaves its deployment
        main(["dossiers", "verify", str(sealed), "--print-lookup-key"])
    capsys.readouterr()
    assert main(["dossiers", "verify", str(sealed)]) == 0
    output = capsys.readouterr().out
    assert "sceau intact" in output and "13 rendez-vous" in output and "LOOKUP" not in output
    # The receiving deployment has its own keys, lookup key included: nothing is copied over.
    monkeypatch.setenv("PERMANENCE_DATA_DIR", str(target))
    monkeypatch.setenv("PERMANENCE_ENCRYPTION_KEY", "t1:" + base64.b64encode(b"k" * 32).decode())
    monkeypatch.setenv("PERMANENCE_LOOKUP_KEY", base64.b64encode(b"l" * 32).decode())
    assert main(["dossiers", "import", str(sealed)]) == 2  # no workers in the target yet
    assert "inconnue du planning" in capsys.readouterr().err
    asyncio.run(seed_workers(Settings(_env_file=None, data_dir=target)))
    assert main(["dossiers", "import", str(sealed)]) == 0
    assert "13 rendez-vous" in capsys.readouterr().out
    recognised = asyncio.run(find_agents(Settings(_env_file=None, data_dir=target), [f"oid-{i}" for i in range(13)]))
    assert all(recognised)  # each agent is found here by this deployment's own lookup of her Entra id
    monkeypatch.setenv("PERMANENCE_DOSSIERS_PASSPHRASE", "not the right passphrase")
    assert main(["dossiers", "verify", str(sealed)]) == 2


async def find_agents(settings: Settings, object_ids: list[str]) -> list[str | None]:
    store = await open_store(settings)
    try:
        async with store.unit_of_work(read_only=True) as uow:
            return [await uow.agents.find(oid) for oid in object_ids]
    finally:
        await store.dispose()


async def seed_workers(settings: Settings) -> None:
    store = await open_store(settings)
    try:
        async with store.unit_of_work() as uow:
            await uow.workers.sync([Worker(id="ass", name="ASS", role=WorkerRole.TITULAR)])
            await uow.commit()
    finally:
        await store.dispose()
