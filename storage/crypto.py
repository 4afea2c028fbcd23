"""Authenticated encryption of confidential fields (AES-256-GCM) with rotatable keys.

A token is `<key id>:2:<base64(nonce | ciphertext)>`; the row and column it belongs to are
bound as associated data, so a value copied onto another row does not decrypt. The plaintext
is padded before encryption to a fixed bucket (64, 256, 1024, 4096, 16384, 65536 bytes, then
multiples of 65536), with its length as a 4-byte prefix inside the ciphertext: a ciphertext's
length tells only the bucket, so a topic id, a phone number or a short message all look alike.
Free text (messages, notes, an urgent situation, availabilities, reasons) is padded at least to
a floor that covers what its field accepts (`FREE_TEXT_FLOORS`): a message of one word and one
that fills the box look alike.
Tokens of the first version (`<key id>:<base64>`, unpadded) still decrypt; `keys rotate`
rewrites them. Agents are looked up by a keyed hash of their Entra id, never by the id itself.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 32
NONCE_BYTES = 12
BUCKETS = (64, 256, 1024, 4096, 16384, 65536)
LENGTH_PREFIX = 4
PADDED = "2"  # token version of padded values
AUDIT_KEY_INFO = b"permanence audit chain v1"
# Free-text columns (the part of the context before ':'), padded at least to this many bytes
# (the 4-byte length prefix included). The short fields and the rare urgent situation are padded
# to their form's limit at the worst UTF-8 width (4 bytes a character): their length never shows.
# The booking message, one per appointment (a million rows at ministry scale), is padded to
# 2048 bytes: any message of the box's 1000 characters in French, accents included (at most 2
# bytes each), has one length; only a long message written mostly in emoji or non-Latin script
# falls in the next bucket (4096). Notes (written by no form today, carried by hand-overs) take
# 1024 bytes, so that notes of up to a page look like none.
FREE_TEXT_FLOORS = {
    "appointments.message": 2048,  # 1000 characters (the booking form's box)
    "appointments.notes": 1024,
    "urgent.description": 8192,  # 2000 characters
    "urgent.availability": 1024,  # 200 characters
    "absences.reason": 1024,  # 200 characters
}


class KeyringError(Exception):
    """Keys are missing, malformed, or a value cannot be decrypted (never carries the value)."""


def _b64decode(value: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError as err:
        raise KeyringError(f"{what} is not valid base64") from err
    if len(raw) != KEY_BYTES:
        raise KeyringError(f"{what} must be {KEY_BYTES} bytes")
    return raw


def decode_key(value: str, what: str) -> bytes:
    """A 32-byte key given in base64 (a setting)."""
    return _b64decode(value, what)


def padded_size(length: int, floor: int = 0) -> int:
    """The bucket a plaintext of `length` bytes is padded to (the prefix included), at least `floor`."""
    needed = length + LENGTH_PREFIX
    if needed <= floor:
        return floor
    for bucket in BUCKETS:
        if needed <= bucket:
            return bucket
    return -(-needed // BUCKETS[-1]) * BUCKETS[-1]


def floor_of(context: str) -> int:
    """The padding floor of a context's column (`table.column:row…`): free text is padded to its field's limit."""
    return FREE_TEXT_FLOORS.get(context.partition(":")[0], 0)


def pad(plain: bytes, floor: int = 0) -> bytes:
    size = padded_size(len(plain), floor)
    return len(plain).to_bytes(LENGTH_PREFIX, "big") + plain + bytes(size - len(plain) - LENGTH_PREFIX)


def unpad(padded: bytes) -> bytes:
    """Strict: the prefix must fit and the padding be zeros (the whole is authenticated anyway)."""
    end = LENGTH_PREFIX + int.from_bytes(padded[:LENGTH_PREFIX], "big")
    if len(padded) < LENGTH_PREFIX or end > len(padded) or any(padded[end:]):
        raise KeyringError("value has an invalid padding")
    return padded[LENGTH_PREFIX:end]


_CIPHERS: dict[bytes, AESGCM] = {}


def _cipher(key: bytes) -> AESGCM:
    """One AES-GCM object per key (made once: a report decrypts tens of thousands of values)."""
    cipher = _CIPHERS.get(key)
    if cipher is None:
        cipher = _CIPHERS[key] = AESGCM(key)
    return cipher


def new_key() -> str:
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


@dataclass(frozen=True, slots=True)
class Keyring:
    keys: dict[str, bytes]
    current: str
    lookup_key: bytes
    # The audit chain's own key (issue 22): neither the key file's data keys nor the lookup key
    # can rewrite the chain. None: an older deployment, whose chain key is derived from the lookup key.
    chain_key: bytes | None = None

    def __post_init__(self) -> None:
        if self.current not in self.keys:
            raise KeyringError("the current key id is not in the keyring")
        if any(":" in key_id or not key_id for key_id in self.keys):
            raise KeyringError("key ids must be non-empty and contain no ':'")

    @classmethod
    def from_setting(cls, keys: str, lookup: str) -> Keyring:
        """`keys` is `id:base64,id:base64` (the first is current); `lookup` a base64 key."""
        parsed: dict[str, bytes] = {}
        order: list[str] = []
        for entry in filter(None, (e.strip() for e in keys.split(","))):
            key_id, sep, value = entry.partition(":")
            if not sep:
                raise KeyringError("each encryption key must look like 'id:base64'")
            parsed[key_id] = _b64decode(value, f"encryption key {key_id!r}")
            order.append(key_id)
        if not order:
            raise KeyringError("no encryption key given")
        if not lookup:
            raise KeyringError("PERMANENCE_LOOKUP_KEY is required with PERMANENCE_ENCRYPTION_KEY")
        return cls(keys=parsed, current=order[0], lookup_key=_b64decode(lookup, "lookup key"))

    @classmethod
    def load_or_create(cls, path: Path) -> Keyring:
        """The embedded default: a key file created on first start, readable by its owner only."""
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            document = {"current": "k1", "keys": {"k1": new_key()}, "lookup": new_key()}
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(document, handle, indent=2)
        return cls.read_file(path)

    @classmethod
    def read_file(cls, path: Path) -> Keyring:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            keys = {str(k): _b64decode(str(v), f"key {k!r}") for k, v in document["keys"].items()}
            return cls(
                keys=keys,
                current=str(document["current"]),
                lookup_key=_b64decode(document["lookup"], "lookup"),
            )
        except (KeyError, TypeError, json.JSONDecodeError) as err:
            raise KeyringError(f"key file {path} is malformed") from err

    def with_new_key(self) -> tuple[Keyring, str]:
        """A keyring whose current key is new; the old keys stay for decryption."""
        number = 1 + max((int(k[1:]) for k in self.keys if k[1:].isdigit()), default=0)
        key_id = f"k{number}"
        value = new_key()
        keys = {**self.keys, key_id: base64.b64decode(value)}
        return Keyring(keys=keys, current=key_id, lookup_key=self.lookup_key, chain_key=self.chain_key), value

    def write_file(self, path: Path) -> None:
        document = {
            "current": self.current,
            "keys": {k: base64.b64encode(v).decode() for k, v in self.keys.items()},
            "lookup": base64.b64encode(self.lookup_key).decode(),
        }
        temporary = path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2)
        temporary.replace(path)

    def encrypt(self, plaintext: str, context: str) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        # The version is bound too: a padded value cannot be passed off as an unpadded one.
        sealed = _cipher(self.keys[self.current]).encrypt(
            nonce, pad(plaintext.encode(), floor_of(context)), f"{context}|v{PADDED}".encode()
        )
        return f"{self.current}:{PADDED}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str, context: str) -> str:
        key_id, sep, body = token.partition(":")
        if not sep or key_id not in self.keys:
            raise KeyringError("value was encrypted under an unknown key")
        version, sep, padded_body = body.partition(":")  # base64 never holds ':'
        if sep and version != PADDED:
            raise KeyringError("value has an unknown token version")
        try:
            raw = base64.b64decode(padded_body if sep else body, validate=True)
            aad = f"{context}|v{PADDED}" if sep else context
            plain = _cipher(self.keys[key_id]).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad.encode())
        except (ValueError, InvalidTag) as err:
            raise KeyringError("value cannot be decrypted (wrong key, context or tampered)") from err
        return (unpad(plain) if sep else plain).decode()

    def key_id_of(self, token: str) -> str:
        return token.partition(":")[0]

    def is_padded(self, token: str) -> bool:
        return ":" in token.partition(":")[2]

    def is_current(self, token: str) -> bool:
        """Under the current key and in the padded form: nothing for `keys rotate` to do."""
        return self.key_id_of(token) == self.current and self.is_padded(token)

    @property
    def audit_key(self) -> bytes:
        """The audit chain's MAC key: its own when configured, else (older deployments) the one
        derived from the lookup key."""
        return self.chain_key if self.chain_key is not None else self.legacy_audit_key

    @property
    def legacy_audit_key(self) -> bytes:
        """The chain's key before it had its own: derived from the lookup key under its own label.
        Entries it sealed are accepted only before the first entry under the chain's own key."""
        return HKDF(algorithm=SHA256(), length=KEY_BYTES, salt=None, info=AUDIT_KEY_INFO).derive(self.lookup_key)

    def with_chain_key(self, chain_key: bytes) -> Keyring:
        return dataclasses.replace(self, chain_key=chain_key)

    def lookup(self, value: str) -> str:
        return hmac.new(self.lookup_key, value.encode(), hashlib.sha256).hexdigest()


def load_or_create_chain_key(path: Path) -> bytes:
    """The audit chain's key, in a file of its own (created on first start, owner-only): whoever
    holds the data key file cannot rewrite the audit with it."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"chain": new_key()}, handle, indent=2)
    try:
        return _b64decode(json.loads(path.read_text(encoding="utf-8"))["chain"], "audit chain key")
    except (KeyError, TypeError, json.JSONDecodeError) as err:
        raise KeyringError(f"audit key file {path} is malformed") from err
