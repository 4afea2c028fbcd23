"""Case files handed over to a successor, sealed (contract §4.2): a complete, verifiable,
encrypted export of agents, appointments (with their history) and urgent requests, and the
matching import.

Agents travel with their Entra object id (inside the seal), never with the exporter's lookup
key: the importer derives its own lookups, so that key never leaves its deployment. Agents
recorded before their object id was kept cannot be carried as recognisable: they are imported
with their files, unlinked, and counted.

The file is `PERMANENCE-DOSSIERS-1` + a JSON header line + AES-256-GCM ciphertext of the
gzipped JSON payload, under a key derived with scrypt from a passphrase handed over
separately. The header is authenticated with the payload: any change breaks the seal.
The header says nothing about what the file holds (format 2): how many agents, appointments
and requests is inside the seal, and the gzipped payload is padded to a multiple of 64 KiB, so
that the file's size tells only a rough magnitude. Files of format 1 (counts in the header)
are still read.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from sqlalchemy import select

from booking.grants import Grant, Purpose, require_everything
from storage.crypto import KeyringError, pad, unpad
from storage.models import AgentRow, AppointmentChangeRow, AppointmentRow, UrgentRequestRow, WorkerRow
from storage.sealing import appointment_context, join_url_context, object_id_context, report, urgent_context
from storage.unit_of_work import UnitOfWork

MAGIC = b"PERMANENCE-DOSSIERS-1\n"
SCRYPT = {"n": 2**15, "r": 8, "p": 1}
MIN_PASSPHRASE = 12
FORMAT = 2
PAYLOAD_FLOOR = 65536  # bytes the gzipped payload is padded to, at least (then multiples of it)


class SealError(Exception):
    """The file is not a sealed export, was altered, or the passphrase is wrong."""


@dataclass(frozen=True, kw_only=True, slots=True)
class SealedInfo:
    created_at: str
    scope: str
    counts: dict[str, int]
    digest: str


def _key(passphrase: str, salt: bytes) -> bytes:
    if len(passphrase) < MIN_PASSPHRASE:
        raise SealError(f"la phrase secrète doit compter au moins {MIN_PASSPHRASE} caractères")
    return Scrypt(salt=salt, length=32, **SCRYPT).derive(passphrase.encode())


def seal(payload: dict[str, Any], passphrase: str, *, scope: str, now: datetime) -> bytes:
    plain = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    header = {
        "format": FORMAT,
        "created_at": now.isoformat(),
        "scope": scope,
        "sha256": hashlib.sha256(plain).hexdigest(),
        "kdf": {"name": "scrypt", "salt": base64.b64encode(salt).decode(), **SCRYPT},
        "cipher": {"name": "AES-256-GCM", "nonce": base64.b64encode(nonce).decode()},
    }
    header_line = json.dumps(header, sort_keys=True).encode()
    body = pad(gzip.compress(plain), PAYLOAD_FLOOR)
    sealed = AESGCM(_key(passphrase, salt)).encrypt(nonce, body, MAGIC + header_line)
    return MAGIC + header_line + b"\n" + sealed


def unseal(data: bytes, passphrase: str) -> tuple[SealedInfo, dict[str, Any]]:
    if not data.startswith(MAGIC) or b"\n" not in data[len(MAGIC) :]:
        raise SealError("ce n'est pas un export scellé de Permanence")
    header_line, _, body = data[len(MAGIC) :].partition(b"\n")
    try:
        header = json.loads(header_line)
        salt = base64.b64decode(header["kdf"]["salt"])
        nonce = base64.b64decode(header["cipher"]["nonce"])
    except (ValueError, KeyError, TypeError) as err:
        raise SealError("l'en-tête de l'export est endommagé") from err
    try:
        opened = AESGCM(_key(passphrase, salt)).decrypt(nonce, body, MAGIC + header_line)
    except InvalidTag as err:
        raise SealError("phrase secrète erronée, ou export modifié") from err
    plain = gzip.decompress(unpad(opened) if header.get("format") == FORMAT else opened)
    if hashlib.sha256(plain).hexdigest() != header.get("sha256"):
        raise SealError("l'export ne correspond pas à son empreinte")
    payload: dict[str, Any] = json.loads(plain)
    counts = {k: len(v) for k, v in payload.items() if isinstance(v, list)}
    if "counts" in header and counts != header["counts"]:  # format 1 announced them
        raise SealError("l'export ne contient pas ce que son en-tête annonce")
    return SealedInfo(
        created_at=header["created_at"], scope=header["scope"], counts=counts, digest=header["sha256"]
    ), payload


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


async def export_dossiers(uow: UnitOfWork, *, open_only: bool, now: datetime, grant: Grant) -> dict[str, Any]:
    """Everything about the agents concerned, decrypted (the export itself is sealed), with an
    operator's grant over every row."""
    require_everything(grant, (Purpose.OPERATOR,))
    keyring = uow.agents.keyring
    appointments = list(await uow.session.scalars(select(AppointmentRow).order_by(AppointmentRow.start_at)))
    urgent = list(await uow.session.scalars(select(UrgentRequestRow).order_by(UrgentRequestRow.received_at)))
    if open_only:
        appointments = [a for a in appointments if a.status in ("requested", "confirmed") and a.end_at > now]
        urgent = [u for u in urgent if u.status == "open"]
    agent_ids = {a.agent_id for a in appointments} | {u.agent_id for u in urgent}
    agents = [a for a in await uow.session.scalars(select(AgentRow)) if a.id in agent_ids]

    def opened(token: str, context: str) -> str:
        if not token:
            return ""
        try:
            return keyring.decrypt(token, context)
        except KeyringError as err:  # a case moved to another owner, a value copied: reported, refused
            report(context.partition(".")[0])
            raise SealError(
                "a stored value does not open under its row and owner (changed in the database): nothing exported"
            ) from err

    history: dict[str, list[dict[str, Any]]] = {}
    for change in await uow.session.scalars(select(AppointmentChangeRow).order_by(AppointmentChangeRow.id)):
        history.setdefault(change.appointment_id, []).append(
            {
                "at": _iso(change.at),
                "status": change.status,
                "start_at": _iso(change.start_at),
                "end_at": _iso(change.end_at),
                "actor": change.actor,
            }
        )
    object_ids = {a.id: opened(a.object_id_enc, object_id_context(a.id, a.lookup)) or None for a in agents}
    return {
        "agents_without_object_id": sum(1 for oid in object_ids.values() if oid is None),
        "agents": [
            {
                "id": a.id,
                "object_id": object_ids[a.id],
                "name": opened(a.name_enc, f"agents.name:{a.id}"),
                "phone": opened(a.phone_enc, f"agents.phone:{a.id}"),
                "email": opened(a.email_enc, f"agents.email:{a.id}"),
                "site_id": a.site_id,
                "preferred_contact": a.preferred_contact,
                "created_at": _iso(a.created_at),
                "updated_at": _iso(a.updated_at),
            }
            for a in agents
        ],
        "appointments": [
            {
                "id": a.id,
                "reference": a.reference,
                "worker_id": a.worker_id,
                "agent_id": a.agent_id,
                "site_id": a.site_id,
                "start_at": _iso(a.start_at),
                "end_at": _iso(a.end_at),
                "mode": a.mode,
                "kind": a.kind,
                "status": a.status,
                "urgent": a.urgent,
                "topic": opened(a.topic_enc, appointment_context("topic", a.id, a.agent_id)),
                "message": opened(a.message_enc, appointment_context("message", a.id, a.agent_id)),
                "notes": opened(a.notes_enc, appointment_context("notes", a.id, a.agent_id)),
                "transaction_id": a.transaction_id,
                "outlook_event_id": a.outlook_event_id,
                "join_url": (opened(a.join_url, join_url_context(a.id)) or None) if a.join_url else None,
                "created_at": _iso(a.created_at),
                "updated_at": _iso(a.updated_at),
                "history": history.get(a.id, []),
            }
            for a in appointments
        ],
        "urgent_requests": [
            {
                "id": u.id,
                "reference": u.reference,
                "agent_id": u.agent_id,
                "site_id": u.site_id,
                "received_at": _iso(u.received_at),
                "description": opened(u.description_enc, urgent_context("description", u.id, u.agent_id)),
                "phone": opened(u.phone_enc, urgent_context("phone", u.id, u.agent_id)),
                "availability": opened(u.availability_enc, urgent_context("availability", u.id, u.agent_id)),
                "route": u.route,
                "handler_id": u.handler_id,
                "step": u.step,
                "acknowledged_by": u.acknowledged_by,
                "acknowledged_at": _iso(u.acknowledged_at),
                "status": u.status,
            }
            for u in urgent
        ],
    }


async def import_dossiers(
    uow: UnitOfWork, payload: dict[str, Any], *, assign_to: str | None, now: datetime, grant: Grant
) -> dict[str, int]:
    """Insert what is not there yet (an import can be run twice), re-encrypted under this
    deployment's keys, agents found by this deployment's own lookup of their Entra id (an
    agent already known here keeps her record). Refuses unknown workers. With `assign_to`
    (a successor) the upcoming appointments are written into her calendar by the outbox.
    Needs an operator's grant over every row."""
    require_everything(grant, (Purpose.OPERATOR,))
    keyring = uow.agents.keyring
    workers = set(await uow.session.scalars(select(WorkerRow.id)))
    wanted = {assign_to} if assign_to else {a["worker_id"] for a in payload["appointments"]}
    if unknown := wanted - workers:
        said = "assistante sociale inconnue" if len(unknown) == 1 else "assistantes sociales inconnues"
        raise SealError(f"{said} du planning de ce déploiement : {', '.join(sorted(unknown))}")

    def sealed(value: str, context: str) -> str:
        return keyring.encrypt(value, context)  # empty values too: whether one was given is private

    counts = {"agents": 0, "agents_unlinked": 0, "appointments": 0, "urgent_requests": 0, "calendar_writes": 0}
    known: dict[str, str] = {}  # exported agent id -> the id of the same person here
    for a in payload["agents"]:
        object_id = a.get("object_id")
        lookup = keyring.lookup(object_id) if object_id else secrets.token_hex(32)  # unlinked: matches no one
        here = await uow.session.scalar(select(AgentRow.id).where(AgentRow.lookup == lookup))
        if here is not None and here != a["id"]:
            known[a["id"]] = here
        elif await uow.session.get(AgentRow, a["id"]) is None:
            uow.session.add(
                AgentRow(
                    id=a["id"],
                    lookup=lookup,
                    object_id_enc=sealed(object_id or "", object_id_context(a["id"], lookup)),
                    name_enc=sealed(a["name"], f"agents.name:{a['id']}"),
                    phone_enc=sealed(a["phone"], f"agents.phone:{a['id']}"),
                    email_enc=sealed(a["email"], f"agents.email:{a['id']}"),
                    conversation_enc="",
                    site_id=a["site_id"],
                    preferred_contact=a["preferred_contact"],
                    created_at=_dt(a["created_at"]),
                    updated_at=_dt(a["updated_at"]),
                )
            )
            counts["agents"] += 1
            counts["agents_unlinked"] += 0 if object_id else 1
    await uow.session.flush()
    for a in payload["appointments"]:
        if await uow.session.get(AppointmentRow, a["id"]) is not None:
            continue
        owner = known.get(a["agent_id"], a["agent_id"])
        uow.session.add(
            AppointmentRow(
                id=a["id"],
                reference=a["reference"],
                worker_id=assign_to or a["worker_id"],
                agent_id=owner,
                site_id=a["site_id"],
                start_at=_dt(a["start_at"]),
                end_at=_dt(a["end_at"]),
                mode=a["mode"],
                kind=a["kind"],
                status=a["status"],
                urgent=a["urgent"],
                topic_enc=sealed(a["topic"], appointment_context("topic", a["id"], owner)),
                message_enc=sealed(a["message"], appointment_context("message", a["id"], owner)),
                notes_enc=sealed(a["notes"], appointment_context("notes", a["id"], owner)),
                transaction_id=a["transaction_id"],
                outlook_event_id=None if assign_to else a["outlook_event_id"],
                join_url=sealed(a["join_url"] or "", join_url_context(a["id"])),
                created_at=_dt(a["created_at"]),
                updated_at=_dt(a["updated_at"]),
            )
        )
        await uow.session.flush()  # the history rows reference it (no ORM relationship orders the inserts)
        start = _dt(a["start_at"])
        if assign_to and a["status"] in ("requested", "confirmed") and start is not None and start > now:
            await uow.outbox.add("calendar.create", {"appointment_id": a["id"]}, now, aggregate_id=a["id"])
            counts["calendar_writes"] += 1
        for h in a["history"]:
            uow.session.add(
                AppointmentChangeRow(
                    appointment_id=a["id"],
                    at=_dt(h["at"]),
                    status=h["status"],
                    start_at=_dt(h["start_at"]),
                    end_at=_dt(h["end_at"]),
                    actor=h["actor"],
                )
            )
        counts["appointments"] += 1
    for u in payload["urgent_requests"]:
        if await uow.session.get(UrgentRequestRow, u["id"]) is not None:
            continue
        owner = known.get(u["agent_id"], u["agent_id"])
        uow.session.add(
            UrgentRequestRow(
                id=u["id"],
                reference=u["reference"],
                agent_id=owner,
                site_id=u["site_id"],
                received_at=_dt(u["received_at"]),
                description_enc=sealed(u["description"], urgent_context("description", u["id"], owner)),
                phone_enc=sealed(u["phone"], urgent_context("phone", u["id"], owner)),
                availability_enc=sealed(u["availability"], urgent_context("availability", u["id"], owner)),
                route=u["route"],
                handler_id=assign_to or u["handler_id"],
                step=u["step"],
                acknowledged_by=u["acknowledged_by"],
                acknowledged_at=_dt(u["acknowledged_at"]),
                status=u["status"],
            )
        )
        counts["urgent_requests"] += 1
    await uow.session.flush()
    return counts
