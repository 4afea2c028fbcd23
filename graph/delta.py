"""Reading a worker's Outlook: delta sync of her calendar view, her automatic replies (which
Graph never notifies), and the change-notification subscriptions that wake the sync.

An idle sync cycle is one request per mailbox: when the automatic replies are due, they are read
in the same JSON batch (`POST /$batch`) as the delta round's first page; each batch item has its
own `client-request-id`, logged with its status.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.headers_collection import HeadersCollection
from msgraph.generated.models.automatic_replies_status import AutomaticRepliesStatus
from msgraph.generated.models.mailbox_settings import MailboxSettings
from msgraph.generated.models.subscription import Subscription
from msgraph.generated.users.item.calendar_view.delta.delta_get_response import DeltaGetResponse
from msgraph.generated.users.item.calendar_view.delta.delta_request_builder import DeltaRequestBuilder

from booking.absence import Absence, AbsenceSource
from graph.client import BatchAnswer, GraphRole
from graph.mapping import aware, to_change
from graph.provider import (
    CalendarChange,
    CalendarError,
    Mailbox,
    SyncCursor,
    SyncResult,
)
from graph.timezones import UnknownTimeZone

log = logging.getLogger(__name__)

SUBSCRIPTION_MINUTES = 4230  # Outlook resources without resource data: under three days
ALWAYS_SINCE = "replies_always_since"  # cursor key: when automatic replies without dates were first seen
REPLIES_CHECKED = "replies_checked_at"


class DeltaSync(GraphRole):
    """Delta rounds, automatic replies and subscriptions, on a shared `GraphClient`."""

    async def sync(self, mailbox: Mailbox, cursor: SyncCursor, now: datetime) -> SyncResult:
        """One delta round: a full listing the first time (or after 410), then only changes;
        the automatic replies when due, or at once when a change notification came. When the
        replies are due, they are read in the same `$batch` request as the first delta page."""
        before = self.graph.requests
        full = cursor.delta_link is None or cursor.window_end is None or cursor.window_end < now + timedelta(days=30)
        if full:
            cursor.delta_link = None
            cursor.window_start = now - self.options.window_back
            cursor.window_end = now + self.options.window_ahead
        checked = cursor.extra.get(REPLIES_CHECKED)
        due = checked is None or datetime.fromisoformat(checked) + self.options.replies_every <= now
        batched: BatchAnswer | None = None
        try:
            if full or due or cursor.replies_due:
                first, batched = await self._delta_and_settings(mailbox, cursor)
                changes = await self._delta(mailbox, cursor, first=first)
            else:
                changes = await self._delta(mailbox, cursor)
        except CalendarError as err:
            if err.code != "resync":
                raise
            log.info("graph delta token expired: full resync", extra={"event": "graph.resync"})
            batched = None  # the batch failed as a whole: the replies are read on their own below
            cursor.delta_link = None
            cursor.window_start, cursor.window_end = now - self.options.window_back, now + self.options.window_ahead
            changes = await self._delta(mailbox, cursor)
            full = True
        absences: tuple[Absence, ...] | None = None
        problems: tuple[str, ...] = ()
        if full or due or cursor.replies_due:
            try:
                absences = await self._automatic_replies(mailbox, cursor, now, batched=batched)
            except UnknownTimeZone as err:
                # Not UTC, not skipped silently: the absences stay as last read, and it shows.
                log.error(
                    "automatic replies use the time zone %r, which CLDR does not know: absences not updated",
                    err.name,
                    extra={"event": "graph.time_zone", "code": "unknown_time_zone"},
                )
                problems = ("unknown_time_zone",)
            else:
                cursor.extra[REPLIES_CHECKED] = now.isoformat()
                cursor.replies_due = False
        return SyncResult(
            changes=tuple(changes),
            absences=absences,
            full=full,
            requests=self.graph.requests - before,
            problems=problems,
        )

    def _delta_headers(self) -> HeadersCollection:
        headers = HeadersCollection()
        headers.add("Prefer", [f"odata.maxpagesize={self.options.page_size}", 'outlook.timezone="UTC"'])
        return headers

    def _first_delta(
        self, mailbox: Mailbox, cursor: SyncCursor
    ) -> tuple[DeltaRequestBuilder, RequestConfiguration[DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters]]:
        """The first delta request of a round: the stored delta link, or the window's full listing."""
        delta = self.client.users.by_user_id(mailbox.address).calendar_view.delta
        if cursor.delta_link:
            return delta.with_url(cursor.delta_link), RequestConfiguration(headers=self._delta_headers())
        assert cursor.window_start is not None and cursor.window_end is not None
        query = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(
            start_date_time=cursor.window_start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            end_date_time=cursor.window_end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        return delta, RequestConfiguration(headers=self._delta_headers(), query_parameters=query)

    async def _delta(
        self, mailbox: Mailbox, cursor: SyncCursor, *, first: DeltaGetResponse | None = None
    ) -> list[CalendarChange]:
        """The delta pages of a round; `first` is the first page when a batch brought it."""
        delta = self.client.users.by_user_id(mailbox.address).calendar_view.delta
        headers = self._delta_headers()
        changes: list[CalendarChange] = []
        page = first
        if page is None:
            builder, config = self._first_delta(mailbox, cursor)
            page = await self.graph.call(
                mailbox.address, lambda: builder.get(request_configuration=config), what="delta"
            )
        while True:
            if page is None:
                raise CalendarError("graph_empty_response", retryable=True)
            changes.extend(to_change(e, self.options) for e in (page.value or []))
            if page.odata_next_link:
                page = await self.graph.call(
                    mailbox.address,
                    lambda link=page.odata_next_link: delta.with_url(link).get(  # type: ignore[misc]
                        request_configuration=RequestConfiguration(headers=headers)
                    ),
                    what="delta",
                )
                continue
            delta_link = page.odata_delta_link or (page.additional_data or {}).get("@odata.deltaLink")
            cursor.delta_link = delta_link if isinstance(delta_link, str) else None
            return changes

    async def _delta_and_settings(
        self, mailbox: Mailbox, cursor: SyncCursor
    ) -> tuple[DeltaGetResponse | None, BatchAnswer]:
        """The first delta page and the mailbox settings in one `$batch` request. A failed delta
        item is raised as the unbatched call's error would be (410 → resync, 429/503 → the whole
        batch retried after Retry-After); the settings answer is returned as it came."""
        builder, config = self._first_delta(mailbox, cursor)
        settings = self.client.users.by_user_id(mailbox.address).mailbox_settings

        async def send() -> tuple[DeltaGetResponse | None, BatchAnswer]:
            items = {  # built again for each attempt: each item gets a fresh client-request-id
                "delta": builder.to_get_request_information(request_configuration=config),
                "mailboxSettings": settings.to_get_request_information(),
            }
            answers = await self.graph.batch(items)
            delta = answers["delta"]
            if delta.error is not None:
                raise delta.error
            page = delta.parse(DeltaGetResponse)
            return page, answers["mailboxSettings"]

        return await self.graph.call(mailbox.address, send, what="batch")

    async def _automatic_replies(
        self, mailbox: Mailbox, cursor: SyncCursor, now: datetime, *, batched: BatchAnswer | None = None
    ) -> tuple[Absence, ...]:
        """Scheduled automatic replies give a dated absence; replies turned on without dates
        an open-ended one from when they were first seen (kept in the cursor). `batched` is the
        settings item of a batch: a failed one is handled as the first attempt of the read."""
        settings: MailboxSettings | None
        if batched is not None and batched.error is None:
            settings = batched.parse(MailboxSettings)
        else:
            settings = await self.graph.call(
                mailbox.address,
                lambda: self.client.users.by_user_id(mailbox.address).mailbox_settings.get(),
                what="mailboxSettings",
                answered=batched.error if batched is not None else None,
            )
        replies = settings.automatic_replies_setting if settings else None
        status = ""
        if replies is not None:
            status = (
                str.lower(replies.status)  # kiota enums are str; Graph may capitalise ("Scheduled")
                if isinstance(replies.status, AutomaticRepliesStatus)
                else str((replies.additional_data or {}).get("status", "")).lower()
            )
        if status != "alwaysenabled":
            cursor.extra.pop(ALWAYS_SINCE, None)
        if replies is None:
            return ()
        if status == "alwaysenabled":
            since = datetime.fromisoformat(cursor.extra.setdefault(ALWAYS_SINCE, now.isoformat()))
            return (
                Absence.open_ended(worker_id=mailbox.worker_id, start=since, source=AbsenceSource.AUTOMATIC_REPLIES),
            )
        if status != "scheduled":
            return ()
        start, end = replies.scheduled_start_date_time, replies.scheduled_end_date_time
        if not (start and end and start.date_time and end.date_time):
            return ()
        first, last = aware(start), aware(end)
        if last <= first:
            return ()
        return (Absence(worker_id=mailbox.worker_id, start=first, end=last, source=AbsenceSource.AUTOMATIC_REPLIES),)

    async def subscribe(
        self, mailbox: Mailbox, *, notification_url: str, lifecycle_url: str, client_state: str, now: datetime
    ) -> tuple[str, datetime]:
        expires = now + timedelta(minutes=SUBSCRIPTION_MINUTES - 15)
        subscription = Subscription(
            change_type="created,updated,deleted",
            notification_url=notification_url,
            lifecycle_notification_url=lifecycle_url,
            resource=f"/users/{mailbox.address}/events",
            expiration_date_time=expires,
            client_state=client_state,
        )
        created = await self.graph.call(
            mailbox.address, lambda: self.client.subscriptions.post(subscription), what="subscription.create"
        )
        if created is None or not created.id:
            raise CalendarError("graph_empty_response", retryable=True)
        return created.id, created.expiration_date_time or expires

    async def renew(self, mailbox: Mailbox, subscription_id: str, now: datetime) -> datetime:
        expires = now + timedelta(minutes=SUBSCRIPTION_MINUTES - 15)
        item = self.client.subscriptions.by_subscription_id(subscription_id)
        renewed = await self.graph.call(
            mailbox.address, lambda: item.patch(Subscription(expiration_date_time=expires)), what="subscription.renew"
        )
        return (renewed.expiration_date_time if renewed else None) or expires

    async def reauthorize(self, mailbox: Mailbox, subscription_id: str) -> None:
        """Answer a `reauthorizationRequired` lifecycle notification: delivery is paused until then."""
        item = self.client.subscriptions.by_subscription_id(subscription_id)
        await self.graph.call(mailbox.address, lambda: item.reauthorize.post(), what="subscription.reauthorize")
