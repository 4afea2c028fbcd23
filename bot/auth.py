"""Bot Framework authentication that reuses connector clients across turns.

The stock `_ConnectorFactoryImpl` builds a new `ConnectorClient` (credentials, HTTP
session, configuration) on every turn and the adapter builds a user-token client too;
both are the bulk of a turn's cost. Clients are cached per (app id, service URL, audience).
"""

from __future__ import annotations

from typing import Any

from botbuilder.integration.aiohttp import ConfigurationBotFrameworkAuthentication
from botframework.connector.auth import (
    AuthenticateRequestResult,
    AuthenticationConstants,
    BotFrameworkAuthentication,
    CallerIdConstants,
    ClaimsIdentity,
    ConnectorFactory,
    UserTokenClient,
)

from bot.settings import Settings


class _Configuration:
    """The attribute names `ConfigurationBotFrameworkAuthentication` reads."""

    def __init__(self, settings: Settings) -> None:
        self.APP_ID = settings.app_id
        self.APP_PASSWORD = settings.app_password.get_secret_value()
        # Without credentials botbuilder's "MultiTenant" path is its auth-disabled mode (loopback only).
        self.APP_TYPE = settings.app_type if settings.has_credentials else "MultiTenant"
        self.APP_TENANTID = settings.app_tenant_id
        if settings.botframework_openid_metadata_url:
            # Any override switches botbuilder to its parameterised mode, where every other
            # value must be given too: the public cloud's, but for the token issuer's keys.
            self.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL = settings.botframework_openid_metadata_url
            self.TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL = settings.botframework_openid_metadata_url
            self.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER = AuthenticationConstants.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER
            self.TO_CHANNEL_FROM_BOT_LOGIN_URL = AuthenticationConstants.TO_CHANNEL_FROM_BOT_LOGIN_URL
            self.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE = AuthenticationConstants.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE
            self.OAUTH_URL = AuthenticationConstants.OAUTH_URL
            self.CALLER_ID = CallerIdConstants.public_azure_channel


class _CachingConnectorFactory(ConnectorFactory):  # type: ignore[misc]
    def __init__(self, inner: ConnectorFactory, cache: dict[tuple[Any, ...], Any], app_id: str) -> None:
        self._inner = inner
        self._cache = cache
        self._app_id = app_id

    async def create(self, service_url: str, audience: str | None = None) -> Any:
        key = (self._app_id, service_url, audience)
        client = self._cache.get(key)
        if client is None:
            client = await self._inner.create(service_url, audience)
            self._cache[key] = client
        return client


class ReusingAuthentication(BotFrameworkAuthentication):  # type: ignore[misc]
    def __init__(self, settings: Settings) -> None:
        self._inner = ConfigurationBotFrameworkAuthentication(_Configuration(settings))
        self._connectors: dict[tuple[Any, ...], Any] = {}
        self._token_clients: dict[str, UserTokenClient] = {}

    def _wrap(self, factory: ConnectorFactory | None, claims: ClaimsIdentity | None) -> ConnectorFactory | None:
        if factory is None:
            return None
        app_id = ""
        if claims is not None:
            app_id = claims.get_claim_value("aud") or claims.get_claim_value("appid") or ""
        return _CachingConnectorFactory(factory, self._connectors, app_id)

    async def authenticate_request(self, activity: Any, auth_header: str) -> AuthenticateRequestResult:
        result = await self._inner.authenticate_request(activity, auth_header)
        result.connector_factory = self._wrap(result.connector_factory, result.claims_identity)
        return result

    async def authenticate_streaming_request(self, auth_header: str, channel_id_header: str) -> Any:
        return await self._inner.authenticate_streaming_request(auth_header, channel_id_header)

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        return self._wrap(self._inner.create_connector_factory(claims_identity), claims_identity)

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> UserTokenClient:
        key = claims_identity.get_claim_value("aud") or ""
        client = self._token_clients.get(key)
        if client is None:
            client = await self._inner.create_user_token_client(claims_identity)
            self._token_clients[key] = client
        return client

    def create_bot_framework_client(self) -> Any:
        return self._inner.create_bot_framework_client()

    def get_originating_audience(self) -> str:
        return str(self._inner.get_originating_audience())

    async def authenticate_channel_request(self, auth_header: str) -> ClaimsIdentity:
        return await self._inner.authenticate_channel_request(auth_header)

    async def close(self) -> None:
        for client in self._connectors.values():
            await client.__aexit__(None, None, None)
        self._connectors.clear()
