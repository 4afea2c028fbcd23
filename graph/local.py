"""The embedded calendar provider: the product's own database is the worker's calendar.

Appointments, blocked times and added days are rows already; writing an "event" only
names it, and there is nothing to read back. There is no Teams tenant and no mailbox
behind it: the app cannot be installed for anyone (workers become reachable when they
first write to the bot) and no e-mail can be sent (`LocalReach`).
"""

from __future__ import annotations

from datetime import datetime

from graph.provider import (
    AppInstallation,
    CalendarError,
    EventDraft,
    Mailbox,
    MailboxAccess,
    SyncCursor,
    SyncResult,
    WrittenEvent,
)


class LocalCalendar:
    name = "local"

    def __init__(self, meeting_url: str = "") -> None:
        # A fixed Teams meeting room of the worker (a real Teams feature), if configured.
        self._meeting_url = meeting_url

    def event_at_once(self, transaction_id: str, *, online: bool) -> WrittenEvent:
        """The event of an appointment, named in its booking's transaction (`ImmediateCalendar`)."""
        return WrittenEvent(event_id=f"local:{transaction_id}", join_url=self._meeting_url if online else None)

    async def create_event(self, mailbox: Mailbox, draft: EventDraft) -> WrittenEvent:
        # Still served: an appointment stored before its event was named at booking time.
        return self.event_at_once(draft.transaction_id, online=draft.online)

    async def update_event(self, mailbox: Mailbox, event_id: str, draft: EventDraft) -> WrittenEvent:
        return WrittenEvent(event_id=event_id, join_url=self._meeting_url if draft.online else None)

    async def cancel_event(self, mailbox: Mailbox, event_id: str, comment: str) -> None:
        return None

    async def sync(self, mailbox: Mailbox, cursor: SyncCursor, now: datetime) -> SyncResult:
        return SyncResult()

    async def check_mailbox(self, mailbox: Mailbox, now: datetime) -> MailboxAccess:
        return MailboxAccess.NOT_APPLICABLE

    async def close(self) -> None:
        return None


class LocalReach:
    """The reach port without a Teams tenant or a mailbox: nothing to install, no e-mail."""

    async def install_app(self, user_id: str) -> AppInstallation:
        return AppInstallation.NOT_AVAILABLE

    async def app_chat_id(self, user_id: str) -> str | None:
        return None

    async def send_urgent_mail(self, recipient: str, *, open_url: str) -> None:
        # Refused, not pretended: the caller must try the next channel or the next person.
        raise CalendarError("mail_not_available", retryable=False)
