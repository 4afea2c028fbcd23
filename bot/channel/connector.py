"""The bot's outgoing calls to the Bot Connector service, asynchronous, on one shared HTTP session.

botbuilder's own connector clients run msrest and `requests` in the default thread pool, with
retries: a channel endpoint that does not answer then holds threads for seconds and delays
everybody's turns. Here every reply, card update and proactive message goes through one
`aiohttp.ClientSession` (keep-alive, bounded pool, connect and total timeouts on each call),
with the Bot Framework app token acquired asynchronously (azure-identity) and cached.

As in botbuilder, the service URL is the one of the authenticated activity (its JWT's
`serviceurl` claim is checked on the way in) or of a stored conversation reference; the token
goes only to https service URLs, or to loopback ones (the Emulator, tests), never in clear text
elsewhere. Nothing is kept per service URL: a client is a few references, made per turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
from azure.core.credentials import AccessToken
from azure.core.pipeline.transport import AioHttpTransport
from azure.identity.aio import ClientSecretCredential
from botbuilder.schema import (
    Activity,
    ChannelAccount,
    ConversationParameters,
    ConversationResourceResponse,
    ResourceResponse,
)
from botframework.connector.auth import AuthenticationConstants, ConnectorFactory
from yarl import URL

from bot.channel.wire import from_json, to_json
from bot.settings import Settings

log = logging.getLogger(__name__)

USER_AGENT = "Permanence (botbuilder-compatible connector)"
REFRESH_MARGIN = 300  # seconds before expiry when a cached token is renewed


class ChannelError(Exception):
    """A call to the channel failed; the text holds the operation and a status, never ids or URLs."""

    def __init__(self, operation: str, status: int | None, reason: str = "") -> None:
        super().__init__(f"{operation}: {status if status is not None else reason}")
        self.operation = operation
        self.status = status


@dataclass(frozen=True, kw_only=True)
class ChannelOptions:
    connect_timeout: float = 3.0
    total_timeout: float = 10.0
    pool_size: int = 256  # connections in all
    per_host: int = 32  # so that one dead endpoint cannot take the whole pool
    keepalive: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> ChannelOptions:
        return cls(
            connect_timeout=settings.channel_connect_timeout_seconds,
            total_timeout=settings.channel_timeout_seconds,
        )


def _may_carry_token(service_url: str) -> bool:
    parts = urlsplit(service_url)
    if parts.scheme == "https":
        return True
    host = parts.hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class AppToken:
    """The bot's own token for the channel (client credentials), cached until near its expiry."""

    def __init__(self, credential: Any) -> None:
        self._credential = credential
        self._tokens: dict[str, AccessToken] = {}  # per scope: one or two in practice
        self._lock = asyncio.Lock()

    async def get(self, audience: str) -> str:
        scope = audience.rstrip("/") + "/.default"
        token = self._tokens.get(scope)
        if token is not None and token.expires_on - REFRESH_MARGIN > time.time():
            return token.token
        async with self._lock:
            token = self._tokens.get(scope)
            if token is None or token.expires_on - REFRESH_MARGIN <= time.time():
                token = await self._credential.get_token(scope)
                if len(self._tokens) >= 8:  # audiences are few; never grow without bound
                    self._tokens.clear()
                self._tokens[scope] = token
        return token.token

    async def close(self) -> None:
        await self._credential.close()


class ChannelConnector:
    """One shared session for every outgoing call; `client()` hands botbuilder what it expects."""

    def __init__(self, session: aiohttp.ClientSession, token: AppToken | None, options: ChannelOptions) -> None:
        self.session = session
        self.token = token
        self.options = options
        self.timeout = aiohttp.ClientTimeout(total=options.total_timeout, connect=options.connect_timeout)

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, settings: Settings, options: ChannelOptions | None = None) -> AsyncIterator[ChannelConnector]:
        options = options or ChannelOptions.from_settings(settings)
        # Made here rather than at import (aiohttp's default): SSL_CERT_FILE then applies, as with httpx.
        tls = await asyncio.to_thread(ssl.create_default_context)
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                ssl=tls, limit=options.pool_size, limit_per_host=options.per_host, keepalive_timeout=options.keepalive
            ),
            timeout=aiohttp.ClientTimeout(total=options.total_timeout, connect=options.connect_timeout),
            headers={"User-Agent": USER_AGENT},
        )
        token = None
        if settings.has_credentials:
            multi = settings.app_type.lower() == "multitenant"
            credential = ClientSecretCredential(
                AuthenticationConstants.DEFAULT_CHANNEL_AUTH_TENANT if multi else settings.app_tenant_id,
                settings.app_id,
                settings.app_password.get_secret_value(),
                authority=settings.authority_host,
                transport=AioHttpTransport(
                    session=session,
                    session_owner=False,
                    connection_timeout=options.connect_timeout,
                    read_timeout=options.total_timeout,
                ),
            )
            token = AppToken(credential)
        try:
            yield cls(session, token, options)
        finally:
            if token is not None:
                await token.close()
            await session.close()

    def client(self, service_url: str, audience: str | None = None) -> ChannelClient:
        return ChannelClient(self, service_url, audience or AuthenticationConstants.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE)

    async def call(
        self, operation: str, method: str, service_url: str, audience: str, path: str, body: Any = None
    ) -> Any:
        if not isinstance(service_url, str) or not service_url.startswith(("https://", "http://")):
            raise ChannelError(operation, None, "no_service_url")
        headers = {"Accept": "application/json"}
        if self.token is not None and _may_carry_token(service_url):
            try:
                async with asyncio.timeout(self.options.total_timeout):
                    headers["Authorization"] = f"Bearer {await self.token.get(audience)}"
            except Exception as err:
                raise ChannelError(operation, None, f"token:{type(err).__name__}") from err
        # Ids are percent-encoded here (";messageid=" in channel ids): yarl must not decode them back.
        url = URL(service_url.rstrip("/") + path, encoded=True)
        try:
            async with self.session.request(
                method, url, json=body, headers=headers, timeout=self.timeout, allow_redirects=False
            ) as response:
                if response.status not in (200, 201, 202, 204):
                    await response.release()
                    raise ChannelError(operation, response.status)
                if response.status == 204 or response.content_length == 0:
                    return None
                try:
                    return await response.json(content_type=None)
                except ValueError:
                    return None
        except TimeoutError as err:
            raise ChannelError(operation, None, "timeout") from err
        except aiohttp.ClientError as err:
            raise ChannelError(operation, None, type(err).__name__) from err


def _segment(value: str) -> str:
    return quote(value, safe="")


class Conversations:
    """The `ConnectorClient.conversations` operations botbuilder and TeamsInfo use."""

    def __init__(self, connector: ChannelConnector, service_url: str, audience: str) -> None:
        self._connector = connector
        self._service_url = service_url
        self._audience = audience

    async def _call(self, operation: str, method: str, path: str, body: Any = None) -> Any:
        return await self._connector.call(operation, method, self._service_url, self._audience, path, body)

    async def send_to_conversation(self, conversation_id: str, activity: Activity, **_: Any) -> ResourceResponse:
        data = await self._call(
            "send", "POST", f"/v3/conversations/{_segment(conversation_id)}/activities", to_json(activity)
        )
        return from_json(ResourceResponse, data or {})

    async def reply_to_activity(
        self, conversation_id: str, activity_id: str, activity: Activity, **_: Any
    ) -> ResourceResponse:
        path = f"/v3/conversations/{_segment(conversation_id)}/activities/{_segment(activity_id)}"
        data = await self._call("reply", "POST", path, to_json(activity))
        return from_json(ResourceResponse, data or {})

    async def update_activity(
        self, conversation_id: str, activity_id: str, activity: Activity, **_: Any
    ) -> ResourceResponse:
        path = f"/v3/conversations/{_segment(conversation_id)}/activities/{_segment(activity_id)}"
        data = await self._call("update", "PUT", path, to_json(activity))
        return from_json(ResourceResponse, data or {})

    async def delete_activity(self, conversation_id: str, activity_id: str, **_: Any) -> None:
        path = f"/v3/conversations/{_segment(conversation_id)}/activities/{_segment(activity_id)}"
        await self._call("delete", "DELETE", path)

    async def get_conversation_member(self, conversation_id: str, member_id: str, **_: Any) -> ChannelAccount:
        path = f"/v3/conversations/{_segment(conversation_id)}/members/{_segment(member_id)}"
        return from_json(ChannelAccount, await self._call("member", "GET", path) or {})

    async def get_conversation_members(self, conversation_id: str, **_: Any) -> list[ChannelAccount]:
        data = await self._call("members", "GET", f"/v3/conversations/{_segment(conversation_id)}/members")
        return [from_json(ChannelAccount, item) for item in data or [] if isinstance(item, dict)]

    async def create_conversation(self, parameters: ConversationParameters, **_: Any) -> ConversationResourceResponse:
        data = await self._call("create", "POST", "/v3/conversations", to_json(parameters))
        return from_json(ConversationResourceResponse, data or {})


class ChannelClient:
    """Stands where botbuilder puts its `ConnectorClient` in the turn state."""

    def __init__(self, connector: ChannelConnector, service_url: str, audience: str) -> None:
        self.conversations = Conversations(connector, service_url, audience)

    async def close(self) -> None:
        return None


class ChannelConnectorFactory(ConnectorFactory):  # type: ignore[misc]
    def __init__(self, connector: ChannelConnector) -> None:
        self._connector = connector

    async def create(self, service_url: str, audience: str | None = None) -> ChannelClient:
        return self._connector.client(service_url, audience)
