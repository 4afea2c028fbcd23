"""The Microsoft Graph client: the real `msgraph-sdk` over httpx with azure-identity, retries,
request ids, concurrency per mailbox and JSON batching (`POST /$batch`).

Kiota's retry handler is left out: it reads `Retry-After` as a whole number (Graph sends
fractions such as 2.128) and retries inside the request where the outbox cannot see it.
Retries here honour `Retry-After`, then back off exponentially with jitter; writes that
still fail go back to the outbox, which retries them later with the same `transactionId`.

Every request asks for immutable ids (event ids then survive moves between folders) and
carries a fresh `client-request-id`, logged with the operation and the status (never a
mailbox, a user id or a body) so that Microsoft support can trace any call.
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
from kiota_abstractions.request_information import RequestInformation
from kiota_abstractions.serialization import Parsable, ParsableFactory
from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
from kiota_http.kiota_client_factory import KiotaClientFactory
from kiota_http.middleware import BaseMiddleware, RetryHandler
from kiota_serialization_json.json_parse_node import JsonParseNode
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph.graph_service_client import GraphServiceClient
from msgraph_core import GraphClientFactory
from msgraph_core.requests.batch_request_builder import BatchRequestBuilder
from msgraph_core.requests.batch_request_content import BatchRequestContent
from msgraph_core.requests.batch_request_item import BatchRequestItem

from booking.model import DayKind
from graph.credentials import CredentialKind, GraphCredential, graph_credential
from graph.provider import (
    CalendarError,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
P = TypeVar("P", bound=Parsable)
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
RETRYABLE = {429, 500, 502, 503, 504}
RESYNC_CODES = {"syncstatenotfound", "resyncrequired", "syncstateinvalid"}
IMMUTABLE_IDS = 'IdType="ImmutableId"'

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
    """What `configured` reads (bot.settings.Settings has it all)."""

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


def configured(settings: GraphSettings) -> tuple[GraphCredential, GraphOptions]:
    """The credential and the options the settings describe."""
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
    return credential, options


class GraphClient:
    """One Graph service client (one HTTP connection pool, one credential) and the plumbing every
    role shares: retries, concurrency per mailbox, request counting and timing, batches."""

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
        self.service = GraphServiceClient(request_adapter=adapter)
        self._http: httpx.AsyncClient = http
        self._gates: dict[str, asyncio.Semaphore] = {}
        self.requests = 0  # calls made, for figures
        # Called with (operation, seconds) after each Graph call, for the latency histogram.
        self.observe_request: Callable[[str, float], None] | None = None

    async def close(self) -> None:
        await self._http.aclose()
        await self.credential.close()

    async def check(self) -> None:
        """Readiness: a Graph token can be obtained."""
        await self.credential.get_token(GRAPH_SCOPE)

    def gate(self, key: str) -> asyncio.Semaphore:
        return self._gates.setdefault(key.lower(), asyncio.Semaphore(self.options.concurrency))

    async def call(
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
                async with self.gate(key):
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

    async def batch(self, items: Mapping[str, RequestInformation]) -> dict[str, BatchAnswer]:
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
            item.url = self.relative(information.url)
            content.add_request(item_id, item)
        adapter = self.service.request_adapter
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

    def relative(self, url: str) -> str:
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


class GraphRole:
    """One role of the Microsoft side (delta sync, reach…) on a shared `GraphClient`."""

    def __init__(self, graph: GraphClient) -> None:
        self.graph = graph

    @property
    def options(self) -> GraphOptions:
        return self.graph.options

    @property
    def client(self) -> GraphServiceClient:
        return self.graph.service


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
