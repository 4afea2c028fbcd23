"""The sealed hand-over file (contract §4.2): `PERMANENCE-DOSSIERS-1` + a JSON header line +
AES-256-GCM ciphertext of the gzipped JSON payload, under a key derived with scrypt from a
passphrase handed over separately. The header is authenticated with the payload: any change
breaks the seal. The header says nothing about what the file holds (format 2): how many agents,
appointments and requests is inside the seal, and the gzipped payload is padded to a multiple of
64 KiB, so that the file's size tells only a rough magnitude. Files of format 1 (counts in the
header) are still read. What the payload holds is the dossier repository's
(`storage/repositories/dossiers.py`)."""

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

from storage.crypto import pad, unpad

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
