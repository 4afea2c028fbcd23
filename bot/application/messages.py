"""The outbox's messages: one frozen dataclass per kind, turned into a row and back here only.

A row is a kind string and a JSON payload. The payloads are exactly those written before the
messages were typed, key for key, so that rows already waiting in a database are still read and
delivered after an upgrade. Adding a kind: a dataclass here with its `kind`, `payload()` and
`parse()`, its place in `Message` and `MESSAGE_TYPES`, and its handler in the dispatcher's
`Handlers` (mypy then refuses a dispatcher without it; `tests/bot/application/test_messages.py`
checks that every kind has exactly one handler)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol

from bot.application.ports import Outbox


class MalformedMessage(ValueError):
    """A row whose kind is unknown or whose payload lacks what its kind needs. The message names
    the kind only, never the payload (it may hold ids)."""


def _text(payload: Mapping[str, Any], key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedMessage(key)
    return value


def _details(payload: Mapping[str, Any], *known: str) -> dict[str, Any]:
    return {key: value for key, value in payload.items() if key not in known}


@dataclass(frozen=True, slots=True)
class CalendarCreate:
    """Write the appointment's event in the worker's calendar."""

    kind: ClassVar[str] = "calendar.create"
    appointment_id: str

    def payload(self) -> dict[str, Any]:
        return {"appointment_id": self.appointment_id}

    @classmethod
    def parse(cls, payload: Mapping[str, Any]) -> CalendarCreate:
        return cls(_text(payload, "appointment_id"))


@dataclass(frozen=True, slots=True)
class CalendarUpdate:
    """Rewrite the appointment's event (created if it never was)."""

    kind: ClassVar[str] = "calendar.update"
    appointment_id: str

    def payload(self) -> dict[str, Any]:
        return {"appointment_id": self.appointment_id}

    @classmethod
    def parse(cls, payload: Mapping[str, Any]) -> CalendarUpdate:
        return cls(_text(payload, "appointment_id"))


@dataclass(frozen=True, slots=True)
class CalendarCancel:
    """Cancel the appointment's event in the worker's calendar."""

    kind: ClassVar[str] = "calendar.cancel"
    appointment_id: str

    def payload(self) -> dict[str, Any]:
        return {"appointment_id": self.appointment_id}

    @classmethod
    def parse(cls, payload: Mapping[str, Any]) -> CalendarCancel:
        return cls(_text(payload, "appointment_id"))


@dataclass(frozen=True, slots=True)
class NotifyWorker:
    """A proactive message to a worker (`worker_id` None: the hotline, nobody to tell). `what`
    names the message; `details` are the ids and words it needs (`appointment_id`, `urgent_id`…)."""

    kind: ClassVar[str] = "notify.worker"
    worker_id: str | None
    what: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        return {"worker_id": self.worker_id, "what": self.what, **self.details}

    @classmethod
    def parse(cls, payload: Mapping[str, Any]) -> NotifyWorker:
        worker_id = payload.get("worker_id")
        if worker_id is not None and not isinstance(worker_id, str):
            raise MalformedMessage("worker_id")
        return cls(worker_id, _text(payload, "what"), _details(payload, "worker_id", "what"))


@dataclass(frozen=True, slots=True)
class NotifyAgent:
    """A proactive message to an agent; `what` and `details` as for `NotifyWorker`."""

    kind: ClassVar[str] = "notify.agent"
    agent_id: str
    what: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        return {"agent_id": self.agent_id, "what": self.what, **self.details}

    @classmethod
    def parse(cls, payload: Mapping[str, Any]) -> NotifyAgent:
        return cls(_text(payload, "agent_id"), _text(payload, "what"), _details(payload, "agent_id", "what"))


@dataclass(frozen=True, slots=True)
class NotifyCards:
    """The cards that showed this appointment with actions are updated in place (`change`: one
    of `bot.application.shown_cards.CHANGES`)."""

    kind: ClassVar[str] = "notify.cards"
    appointment_id: str
    change: str

    def payload(self) -> dict[str, Any]:
        return {"appointment_id": self.appointment_id, "change": self.change}

    @classmethod
    def parse(cls, payload: Mapping[str, Any]) -> NotifyCards:
        return cls(_text(payload, "appointment_id"), _text(payload, "change"))


@dataclass(frozen=True, slots=True)
class UrgentAckCheck:
    """An urgent notice reached on Teams and not taken in time: the e-mail follows (`step`
    absent in rows written before steps were recorded)."""

    kind: ClassVar[str] = "urgent.ack_check"
    urgent_id: str
    step: str | None = None

    def payload(self) -> dict[str, Any]:
        return {"urgent_id": self.urgent_id} | ({} if self.step is None else {"step": self.step})

    @classmethod
    def parse(cls, payload: Mapping[str, Any]) -> UrgentAckCheck:
        step = payload.get("step")
        return cls(_text(payload, "urgent_id"), None if step is None else str(step))


@dataclass(frozen=True, slots=True)
class CalendarResync:
    """Read a worker's calendar again (`full`: from scratch; `replies`: for attendees' replies)."""

    kind: ClassVar[str] = "calendar.sync"
    worker_id: str
    full: bool = False
    replies: bool = False

    def payload(self) -> dict[str, Any]:
        flags = {"full": self.full, "replies": self.replies}
        return {"worker_id": self.worker_id, **{name: True for name, on in flags.items() if on}}

    @classmethod
    def parse(cls, payload: Mapping[str, Any]) -> CalendarResync:
        return cls(_text(payload, "worker_id"), bool(payload.get("full")), bool(payload.get("replies")))


@dataclass(frozen=True, slots=True)
class GraphSubscription:
    """Keep a worker's change subscription alive (`reauthorize`: answer Graph's lifecycle
    notice; `force`: create the subscriptions again)."""

    kind: ClassVar[str] = "graph.subscription"
    worker_id: str
    reauthorize: bool = False
    force: bool = False

    def payload(self) -> dict[str, Any]:
        flags = {"reauthorize": self.reauthorize, "force": self.force}
        return {"worker_id": self.worker_id, **{name: True for name, on in flags.items() if on}}

    @classmethod
    def parse(cls, payload: Mapping[str, Any]) -> GraphSubscription:
        return cls(_text(payload, "worker_id"), bool(payload.get("reauthorize")), bool(payload.get("force")))


Message = (
    CalendarCreate
    | CalendarUpdate
    | CalendarCancel
    | NotifyWorker
    | NotifyAgent
    | NotifyCards
    | UrgentAckCheck
    | CalendarResync
    | GraphSubscription
)

MESSAGE_TYPES: tuple[type[Message], ...] = (
    CalendarCreate,
    CalendarUpdate,
    CalendarCancel,
    NotifyWorker,
    NotifyAgent,
    NotifyCards,
    UrgentAckCheck,
    CalendarResync,
    GraphSubscription,
)

_BY_KIND: dict[str, type[Message]] = {cls.kind: cls for cls in MESSAGE_TYPES}


class _Parser(Protocol):
    def parse(self, payload: Mapping[str, Any]) -> Message: ...


def parse(kind: str, payload: Mapping[str, Any]) -> Message:
    """The message a stored row holds; `MalformedMessage` when it holds none."""
    cls: _Parser | None = _BY_KIND.get(kind)
    if cls is None:
        raise MalformedMessage(f"unknown_kind:{kind}")
    if not isinstance(payload, Mapping):
        raise MalformedMessage(f"bad_payload:{kind}")
    try:
        return cls.parse(payload)
    except MalformedMessage as err:
        raise MalformedMessage(f"bad_payload:{kind}:{err}") from None


async def queue(
    outbox: Outbox,
    message: Message,
    now: datetime,
    aggregate_id: str | None = None,
    *,
    not_before: datetime | None = None,
) -> int:
    """Write `message` as an outbox row, in the caller's transaction."""
    return await outbox.add(message.kind, message.payload(), now, aggregate_id, not_before=not_before)
