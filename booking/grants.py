"""A grant: the permission to decrypt named confidential rows for one purpose.

The repositories of `storage/` decrypt who and why (names, phones, topics, messages, notes, an
urgent request's situation, the agent's e-mail and conversation) only when handed a grant that
covers the rows asked and allows the purpose; anything else raises `NotGranted`. Grants are
issued by the access policy (`bot.application.access`) alone, after it has decided and written
the audit entry: `issue_grant` is called nowhere else (an architecture test checks it).
This module is plain data so that `storage/` can check a grant without importing `bot`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

Kind = Literal["appointment", "urgent", "agent"]


class Purpose(StrEnum):
    CASE = "case"  # a worker reads a case she handles now (audited)
    OWN = "own"  # the agent's own data, shown back to her (prefilling her phone)
    DELIVERY = "delivery"  # where to reach the agent (conversation, e-mail); never shown
    REPORT = "report"  # topics counted for an aggregate report (audited)
    OPERATOR = "operator"  # an administrative command, by a named operator (audited)


class NotGranted(Exception):
    """A confidential read without a grant that covers it (carries no identifier)."""

    def __init__(self) -> None:
        super().__init__("no grant covers this read")


_ISSUER = object()


@dataclass(frozen=True, kw_only=True, slots=True)
class Grant:
    purpose: Purpose
    appointments: frozenset[str] = frozenset()
    urgent: frozenset[str] = frozenset()
    agents: frozenset[str] = frozenset()
    everything: bool = False  # operators and reports: every row (each such grant is audited)
    issuer: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.issuer is not _ISSUER:
            raise TypeError("grants are issued by the access policy only")

    def __repr__(self) -> str:  # never the ids it covers
        return f"Grant({self.purpose.value})"


def issue_grant(
    purpose: Purpose,
    *,
    appointments: Iterable[str] = (),
    urgent: Iterable[str] = (),
    agents: Iterable[str] = (),
    everything: bool = False,
) -> Grant:
    """For `bot.application.access` only."""
    return Grant(
        purpose=purpose,
        appointments=frozenset(appointments),
        urgent=frozenset(urgent),
        agents=frozenset(agents),
        everything=everything,
        issuer=_ISSUER,
    )


def require_everything(grant: object, purposes: Iterable[Purpose]) -> None:
    """Raise `NotGranted` unless `grant` allows one of `purposes` over every row."""
    if not isinstance(grant, Grant) or grant.purpose not in set(purposes) or not grant.everything:
        raise NotGranted


def require(grant: object, kind: Kind, ids: Iterable[str], purposes: Iterable[Purpose]) -> None:
    """Raise `NotGranted` unless `grant` allows one of `purposes` and covers every id of `kind`."""
    if not isinstance(grant, Grant) or grant.purpose not in set(purposes):
        raise NotGranted
    if grant.everything:
        return
    covered = {"appointment": grant.appointments, "urgent": grant.urgent, "agent": grant.agents}[kind]
    if not set(ids) <= covered:
        raise NotGranted
