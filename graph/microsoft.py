"""Outlook and Teams through Microsoft Graph with the real `msgraph-sdk` and azure-identity.

Kiota's retry handler is left out: it reads `Retry-After` as a whole number (Graph sends
fractions such as 2.128) and retries inside the request where the outbox cannot see it.
Retries here honour `Retry-After`, then back off exponentially with jitter; writes that
still fail go back to the outbox, which retries them later with the same `transactionId`.

Every request asks for immutable ids (event ids then survive moves between folders) and
carries a fresh `client-request-id`, logged with the operation and the status (never a
mailbox, a user id or a body) so that Microsoft support can trace any call.

An idle sync cycle is one request per mailbox: when the automatic replies (which Graph never
notifies) are due, they are read in the same JSON batch (`POST /$batch`) as the delta round's
first page; each batch item has its own `client-request-id`, logged with its status.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, TypeVar
from urllib.parse import urlparse

import httpx
from kiota_abstractions.api_error import APIError
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.headers_collection import HeadersCollection
from kiota_abstractions.request_information import RequestInformation
from kiota_abstractions.serialization import Parsable, ParsableFactory
from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
from kiota_http.kiota_client_factory import KiotaClientFactory
from kiota_http.middleware import BaseMiddleware, RetryHandler
from kiota_serialization_json.json_parse_node import JsonParseNode
from msgraph.generated.models.attendee import Attendee
from msgraph.generated.models.attendee_type import AttendeeType
from msgraph.generated.models.automatic_replies_status import AutomaticRepliesStatus
from msgraph.generated.models.body_type import BodyType
from msgraph.generated.models.date_time_time_zone import DateTimeTimeZone
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.event import Event
from msgraph.generated.models.free_busy_status import FreeBusyStatus
from msgraph.generated.models.item_body import ItemBody
from msgraph.generated.models.location import Location
from msgraph.generated.models.mailbox_settings import MailboxSettings
from msgraph.generated.models.message import Message
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.online_meeting_provider_type import OnlineMeetingProviderType
from msgraph.generated.models.recipient import Recipient
from msgraph.generated.models.sensitivity import Sensitivity
from msgraph.generated.models.subscription import Subscription
from msgraph.generated.models.user_scope_teams_app_installation import UserScopeTeamsAppInstallation
from msgraph.generated.users.item.calendar_view.calendar_view_request_builder import CalendarViewRequestBuilder
from msgraph.generated.users.item.calendar_view.delta.delta_get_response import DeltaGetResponse
from msgraph.generated.users.item.calendar_view.delta.delta_request_builder import DeltaRequestBuilder
from msgraph.generated.users.item.events.item.cancel.cancel_post_request_body import CancelPostRequestBody
from msgraph.generated.users.item.send_mail.send_mail_post_request_body import SendMailPostRequestBody
from msgraph.generated.users.item.teamwork.installed_apps.installed_apps_request_builder import (
    InstalledAppsRequestBuilder,
)
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph.graph_service_client import GraphServiceClient
from msgraph_core import GraphClientFactory
from msgraph_core.requests.batch_request_builder import BatchRequestBuilder
from msgraph_core.requests.batch_request_content import BatchRequestContent
from msgraph_core.requests.batch_request_item import BatchRequestItem

from booking.absence import Absence, AbsenceSource
from booking.model import DayKind, Interval
from graph.credentials import CredentialKind, GraphCredential, graph_credential
from graph.provider import (
    URGENT_MAIL_BODY,
    URGENT_MAIL_SUBJECT,
    AppInstallation,
    CalendarChange,
    CalendarError,
    ChangeKind,
    EventDraft,
    Mailbox,
    MailboxAccess,
    SyncCursor,
    SyncResult,
    WrittenEvent,
)
from graph.timezones import UnknownTimeZone, zone_of

log = logging.getLogger(__name__)

T = TypeVar("T")
P = TypeVar("P", bound=Parsable)
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
RETRYABLE = {429, 500, 502, 503, 504}
RESYNC_CODES = {"syncstatenotfound", "resyncrequired", "syncstateinvalid"}
SUBSCRIPTION_MINUTES = 4230  # Outlook resources without resource data: under three days
IMMUTABLE_IDS = 'IdType="ImmutableId"'
ALWAYS_SINCE = "replies_always_since"  # cursor key: when automatic replies without dates were first seen
REPLIES_CHECKED = "replies_checked_at"

_operation: ContextVar[str] = ContextVar("graph_operation", default="graph")


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait: Graph sends fractional numbers ("2.128"); HTTP dates are allowed too."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    with contextlib.suppress(TypeError, ValueError):
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    return None


class GraphRequestHeaders(BaseMiddleware):
    """Immutable ids and a fresh `client-request-id` on every Graph request, and one log line
    per request: event, operation, status, client-request-id (no path: it names a mailbox)."""

    async def send(self, request: httpx.Request, transport: httpx.AsyncBaseTransport) -> httpx.Response:
        client_request_id = str(uuid.uuid4())
        request.headers["client-request-id"] = client_request_id
        prefer = [p for p in request.headers.get_list("Prefer", split_commas=True) if p]
        if not any(p.lower().startswith("idtype=") for p in prefer):
            request.headers["Prefer"] = ", ".join([*prefer, IMMUTABLE_IDS])
        operation = _operation.get()
        try:
            response = await super().send(request, transport)
        except httpx.TransportError as err:
            log.warning(
                "graph %s failed before an answer (%s), client-request-id %s",
                operation,
                type(err).__name__,
                client_request_id,
                extra={
                    "event": "graph.request",
                    "operation": operation,
                    "status": 0,
                    "client_request_id": client_request_id,
                },
            )
            raise
        log.info(
            "graph %s answered %s, client-request-id %s",
            operation,
            response.status_code,
            client_request_id,
            extra={
                "event": "graph.request",
                "operation": operation,
                "status": response.status_code,
                "client_request_id": client_request_id,
            },
        )
        return response


class GraphSettings(Protocol):
    """What `MicrosoftCalendar.from_settings` reads (bot.settings.Settings has it all)."""

    @property
    def app_tenant_id(self) -> str: ...
    @property
    def app_id(self) -> str: ...
    @property
    def graph_client_id(self) -> str: ...
    @property
    def authority_host(self) -> str: ...
    @property
    def graph_base_url(self) -> str: ...
    @property
    def graph_credential(self) -> str: ...
    @property
    def graph_managed_identity_client_id(self) -> str: ...
    @property
    def automatic_replies_refresh_seconds(self) -> int: ...
    @property
    def teams_app_catalog_id(self) -> str: ...
    @property
    def notification_mailbox(self) -> str: ...

    def graph_secret(self) -> str: ...
    def graph_certificate_pem(self) -> str: ...
    @property
    def graph_ca_bundle(self) -> str: ...


@dataclass(frozen=True, kw_only=True)
class GraphOptions:
    base_url: str = "https://graph.microsoft.com/v1.0"
    busy_statuses: frozenset[str] = frozenset({"busy", "tentative", "oof", "workingelsewhere"})
    categories: Mapping[str, DayKind] = field(
        default_factory=lambda: {
            "permanence": DayKind.PERMANENCE,
            "vendredi retraite": DayKind.RETIREMENT,
            "journée supplémentaire": DayKind.EXTRA,
        }
    )
    window_back: timedelta = timedelta(days=1)
    window_ahead: timedelta = timedelta(days=120)
    replies_every: timedelta = timedelta(minutes=5)  # Graph sends no notification for automatic replies
    teams_app_catalog_id: str = ""  # the app's id in the tenant's catalog (not the manifest id)
    notification_mailbox: str = ""  # the mailbox the neutral e-mails are sent from
    ca_bundle: str = ""  # PEM file of the authorities to trust (default: the system's)
    page_size: int = 50
    concurrency: int = 4  # Outlook allows four concurrent requests per app and mailbox
    attempts: int = 4
    timeout: float = 20.0
    max_wait: float = 30.0  # longer Retry-After values go back to the caller


class MicrosoftCalendar:
    name = "microsoft"

    def __init__(
        self,
        credential: GraphCredential,
        options: GraphOptions,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.options = options
        self.credential = credential
        host = urlparse(options.base_url).hostname or "graph.microsoft.com"
        auth = AzureIdentityAuthenticationProvider(credential, scopes=[GRAPH_SCOPE], allowed_hosts=[host])
        middleware: list[BaseMiddleware] = [
            m for m in KiotaClientFactory.get_default_middleware(None) if not isinstance(m, RetryHandler)
        ]
        middleware.append(GraphRequestHeaders())
        verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=options.ca_bundle) if options.ca_bundle else True
        )
        http = httpx.AsyncClient(timeout=options.timeout, transport=transport, verify=verify)
        http = GraphClientFactory.create_with_custom_middleware(middleware=middleware, client=http)
        adapter = GraphRequestAdapter(auth, http)
        adapter.base_url = options.base_url.rstrip("/")
        self.client = GraphServiceClient(request_adapter=adapter)
        self._http: httpx.AsyncClient = http
        self._gates: dict[str, asyncio.Semaphore] = {}
        self.requests = 0  # calls made, for figures
        # Called with (operation, seconds) after each Graph call, for the latency histogram.
        self.observe_request: Callable[[str, float], None] | None = None

    @classmethod
    def from_settings(cls, settings: GraphSettings) -> MicrosoftCalendar:
        credential = graph_credential(
            CredentialKind(settings.graph_credential),
            tenant_id=settings.app_tenant_id,
            client_id=settings.graph_client_id or settings.app_id,
            authority_host=settings.authority_host,
            secret=settings.graph_secret(),
            certificate_pem=settings.graph_certificate_pem().encode(),
            managed_identity_client_id=settings.graph_managed_identity_client_id,
            ca_bundle=settings.graph_ca_bundle or None,
        )
        options = GraphOptions(
            base_url=settings.graph_base_url,
            replies_every=timedelta(seconds=settings.automatic_replies_refresh_seconds),
            teams_app_catalog_id=settings.teams_app_catalog_id,
            notification_mailbox=settings.notification_mailbox,
            ca_bundle=settings.graph_ca_bundle,
        )
        return cls(credential, options)

    async def close(self) -> None:
        await self._http.aclose()
        await self.credential.close()

    async def check(self) -> None:
        """Readiness: a Graph token can be obtained."""
        await self.credential.get_token(GRAPH_SCOPE)

    async def check_mailbox(self, mailbox: Mailbox, now: datetime) -> MailboxAccess:
        """Her mailbox settings (automatic replies) and one day of her calendar, as the sync reads
        them: a 403 here is an application access policy or a permission that leaves her out."""
        user = self.client.users.by_user_id(mailbox.address)
        await self._call(mailbox.address, lambda: user.mailbox_settings.get(), what="mailboxSettings")
        query = CalendarViewRequestBuilder.CalendarViewRequestBuilderGetQueryParameters(
            start_date_time=now.astimezone(UTC).isoformat(),
            end_date_time=(now + timedelta(days=1)).astimezone(UTC).isoformat(),
            top=1,
            select=["id"],
        )
        await self._call(
            mailbox.address,
            lambda: user.calendar_view.get(request_configuration=RequestConfiguration(query_parameters=query)),
            what="calendarView",
        )
        return MailboxAccess.READABLE

    # -- plumbing ---------------------------------------------------------------------------

    def _gate(self, key: str) -> asyncio.Semaphore:
        return self._gates.setdefault(key.lower(), asyncio.Semaphore(self.options.concurrency))

    async def _call(
        self, key: str, operation: Callable[[], Awaitable[T]], *, what: str, answered: APIError | None = None
    ) -> T:
        """One Graph operation with retries; `key` (a mailbox or user) bounds concurrency.
        `answered` is an error Graph already gave for this operation inside a batch: it is
        handled as the first attempt's answer (same mapping, same retries), without a request."""
        token = _operation.set(what)
        try:
            return await self._attempts(key, operation, what=what, answered=answered)
        finally:
            _operation.reset(token)

    async def _attempts(
        self, key: str, operation: Callable[[], Awaitable[T]], *, what: str, answered: APIError | None
    ) -> T:
        for attempt in range(1, self.options.attempts + 1):
            retry_after: float | None = None
            try:
                if answered is not None and attempt == 1:
                    raise answered
                async with self._gate(key):
                    self.requests += 1
                    started = time.monotonic()
                    try:
                        return await operation()
                    finally:
                        if self.observe_request is not None:
                            self.observe_request(what, time.monotonic() - started)
            except APIError as err:
                status = err.response_status_code or 0
                code = (getattr(getattr(err, "error", None), "code", None) or str(status)).lower()
                headers = err.response_headers or {}
                retry_after = parse_retry_after(headers.get("retry-after") or headers.get("Retry-After"))
                if status == 404:
                    raise CalendarError("not_found", retryable=False, status=status) from err
                if status == 410 or code in RESYNC_CODES:
                    raise CalendarError("resync", retryable=True, status=status) from err
                if status not in RETRYABLE:
                    raise CalendarError(f"graph_{status}_{code}"[:60], retryable=False, status=status) from err
                error = CalendarError(f"graph_{status}", retryable=True, retry_after=retry_after, status=status)
            except httpx.TransportError as err:  # dropped connection, timeout
                error = CalendarError("graph_network", retryable=True)
                error.__cause__ = err
            log.warning(
                "graph %s failed (%s), attempt %s",
                what,
                error.code,
                attempt,
                extra={"event": "graph.retry", "code": error.code, "operation": what},
            )
            if attempt == self.options.attempts:
                raise error
            delay = retry_after if retry_after is not None else min(8.0, 0.25 * 2 ** (attempt - 1))
            if delay > self.options.max_wait:
                raise error  # too long to wait here: the outbox or the next cycle will retry
            await asyncio.sleep(delay * (1 if retry_after is not None else random.uniform(0.8, 1.2)))  # noqa: S311
        raise AssertionError("unreachable")

    def _event(self, draft: EventDraft, *, create: bool) -> Event:
        def when(moment: datetime) -> DateTimeTimeZone:
            return DateTimeTimeZone(date_time=moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), time_zone="UTC")

        event = Event(
            subject=draft.subject,
            sensitivity=Sensitivity.Private,
            show_as=FreeBusyStatus.Busy,
            start=when(draft.start),
            end=when(draft.end),
            body=ItemBody(content_type=BodyType.Text, content=draft.body),
        )
        if draft.location:  # none for remote modes: no text naming how the meeting happens
            event.location = Location(display_name=draft.location)
        if create:
            event.transaction_id = draft.transaction_id
            event.is_online_meeting = draft.online
            if draft.online:
                event.online_meeting_provider = OnlineMeetingProviderType.TeamsForBusiness
        if draft.attendee_email:
            event.attendees = [
                Attendee(
                    email_address=EmailAddress(address=draft.attendee_email, name=draft.attendee_name or None),
                    type=AttendeeType.Required,
                )
            ]
        return event

    @staticmethod
    def _join_url(event: Event | None) -> str | None:
        if event is None or event.online_meeting is None:
            return None
        return event.online_meeting.join_url

    # -- writes -----------------------------------------------------------------------------

    async def create_event(self, mailbox: Mailbox, draft: EventDraft) -> WrittenEvent:
        user = self.client.users.by_user_id(mailbox.address)
        created = await self._call(
            mailbox.address, lambda: user.events.post(self._event(draft, create=True)), what="event.create"
        )
        if created is None or not created.id:
            raise CalendarError("graph_empty_response", retryable=True)
        return WrittenEvent(event_id=created.id, join_url=self._join_url(created))

    async def update_event(self, mailbox: Mailbox, event_id: str, draft: EventDraft) -> WrittenEvent:
        item = self.client.users.by_user_id(mailbox.address).events.by_event_id(event_id)
        updated = await self._call(
            mailbox.address, lambda: item.patch(self._event(draft, create=False)), what="event.update"
        )
        return WrittenEvent(event_id=event_id, join_url=self._join_url(updated))

    async def cancel_event(self, mailbox: Mailbox, event_id: str, comment: str) -> None:
        item = self.client.users.by_user_id(mailbox.address).events.by_event_id(event_id)
        try:
            await self._call(
                mailbox.address,
                lambda: item.cancel.post(CancelPostRequestBody(comment=comment)),
                what="event.cancel",
            )
        except CalendarError as err:
            if err.code != "not_found":  # already deleted in Outlook: nothing left to cancel
                raise

    # -- reads ------------------------------------------------------------------------------

    def _change(self, event: Event) -> CalendarChange:
        removed = "@removed" in (event.additional_data or {})
        if removed or not event.id:
            return CalendarChange(kind=ChangeKind.REMOVED, event_id=event.id or "")
        interval = None
        if event.start and event.end and event.start.date_time and event.end.date_time:
            start, end = aware(event.start), aware(event.end)
            if end > start:
                interval = Interval(start=start, end=end)
        show_as = str.lower(event.show_as) if event.show_as else "busy"  # kiota enums are str
        kind = next(
            (
                self.options.categories[c.lower()]
                for c in (event.categories or [])
                if c.lower() in self.options.categories
            ),
            None,
        )
        return CalendarChange(
            kind=ChangeKind.UPSERT,
            event_id=event.id,
            interval=interval,
            busy=show_as in self.options.busy_statuses,
            out_of_office=show_as == "oof",
            day_kind=kind,
            cancelled=bool(event.is_cancelled),
            transaction_id=event.transaction_id,
        )

    async def sync(self, mailbox: Mailbox, cursor: SyncCursor, now: datetime) -> SyncResult:
        """One delta round: a full listing the first time (or after 410), then only changes;
        the automatic replies when due, or at once when a change notification came. When the
        replies are due, they are read in the same `$batch` request as the first delta page."""
        before = self.requests
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
            requests=self.requests - before,
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
            page = await self._call(mailbox.address, lambda: builder.get(request_configuration=config), what="delta")
        while True:
            if page is None:
                raise CalendarError("graph_empty_response", retryable=True)
            changes.extend(self._change(e) for e in (page.value or []))
            if page.odata_next_link:
                page = await self._call(
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

    # -- JSON batching ------------------------------------------------------------------------

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
            answers = await self._batch(items)
            delta = answers["delta"]
            if delta.error is not None:
                raise delta.error
            page = delta.parse(DeltaGetResponse)
            return page, answers["mailboxSettings"]

        return await self._call(mailbox.address, send, what="batch")

    async def _batch(self, items: Mapping[str, RequestInformation]) -> dict[str, BatchAnswer]:
        """One `POST /$batch` built with msgraph-core; each item asks for immutable ids and
        carries its own `client-request-id`, logged with the item's status. The answer is read
        as JSON here: msgraph-core's BatchResponseItem keeps only base64 bodies, and Graph
        answers JSON bodies as objects."""
        content = BatchRequestContent()
        ids: dict[str, str] = {}
        for item_id, information in items.items():
            ids[item_id] = str(uuid.uuid4())
            information.headers.add("client-request-id", ids[item_id])
            information.headers.add("Prefer", IMMUTABLE_IDS)
            item = BatchRequestItem(information, id=item_id)
            item.url = self._relative(information.url)
            content.add_request(item_id, item)
        adapter = self.client.request_adapter
        request = await BatchRequestBuilder(adapter).to_post_request_information(content)
        send: Any = adapter.send_primitive_async  # typed as returning None in kiota-abstractions
        raw = await send(request, "bytes", {"XXX": ODataError})
        try:
            responses = json.loads(raw or b"{}").get("responses") or []
        except ValueError as err:
            raise CalendarError("graph_bad_batch_response", retryable=True) from err
        answers = {str(r.get("id")): BatchAnswer.of(r) for r in responses if isinstance(r, dict)}
        for item_id in items:
            answer = answers.setdefault(item_id, BatchAnswer(status=0, headers={}, body=None))
            log.info(
                "graph %s answered %s in a batch, client-request-id %s",
                item_id,
                answer.status,
                ids[item_id],
                extra={
                    "event": "graph.batch_item",
                    "operation": item_id,
                    "status": answer.status,
                    "client_request_id": ids[item_id],
                },
            )
        return answers

    def _relative(self, url: str) -> str:
        """A batch item's URL, relative to the version root (`/users/…`), as Graph wants it."""
        base = self.options.base_url.rstrip("/")
        if url.startswith(base + "/"):
            return url[len(base) :]
        parsed = urlparse(url)  # a delta link from graph.microsoft.com while base_url differs
        path = parsed.path
        for version in ("/v1.0/", "/beta/"):
            if path.startswith(version):
                path = path[len(version) - 1 :]
        return path + (f"?{parsed.query}" if parsed.query else "")

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
            settings = await self._call(
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

    # -- change notifications ---------------------------------------------------------------

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
        created = await self._call(
            mailbox.address, lambda: self.client.subscriptions.post(subscription), what="subscription.create"
        )
        if created is None or not created.id:
            raise CalendarError("graph_empty_response", retryable=True)
        return created.id, created.expiration_date_time or expires

    async def renew(self, mailbox: Mailbox, subscription_id: str, now: datetime) -> datetime:
        expires = now + timedelta(minutes=SUBSCRIPTION_MINUTES - 15)
        item = self.client.subscriptions.by_subscription_id(subscription_id)
        renewed = await self._call(
            mailbox.address, lambda: item.patch(Subscription(expiration_date_time=expires)), what="subscription.renew"
        )
        return (renewed.expiration_date_time if renewed else None) or expires

    async def reauthorize(self, mailbox: Mailbox, subscription_id: str) -> None:
        """Answer a `reauthorizationRequired` lifecycle notification: delivery is paused until then."""
        item = self.client.subscriptions.by_subscription_id(subscription_id)
        await self._call(mailbox.address, lambda: item.reauthorize.post(), what="subscription.reauthorize")

    # -- Teams app installation -------------------------------------------------------------

    async def install_app(self, user_id: str) -> AppInstallation:
        catalog_id = self.options.teams_app_catalog_id
        if not catalog_id:
            return AppInstallation.NOT_AVAILABLE
        binding = f"{self.options.base_url.rstrip('/')}/appCatalogs/teamsApps/{catalog_id}"
        body = UserScopeTeamsAppInstallation(additional_data={"teamsApp@odata.bind": binding})
        installed_apps = self.client.users.by_user_id(user_id).teamwork.installed_apps
        try:
            await self._call(user_id, lambda: installed_apps.post(body), what="app.install")
        except CalendarError as err:
            if err.status == 409:  # Conflict: the app is installed for her already
                return AppInstallation.ALREADY_INSTALLED
            raise
        return AppInstallation.INSTALLED

    async def app_chat_id(self, user_id: str) -> str | None:
        catalog_id = self.options.teams_app_catalog_id
        if not catalog_id:
            return None
        installed_apps = self.client.users.by_user_id(user_id).teamwork.installed_apps
        query = InstalledAppsRequestBuilder.InstalledAppsRequestBuilderGetQueryParameters(
            expand=["teamsApp"], filter=f"teamsApp/id eq '{catalog_id}'"
        )
        found = await self._call(
            user_id,
            lambda: installed_apps.get(request_configuration=RequestConfiguration(query_parameters=query)),
            what="app.installation",
        )
        installation = next((i for i in (found.value or []) if i.id), None) if found else None
        if installation is None or installation.id is None:
            return None
        chat_of = installed_apps.by_user_scope_teams_app_installation_id(installation.id).chat
        chat = await self._call(user_id, lambda: chat_of.get(), what="app.chat")
        return chat.id if chat and chat.id else None

    # -- e-mail -----------------------------------------------------------------------------

    async def send_urgent_mail(self, recipient: str, *, open_url: str) -> None:
        sender = self.options.notification_mailbox
        if not sender:
            raise CalendarError("mail_not_available", retryable=False)
        if urlparse(open_url).scheme != "https":
            raise ValueError("the link to open Teams must be an https address")
        body = SendMailPostRequestBody(
            message=Message(
                subject=URGENT_MAIL_SUBJECT,
                body=ItemBody(content_type=BodyType.Text, content=URGENT_MAIL_BODY.format(open_url=open_url)),
                to_recipients=[Recipient(email_address=EmailAddress(address=recipient))],
            ),
            save_to_sent_items=False,
        )
        send_mail = self.client.users.by_user_id(sender).send_mail
        await self._call(sender, lambda: send_mail.post(body), what="mail.send")


@dataclass(frozen=True)
class BatchAnswer:
    """One item of a `$batch` answer: its status, headers and JSON body."""

    status: int
    headers: dict[str, str]
    body: object

    @classmethod
    def of(cls, response: Mapping[str, object]) -> BatchAnswer:
        status = response.get("status")
        headers = response.get("headers")
        return cls(
            status=status if isinstance(status, int) else 0,
            headers={str(k).lower(): str(v) for k, v in headers.items()} if isinstance(headers, dict) else {},
            body=response.get("body"),
        )

    @property
    def error(self) -> APIError | None:
        """The error the unbatched call would have raised (status, headers, OData error code)."""
        if 200 <= self.status < 300:
            return None
        error = JsonParseNode(self.body).get_object_value(ODataError) if isinstance(self.body, dict) else ODataError()
        error.response_status_code = self.status or 503  # no answer for the item: try again
        error.response_headers = self.headers
        return error

    def parse(self, factory: ParsableFactory[P]) -> P | None:
        if not isinstance(self.body, dict):
            return None
        return JsonParseNode(self.body).get_object_value(factory)


def aware(value: DateTimeTimeZone) -> datetime:
    """A Graph dateTimeTimeZone as an aware UTC datetime; an unknown zone raises `UnknownTimeZone`."""
    moment = datetime.fromisoformat((value.date_time or "")[:26])
    return moment.replace(tzinfo=zone_of(value.time_zone or "UTC")).astimezone(UTC)
