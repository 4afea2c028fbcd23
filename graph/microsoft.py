"""Outlook as the workers' calendar, through Microsoft Graph: the calendar port
(`graph.provider.CalendarProvider`) over one shared `GraphClient` (`graph/client.py`), with the
event mapping in `graph/mapping.py`, the delta sync and subscriptions in `graph/delta.py`, and the
reach port (Teams app installation, the neutral e-mail) in `graph/reach.py`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.users.item.calendar_view.calendar_view_request_builder import CalendarViewRequestBuilder
from msgraph.generated.users.item.events.item.cancel.cancel_post_request_body import CancelPostRequestBody

from graph.client import GraphClient, GraphOptions, GraphSettings, configured
from graph.credentials import GraphCredential
from graph.delta import DeltaSync
from graph.mapping import event_body, join_url
from graph.provider import (
    CalendarError,
    EventDraft,
    Mailbox,
    MailboxAccess,
    SyncCursor,
    SyncResult,
    WrittenEvent,
)
from graph.reach import MicrosoftReach


class MicrosoftCalendar:
    name = "microsoft"

    def __init__(
        self,
        credential: GraphCredential,
        options: GraphOptions,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.graph = GraphClient(credential, options, transport=transport)
        self.credential = credential
        self.client = self.graph.service
        self.delta = DeltaSync(self.graph)
        self.reach = MicrosoftReach(self.graph)  # the same client: one connection pool, one token

    @classmethod
    def from_settings(cls, settings: GraphSettings) -> MicrosoftCalendar:
        return cls(*configured(settings))

    @property
    def options(self) -> GraphOptions:
        return self.graph.options

    @options.setter
    def options(self, options: GraphOptions) -> None:
        self.graph.options = options

    @property
    def requests(self) -> int:
        """Calls made, for figures."""
        return self.graph.requests

    @property
    def observe_request(self) -> Callable[[str, float], None] | None:
        """Called with (operation, seconds) after each Graph call, for the latency histogram."""
        return self.graph.observe_request

    @observe_request.setter
    def observe_request(self, observe: Callable[[str, float], None] | None) -> None:
        self.graph.observe_request = observe

    async def close(self) -> None:
        await self.graph.close()

    async def check(self) -> None:
        """Readiness: a Graph token can be obtained."""
        await self.graph.check()

    async def check_mailbox(self, mailbox: Mailbox, now: datetime) -> MailboxAccess:
        """Her mailbox settings (automatic replies) and one day of her calendar, as the sync reads
        them: a 403 here is an application access policy or a permission that leaves her out."""
        user = self.client.users.by_user_id(mailbox.address)
        await self.graph.call(mailbox.address, lambda: user.mailbox_settings.get(), what="mailboxSettings")
        query = CalendarViewRequestBuilder.CalendarViewRequestBuilderGetQueryParameters(
            start_date_time=now.astimezone(UTC).isoformat(),
            end_date_time=(now + timedelta(days=1)).astimezone(UTC).isoformat(),
            top=1,
            select=["id"],
        )
        await self.graph.call(
            mailbox.address,
            lambda: user.calendar_view.get(request_configuration=RequestConfiguration(query_parameters=query)),
            what="calendarView",
        )
        return MailboxAccess.READABLE

    # -- writes -----------------------------------------------------------------------------

    async def create_event(self, mailbox: Mailbox, draft: EventDraft) -> WrittenEvent:
        user = self.client.users.by_user_id(mailbox.address)
        created = await self.graph.call(
            mailbox.address, lambda: user.events.post(event_body(draft, create=True)), what="event.create"
        )
        if created is None or not created.id:
            raise CalendarError("graph_empty_response", retryable=True)
        return WrittenEvent(event_id=created.id, join_url=join_url(created))

    async def update_event(self, mailbox: Mailbox, event_id: str, draft: EventDraft) -> WrittenEvent:
        item = self.client.users.by_user_id(mailbox.address).events.by_event_id(event_id)
        updated = await self.graph.call(
            mailbox.address, lambda: item.patch(event_body(draft, create=False)), what="event.update"
        )
        return WrittenEvent(event_id=event_id, join_url=join_url(updated))

    async def cancel_event(self, mailbox: Mailbox, event_id: str, comment: str) -> None:
        item = self.client.users.by_user_id(mailbox.address).events.by_event_id(event_id)
        try:
            await self.graph.call(
                mailbox.address,
                lambda: item.cancel.post(CancelPostRequestBody(comment=comment)),
                what="event.cancel",
            )
        except CalendarError as err:
            if err.code != "not_found":  # already deleted in Outlook: nothing left to cancel
                raise

    # -- reads and change notifications -------------------------------------------------------

    async def sync(self, mailbox: Mailbox, cursor: SyncCursor, now: datetime) -> SyncResult:
        return await self.delta.sync(mailbox, cursor, now)

    async def subscribe(
        self, mailbox: Mailbox, *, notification_url: str, lifecycle_url: str, client_state: str, now: datetime
    ) -> tuple[str, datetime]:
        return await self.delta.subscribe(
            mailbox, notification_url=notification_url, lifecycle_url=lifecycle_url, client_state=client_state, now=now
        )

    async def renew(self, mailbox: Mailbox, subscription_id: str, now: datetime) -> datetime:
        return await self.delta.renew(mailbox, subscription_id, now)

    async def reauthorize(self, mailbox: Mailbox, subscription_id: str) -> None:
        await self.delta.reauthorize(mailbox, subscription_id)
