"""`permanence audit verify|show` and `permanence keys status`, on the embedded store."""

from __future__ import annotations

import asyncio
import json
import sqlite3

import pytest

from bot.cli import main
from bot.cli.common import operator
from bot.settings import Settings
from tests.helpers.cli import seed


@pytest.fixture
def deployment(tmp_path, monkeypatch, pinned_service):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PERMANENCE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("PERMANENCE_KEY_FILE", str(tmp_path / "config" / "keys.json"))
    settings = Settings(_env_file=None)
    asyncio.run(seed(settings))
    return settings


def test_administrative_commands_are_audited_with_their_operator_and_the_chain_verifies(deployment, capsys):
    assert main(["report", "--year", "2027", "--json", "--provisional"]) == 0
    assert main(["purge", "--dry-run"]) == 0
    assert main(["purge"]) == 0
    assert main(["keys", "rotate"]) == 0
    capsys.readouterr()
    assert main(["audit", "verify"]) == 0
    assert "journal d'audit intact : 3 entrées chaînées" in capsys.readouterr().out
    assert main(["audit", "show", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert [(e["action"], e["operator"]) for e in entries] == [
        ("report.generate", operator()),
        ("retention.purge", operator()),
        ("keys.rotate", operator()),
    ]
    assert [e["position"] for e in entries] == [1, 2, 3]
    assert "@" in operator()
    assert main(["audit", "show", "--since", "2999-01-01"]) == 0
    assert "aucune entrée d'audit depuis cette date" in capsys.readouterr().out
    assert main(["audit", "show"]) == 0
    assert "keys.rotate" in capsys.readouterr().out


def test_audit_verify_fails_on_an_edited_entry(deployment, capsys):
    assert main(["report", "--year", "2027", "--provisional"]) == 0
    assert main(["report", "--year", "2027", "--quarter", "1", "--provisional"]) == 0
    with sqlite3.connect(deployment.data_dir / "permanence.db") as connection:
        connection.execute("UPDATE audit SET subject_id = '2026' WHERE seq = 1")
    capsys.readouterr()
    assert main(["audit", "verify"]) == 1
    assert "MODIFIÉ à la position 1 : une entrée a été modifiée ou déplacée" in capsys.readouterr().err


def test_keys_status_counts_values_per_key_and_rotation_moves_them(deployment, capsys):
    assert main(["keys", "status"]) == 0
    before = capsys.readouterr().out.strip().splitlines()
    assert len(before) == 1 and before[0].startswith("k1 : ") and "(actuelle)" in before[0]
    count = int(before[0].split()[2])
    assert count == 13 * 8  # 13 agents (name, phone, e-mail, Entra id), 13 appointments (topic, message, notes, link)
    assert main(["keys", "rotate"]) == 0
    capsys.readouterr()
    assert main(["keys", "status"]) == 0
    assert capsys.readouterr().out.strip().splitlines() == [
        "k1 : 0 valeurs (inutilisée : peut être retirée)",
        f"k2 : {count} valeurs (actuelle)",
    ]


def test_the_key_file_lives_outside_the_data_directory_and_the_old_place_is_still_read(tmp_path, monkeypatch, caplog):
    from bot.runtime import load_keyring

    data = tmp_path / "var"
    data.mkdir()
    settings = Settings(_env_file=None, data_dir=data, key_file=tmp_path / "config" / "keys.json")
    created = load_keyring(settings)
    assert (tmp_path / "config" / "keys.json").exists() and not (data / "keys.json").exists()
    assert oct((tmp_path / "config" / "keys.json").stat().st_mode)[-3:] == "600"
    assert load_keyring(settings).lookup_key == created.lookup_key

    old = tmp_path / "old"
    old.mkdir()
    (tmp_path / "config" / "keys.json").rename(old / "keys.json")  # as an older version left it
    legacy = Settings(_env_file=None, data_dir=old, key_file=tmp_path / "elsewhere" / "keys.json")
    with caplog.at_level("WARNING"):
        assert load_keyring(legacy).lookup_key == created.lookup_key
    assert any(getattr(r, "event", "") == "keys.legacy_location" for r in caplog.records)
    assert not (tmp_path / "elsewhere" / "keys.json").exists()
