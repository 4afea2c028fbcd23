"""Outlook through Microsoft Graph with the real `msgraph-sdk` and app-only MSAL credentials.

Kiota's retry handler is left out: it reads `Retry-After` as a whole number (Graph sends
fractions such as 2.128) and retries inside the request where the outbox cannot see it.
Retries here honour `Retry-After`, then back off exponentially with jitter; writes that
still fail go back to the outbox, which retries them later with the same `transactionId`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import urlparse

import httpx
import msal
from azure.core.credentials import AccessToken
from kiota_abstractions.api_error import APIError
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
from kiota_http.kiota_client_factory import KiotaClientFactory
from kiota_http.middleware import RetryHandler
from msal.authority import WELL_KNOWN_AUTHORITY_HOSTS
from msgraph import GraphServiceClient
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
from msgraph.generated.models.online_meeting_provider_type import OnlineMeetingProviderType
from msgraph.generated.models.sensitivity import Sensitivity
from msgraph.generated.models.subscription import Subscription
from msgraph.generated.users.item.calendar_view.delta.delta_request_builder import DeltaRequestBuilder
from msgraph.generated.users.item.events.item.cancel.cancel_post_request_body import CancelPostRequestBody
from msgraph_core import GraphClientFactory

from booking.absence import Absence, AbsenceSource
from booking.model import DayKind, Interval
from graph.provider import (
    CalendarChange,
    CalendarError,
    ChangeKind,
    EventDraft,
    Mailbox,
    SyncCursor,
    SyncResult,
    WrittenEvent,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
RETRYABLE = {429, 500, 502, 503, 504}
RESYNC_CODES = {"syncstatenotfound", "resyncrequired", "syncstateinvalid"}
SUBSCRIPTION_MINUTES = 4230  # Outlook resources without resource data: under three days


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


class MsalCredential:
    """An async token credential (azure-core protocol) on MSAL's confidential client.

    MSAL does blocking HTTP, so every call runs in a thread; MSAL caches the token in memory.
    """

    def __init__(
        self,
        *,
        tenant_id: str,
        client_id: str,
        authority_host: str,
        secret: str = "",
        certificate_pem: str = "",
        certificate_thumbprint: str = "",
    ) -> None:
        if secret:
            credential: Any = secret
        elif certificate_pem and certificate_thumbprint:
            credential = {"private_key": certificate_pem, "thumbprint": certificate_thumbprint}
        else:
            raise ValueError("a client secret or a certificate (PEM and thumbprint) is required")
        host = urlparse(authority_host).hostname or ""
        self._args = {
            "client_id": client_id,
            "client_credential": credential,
            "authority": f"{authority_host.rstrip('/')}/{tenant_id}",
            # Instance discovery asks login.microsoftonline.com about unknown hosts: only
            # Microsoft's own authority hosts are validated that way.
            "instance_discovery": host in WELL_KNOWN_AUTHORITY_HOSTS,
        }
        self._app: msal.ConfidentialClientApplication | None = None
        self._lock = asyncio.Lock()

    def _acquire(self, scopes: tuple[str, ...]) -> dict[str, Any]:
        if self._app is None:
            self._app = msal.ConfidentialClientApplication(**self._args)
        result: dict[str, Any] = self._app.acquire_token_for_client(scopes=list(scopes))
        return result

    async def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        async with self._lock:
            try:
                result = await asyncio.to_thread(self._acquire, scopes)
            except (ValueError, OSError) as err:  # discovery failed, network down
                raise CalendarError("token_unavailable", retryable=True) from err
        if "access_token" not in result:
            raise CalendarError(f"token_{result.get('error', 'unknown')}", retryable=True)
        return AccessToken(result["access_token"], int(time.time()) + int(result.get("expires_in", 3600)))

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> MsalCredential:
        return self

    async def __aexit__(self, *_: object) -> None:
        return None


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
    replies_every: timedelta = timedelta(minutes=15)
    page_size: int = 50
    concurrency: int = 4  # Outlook allows four concurrent requests per app and mailbox
    attempts: int = 4
    timeout: float = 20.0
    max_wait: float = 30.0  # longer Retry-After values go back to the caller


class MicrosoftCalendar:
    name = "microsoft"

    def __init__(
        self, credential: Any, options: GraphOptions, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.options = options
        self.credential = credential
        host = urlparse(options.base_url).hostname or "graph.microsoft.com"
        auth = AzureIdentityAuthenticationProvider(credential, scopes=[GRAPH_SCOPE], allowed_hosts=[host])
        middleware = [m for m in KiotaClientFactory.get_default_middleware(None) if not isinstance(m, RetryHandler)]
        http = httpx.AsyncClient(timeout=options.timeout, transport=transport)
        http = GraphClientFactory.create_with_custom_middleware(middleware=middleware, client=http)
        from msgraph.graph_request_adapter import GraphRequestAdapter

        adapter = GraphRequestAdapter(auth, http)
        adapter.base_url = options.base_url.rstrip("/")
        self.client = GraphServiceClient(request_adapter=adapter)
        self._http = http
        self._gates: dict[str, asyncio.Semaphore] = {}
        self.requests = 0  # calls made, for figures
        # Called with (operation, seconds) after each Graph call, for the latency histogram.
        self.observe_request: Callable[[str, float], None] | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> MicrosoftCalendar:
        credential = MsalCredential(
            tenant_id=settings.app_tenant_id,
            client_id=settings.graph_client_id or settings.app_id,
            authority_host=settings.authority_host,
            secret=(settings.graph_client_secret.get_secret_value() or settings.app_password.get_secret_value()),
            certificate_pem=settings.graph_certificate_pem(),
            certificate_thumbprint=settings.graph_certificate_thumbprint,
        )
        return cls(credential, GraphOptions(base_url=settings.graph_base_url))

    async def close(self) -> None:
        await self._http.aclose()

    async def check(self) -> None:
        """Readiness: a Graph token can be obtained."""
        await self.credential.get_token(GRAPH_SCOPE)

    # -- plumbing ---------------------------------------------------------------------------

    def _gate(self, mailbox: Mailbox) -> asyncio.Semaphore:
        return self._gates.setdefault(mailbox.address.lower(), asyncio.Semaphore(self.options.concurrency))

    async def _call(self, mailbox: Mailbox, operation: Callable[[], Awaitable[T]], *, what: str) -> T:
        for attempt in range(1, self.options.attempts + 1):
            retry_after: float | None = None
            try:
                async with self._gate(mailbox):
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
                    raise CalendarError("not_found", retryable=False) from err
                if status == 410 or code in RESYNC_CODES:
                    raise CalendarError("resync", retryable=True) from err
                if status not in RETRYABLE:
                    raise CalendarError(f"graph_{status}_{code}"[:60], retryable=False) from err
                error: CalendarError = CalendarError(f"graph_{status}", retryable=True, retry_after=retry_after)
            except httpx.TransportError as err:  # dropped connection, timeout
                error = CalendarError("graph_network", retryable=True)
                error.__cause__ = err
            log.warning(
                "graph %s failed (%s), attempt %s",
                what,
                error.code,
                attempt,
                extra={"event": "graph.retry", "code": error.code},
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
            location=Location(display_name=draft.location),
            body=ItemBody(content_type=BodyType.Text, content=draft.body),
        )
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
            mailbox, lambda: user.events.post(self._event(draft, create=True)), what="event.create"
        )
        if created is None or not created.id:
            raise CalendarError("graph_empty_response", retryable=True)
        return WrittenEvent(event_id=created.id, join_url=self._join_url(created))

    async def update_event(self, mailbox: Mailbox, event_id: str, draft: EventDraft) -> WrittenEvent:
        item = self.client.users.by_user_id(mailbox.address).events.by_event_id(event_id)
        updated = await self._call(mailbox, lambda: item.patch(self._event(draft, create=False)), what="event.update")
        return WrittenEvent(event_id=event_id, join_url=self._join_url(updated))

    async def cancel_event(self, mailbox: Mailbox, event_id: str, comment: str) -> None:
        item = self.client.users.by_user_id(mailbox.address).events.by_event_id(event_id)
        try:
            await self._call(
                mailbox, lambda: item.cancel.post(CancelPostRequestBody(comment=comment)), what="event.cancel"
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
            start = datetime.fromisoformat(event.start.date_time[:26]).replace(tzinfo=UTC)
            end = datetime.fromisoformat(event.end.date_time[:26]).replace(tzinfo=UTC)
            if end > start:
                interval = Interval(start=start, end=end)
        show_as = (event.show_as.value if event.show_as else "busy").lower()
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
        """One delta round: a full listing the first time (or after 410), then only changes."""
        before = self.requests
        full = cursor.delta_link is None or cursor.window_end is None or cursor.window_end < now + timedelta(days=30)
        if full:
            cursor.delta_link = None
            cursor.window_start = now - self.options.window_back
            cursor.window_end = now + self.options.window_ahead
        try:
            changes = await self._delta(mailbox, cursor)
        except CalendarError as err:
            if err.code != "resync":
                raise
            log.info("graph delta token expired: full resync", extra={"event": "graph.resync"})
            cursor.delta_link = None
            cursor.window_start, cursor.window_end = now - self.options.window_back, now + self.options.window_ahead
            changes = await self._delta(mailbox, cursor)
            full = True
        absences: tuple[Absence, ...] | None = None
        checked = cursor.extra.get("replies_checked_at")
        if full or checked is None or datetime.fromisoformat(checked) + self.options.replies_every <= now:
            absences = await self._automatic_replies(mailbox)
            cursor.extra["replies_checked_at"] = now.isoformat()
        return SyncResult(changes=tuple(changes), absences=absences, full=full, requests=self.requests - before)

    async def _delta(self, mailbox: Mailbox, cursor: SyncCursor) -> list[CalendarChange]:
        delta = self.client.users.by_user_id(mailbox.address).calendar_view.delta
        headers = {"Prefer": [f"odata.maxpagesize={self.options.page_size}", 'outlook.timezone="UTC"']}
        changes: list[CalendarChange] = []
        if cursor.delta_link:
            link = cursor.delta_link
            page = await self._call(
                mailbox,
                lambda: delta.with_url(link).get(request_configuration=RequestConfiguration(headers=headers)),
                what="delta",
            )
        else:
            assert cursor.window_start is not None and cursor.window_end is not None
            query = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(
                start_date_time=cursor.window_start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                end_date_time=cursor.window_end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            )
            page = await self._call(
                mailbox,
                lambda: delta.get(request_configuration=RequestConfiguration(headers=headers, query_parameters=query)),
                what="delta",
            )
        while True:
            if page is None:
                raise CalendarError("graph_empty_response", retryable=True)
            changes.extend(self._change(e) for e in (page.value or []))
            if page.odata_next_link:
                link = page.odata_next_link
                page = await self._call(
                    mailbox,
                    lambda link=link: delta.with_url(link).get(  # type: ignore[misc]
                        request_configuration=RequestConfiguration(headers=headers)
                    ),
                    what="delta",
                )
                continue
            cursor.delta_link = page.odata_delta_link or (page.additional_data or {}).get("@odata.deltaLink")
            return changes

    async def _automatic_replies(self, mailbox: Mailbox) -> tuple[Absence, ...]:
        settings = await self._call(
            mailbox,
            lambda: self.client.users.by_user_id(mailbox.address).mailbox_settings.get(),
            what="mailboxSettings",
        )
        replies = settings.automatic_replies_setting if settings else None
        if replies is None:
            return ()
        status = (
            replies.status.value.lower()
            if isinstance(replies.status, AutomaticRepliesStatus)
            else str((replies.additional_data or {}).get("status", "")).lower()
        )
        if status != "scheduled":  # "alwaysEnabled" has no end: no period to plan around
            return ()
        start, end = replies.scheduled_start_date_time, replies.scheduled_end_date_time
        if not (start and end and start.date_time and end.date_time):
            return ()
        first = _aware(start)
        last = _aware(end)
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
            mailbox, lambda: self.client.subscriptions.post(subscription), what="subscription.create"
        )
        if created is None or not created.id:
            raise CalendarError("graph_empty_response", retryable=True)
        return created.id, created.expiration_date_time or expires

    async def renew(self, mailbox: Mailbox, subscription_id: str, now: datetime) -> datetime:
        expires = now + timedelta(minutes=SUBSCRIPTION_MINUTES - 15)
        item = self.client.subscriptions.by_subscription_id(subscription_id)
        renewed = await self._call(
            mailbox, lambda: item.patch(Subscription(expiration_date_time=expires)), what="subscription.renew"
        )
        return (renewed.expiration_date_time if renewed else None) or expires


_WINDOWS_ZONES = {"utc": "UTC", "romance standard time": "Europe/Paris", "pacific standard time": "America/Los_Angeles"}


def _aware(value: DateTimeTimeZone) -> datetime:
    """A Graph dateTimeTimeZone as an aware datetime (UTC and the zones Outlook names here)."""
    from zoneinfo import ZoneInfo

    moment = datetime.fromisoformat((value.date_time or "")[:26])
    zone = _WINDOWS_ZONES.get((value.time_zone or "UTC").lower(), value.time_zone or "UTC")
    try:
        return moment.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
    except (KeyError, ValueError):
        return moment.replace(tzinfo=UTC)
