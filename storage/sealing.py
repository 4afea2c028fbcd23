"""What each confidential value is bound to, and what happens when a row does not match it.

A ciphertext's associated data names its table, column and row (storage.crypto) and, since
migration 0010, its owner: an appointment's and an urgent request's values are bound to the
agent they belong to, an agent's sealed Entra id to the lookup she is found by. Someone who
can write to the database but holds no key cannot move a case to another agent, nor point an
agent's lookup at another profile: the row no longer opens, and it is reported here (a
warning that names the table only, never a row, a person or a value, and a count the
service's metrics expose), never shown.
"""

from __future__ import annotations

import logging
from collections import Counter

from booking.records import Tampered as Tampered  # raised here, a domain error
from storage.crypto import Keyring, KeyringError

__all__ = [
    "Tampered",
    "appointment_context",
    "join_url_context",
    "object_id_context",
    "report",
    "tampered_counts",
    "urgent_context",
]

log = logging.getLogger("storage.tamper")

APPOINTMENT_COLUMNS = ("topic", "message", "notes")
URGENT_COLUMNS = ("description", "phone", "availability")

_TAMPERED: Counter[str] = Counter()


def appointment_context(column: str, appointment_id: str, agent_id: str) -> str:
    return f"appointments.{column}:{appointment_id}|agent:{agent_id}"


def join_url_context(appointment_id: str) -> str:
    """A meeting link is sealed too (bound to its appointment; it tells nothing of who)."""
    return f"appointments.join_url:{appointment_id}"


def urgent_context(column: str, request_id: str, agent_id: str) -> str:
    return f"urgent.{column}:{request_id}|agent:{agent_id}"


def object_id_context(agent_id: str, lookup: str) -> str:
    """An agent's sealed Entra id is bound to her row and to the lookup she is found by."""
    return f"agents.object_id:{agent_id}|lookup:{lookup}"


def report(table: str) -> Tampered:
    """Log and count a row found tampered with; the exception to raise (or drop)."""
    _TAMPERED[table] += 1
    log.warning("a row of %s does not match its sealed owner: hidden (changed outside the service)", table)
    return Tampered(f"a row of {table} does not match its sealed owner")


def tampered_counts() -> dict[str, int]:
    """Rows found tampered with since this process started, by table."""
    return dict(_TAMPERED)


def opens(keyring: Keyring, token: str, context: str) -> bool:
    """Whether `token` is a sealed value of `context` (an empty token never is)."""
    if not token:
        return False
    try:
        keyring.decrypt(token, context)
    except KeyringError:
        return False
    return True
