"""Sealed hand-over of case files: tamper-evident, passphrase-bound, complete, idempotent import."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import secrets
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from sqlalchemy import text

from storage.crypto import Keyring
from storage.dossiers import MAGIC, SCRYPT, SealError, export_dossiers, import_dossiers, seal, unseal
from storage.store import Store
from tests.storage.conftest import OPERATOR
from tests.storage.test_store import NOW, SLOT, WORKERS, appointment, book, seed

PASSPHRASE = "correct horse battery staple"


def test_the_seal_refuses_a_wrong_passphrase_and_any_alteration():
    data = seal({"agents": [{"name": "Camille"}], "appointments": []}, PASSPHRASE, scope="all", now=NOW)
    assert b"Camille" not in data
    info, payload = unseal(data, PASSPHRASE)
    assert payload["agents"][0]["name"] == "Camille" and info.counts == {"agents": 1, "appointments": 0}
    with pytest.raises(SealError, match="phrase secrète"):
        unseal(data, "another long passphrase")
    flipped = bytearray(data)
    flipped[-5] ^= 1
    with pytest.raises(SealError):
        unseal(bytes(flipped), PASSPHRASE)
    with pytest.raises(SealError):
        unseal(data.replace(b'"scope": "all"', b'"scope": "one"'), PASSPHRASE)  # the header is sealed too
    with pytest.raises(SealError, match="au moins"):
        seal({}, "short", scope="all", now=NOW)


def test_the_header_says_nothing_of_how_many_agents_appointments_or_requests():
    """Issue 22, finding 10: a worker's hand-over file gave her counts in clear."""

    def export(agents: int, appointments: int) -> bytes:
        payload = {
            "agents": [{"id": secrets.token_hex(16), "name": "Camille"} for _ in range(agents)],
            "appointments": [{"id": secrets.token_hex(16), "message": "x" * 200} for _ in range(appointments)],
            "urgent_requests": [],
        }
        return seal(payload, PASSPHRASE, scope="worker:ass", now=NOW)

    small, larger = export(1, 1), export(12, 40)
    for data in (small, larger):
        header = json.loads(data.split(b"\n")[1])
        assert "counts" not in header and header["format"] == 2
        assert set(header) == {"format", "created_at", "scope", "sha256", "kdf", "cipher"}
    assert len(small) == len(larger)  # the size tells only a magnitude (64 KiB steps)
    info, _ = unseal(larger, PASSPHRASE)
    assert info.counts == {"agents": 12, "appointments": 40, "urgent_requests": 0}  # inside the seal


def test_a_file_of_the_first_format_with_counts_in_its_header_is_still_read():
    payload = {"agents": [{"name": "Camille"}], "appointments": []}
    plain = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    header = {
        "format": 1,
        "created_at": NOW.isoformat(),
        "scope": "all",
        "counts": {"agents": 1, "appointments": 0},
        "sha256": hashlib.sha256(plain).hexdigest(),
        "kdf": {"name": "scrypt", "salt": base64.b64encode(salt).decode(), **SCRYPT},
        "cipher": {"name": "AES-256-GCM", "nonce": base64.b64encode(nonce).decode()},
    }
    line = json.dumps(header, sort_keys=True).encode()
    key = Scrypt(salt=salt, length=32, **SCRYPT).derive(PASSPHRASE.encode())
    data = MAGIC + line + b"\n" + AESGCM(key).encrypt(nonce, gzip.compress(plain), MAGIC + line)
    info, opened = unseal(data, PASSPHRASE)
    assert opened == payload and info.counts == {"agents": 1, "appointments": 0}


async def test_export_then_import_into_a_successor_deployment(store, tmp_path):
    agent, other, old = await seed(store, "oid-1", "oid-2", "oid-3")
    mine = await book(store, appointment(agent), message="Loyer impayé", topic="logement")
    theirs = await book(store, appointment(other, SLOT + timedelta(hours=1)), message="Autre", topic="budget")
    older = await book(store, appointment(old, SLOT + timedelta(hours=2)), message="Ancien", topic="budget")
    async with store.unit_of_work() as uow:  # an agent recorded before her Entra id was kept
        await uow.session.execute(text("UPDATE agents SET object_id_enc = '' WHERE id = :id"), {"id": old})
        await uow.commit()
    async with store.unit_of_work() as uow:
        exported = await export_dossiers(uow, open_only=True, now=NOW, grant=OPERATOR)
        data = seal(exported, PASSPHRASE, scope="open", now=NOW)
    _, payload = unseal(data, PASSPHRASE)
    assert len(payload["appointments"]) == 3 and len(payload["agents"]) == 3
    assert payload["agents_without_object_id"] == 1
    assert "lookup_key" not in payload and all("lookup" not in a for a in payload["agents"])
    assert store.keyring.lookup("oid-1") not in data.decode(errors="replace")

    # The successor runs her own deployment: her own data keys AND her own lookup key.
    successor_keys = Keyring(keys={"s1": secrets.token_bytes(32)}, current="s1", lookup_key=secrets.token_bytes(32))
    target_url = f"sqlite+aiosqlite:///{tmp_path / 'successor.db'}"
    target = Store(target_url, successor_keys)
    await target.migrate()
    try:
        async with target.unit_of_work() as uow:
            await uow.workers.sync(WORKERS)
            already = await uow.agents.ensure("oid-2", "Agent oid-2", NOW)  # she wrote to the successor first
            await uow.commit()
        async with target.unit_of_work() as uow:
            counts = await import_dossiers(uow, payload, assign_to="remplacante", now=NOW, grant=OPERATOR)
            await uow.commit()
        assert counts == {
            "agents": 2,
            "agents_unlinked": 1,
            "appointments": 3,
            "urgent_requests": 0,
            "calendar_writes": 3,
        }
        async with target.unit_of_work() as uow:
            details = await uow.appointments.details(mine, grant=OPERATOR)
            assert (details.agent_name, details.topic_id, details.message) == (
                "Agent oid-1",
                "logement",
                "Loyer impayé",
            )
            assert (await uow.appointments.get(mine)).appointment.worker_id == "remplacante"
            assert await uow.agents.find("oid-1") == agent  # she is recognised at her next message
            assert (await uow.appointments.get(theirs)).appointment.agent_id == already  # one record for her
            assert (await uow.appointments.details(older, grant=OPERATOR)).message == "Ancien"
            assert await uow.agents.find("oid-3") is None  # could not be carried as recognisable
            assert [h[1] for h in await uow.appointments.history(mine)] == ["confirmed"]
            again = await import_dossiers(uow, payload, assign_to="remplacante", now=NOW, grant=OPERATOR)
        assert again == {
            "agents": 0,
            "agents_unlinked": 0,
            "appointments": 0,
            "urgent_requests": 0,
            "calendar_writes": 0,
        }
        async with target.unit_of_work() as uow:
            with pytest.raises(SealError, match="inconnue du planning"):
                await import_dossiers(uow, payload, assign_to="nobody", now=NOW, grant=OPERATOR)
    finally:
        await target.dispose()
