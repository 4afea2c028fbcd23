"""The calendar-provider interface the rest of the product uses, and its value types."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from booking.absence import Absence
from booking.model import DayKind, Interval


class CalendarError(Exception):
    """A provider call failed; `code` is safe to log (no personal data), `retryable` says
    whether the outbox should try again."""

    def __init__(
        self, code: str, *, retryable: bool, retry_after: float | None = None, status: int | None = None
    ) -> None:
        super().__init__(code)
        self.code = code
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status  # the HTTP status Graph answered, when it answered


@dataclass(frozen=True, kw_only=True, slots=True)
class EventDraft:
    """What the product writes into the worker's calendar: never the topic or message."""

    transaction_id: str
    subject: str
    start: datetime
    end: datetime
    location: str  # empty for remote modes (Teams, phone): no location is written
    online: bool  # a Teams meeting
    body: str  # booking reference and practical text only
    attendee_email: str = ""  # only when the agent asked to be invited (never by default)
    attendee_name: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class WrittenEvent:
    event_id: str
    join_url: str | None


class ChangeKind(enum.StrEnum):
    UPSERT = "upsert"
    REMOVED = "removed"


@dataclass(frozen=True, kw_only=True, slots=True)
class CalendarChange:
    """One event seen in the worker's calendar, as the product needs it."""

    kind: ChangeKind
    event_id: str
    interval: Interval | None = None
    busy: bool = False
    day_kind: DayKind | None = None  # set when a category marks a permanence/retirement/extra day
    out_of_office: bool = False  # an Outlook event shown as "out of office"
    cancelled: bool = False
    transaction_id: str | None = None  # set on events the product wrote


@dataclass(frozen=True, kw_only=True, slots=True)
class SyncResult:
    changes: tuple[CalendarChange, ...] = ()
    absences: tuple[Absence, ...] | None = None  # automatic replies; None: not read this time
    full: bool = False  # a full resync: entries not listed are gone
    requests: int = 0
    problems: tuple[str, ...] = ()  # codes (safe to log) of what could not be read this time


class AppInstallation(enum.StrEnum):
    """What installing the Teams app for a worker did."""

    INSTALLED = "installed"
    ALREADY_INSTALLED = "already_installed"  # Graph answered 409 Conflict: nothing to do
    NOT_AVAILABLE = "not_available"  # no Teams tenant (local provider) or no catalog id configured


class MailboxAccess(enum.StrEnum):
    """What reading a worker's mailbox (settings and calendar) gave; a failure raises `CalendarError`."""

    READABLE = "readable"
    NOT_APPLICABLE = "n/a"  # the embedded calendar: no mailbox to read


# The only e-mail the product sends (a second channel for urgent requests): no name, no
# topic, no text of the request, whoever reads the mailbox, its delegates or the mail trace.
URGENT_MAIL_SUBJECT = "Une demande urgente vous attend dans Permanence"
URGENT_MAIL_BODY = (
    "Bonjour,\n\n"
    "Une demande urgente vous attend dans Permanence. Ouvrez Teams pour la consulter :\n"
    "{open_url}\n\n"
    "Ce message est envoyé automatiquement ; il ne contient aucune information sur la demande."
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Mailbox:
    worker_id: str
    address: str  # UPN or object id in Graph


@dataclass(kw_only=True)
class SyncCursor:
    """Provider state kept between syncs (a delta link for Graph)."""

    delta_link: str | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    extra: dict[str, str] = field(default_factory=dict)  # kept with the cursor across restarts
    replies_due: bool = False  # re-read the automatic replies now (a change notification came)


class ImmediateCalendar(Protocol):
    """A calendar whose event exists as soon as the appointment is stored (the embedded one:
    the database is the calendar). Its events are named in the booking's own transaction, and
    no outbox message goes to it."""

    def event_at_once(self, transaction_id: str, *, online: bool) -> WrittenEvent: ...


class CalendarProvider(Protocol):
    name: str

    async def create_event(self, mailbox: Mailbox, draft: EventDraft) -> WrittenEvent: ...

    async def update_event(self, mailbox: Mailbox, event_id: str, draft: EventDraft) -> WrittenEvent: ...

    async def cancel_event(self, mailbox: Mailbox, event_id: str, comment: str) -> None: ...

    async def sync(self, mailbox: Mailbox, cursor: SyncCursor, now: datetime) -> SyncResult: ...

    async def check_mailbox(self, mailbox: Mailbox, now: datetime) -> MailboxAccess:
        """Read the worker's mailbox settings and one day of her calendar (`permanence doctor`,
        `/readyz`); raises `CalendarError` (with the HTTP status) when either cannot be read."""
        ...

    async def close(self) -> None: ...


class Reach(Protocol):
    """Reaching people outside the calendar: the Teams app installed for a worker (her personal
    chat with the bot) and the neutral e-mail of the urgent path."""

    async def install_app(self, user_id: str) -> AppInstallation:
        """Install the Teams app in the personal scope of a worker (her Entra object id), so
        that a personal conversation with the bot exists before anything must reach her."""
        ...

    async def app_chat_id(self, user_id: str) -> str | None:
        """The id of the personal chat between the worker and the app; None if not installed."""
        ...

    async def send_urgent_mail(self, recipient: str, *, open_url: str) -> None:
        """E-mail `recipient` the neutral « urgent request waiting » notice with a link to Teams.

        Raises `CalendarError` (code `mail_not_available`, not retryable) where no mailbox can send."""
        ...
