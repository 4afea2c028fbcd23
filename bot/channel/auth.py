"""Bot Framework authentication: botbuilder's for incoming requests, our connector for outgoing calls.

The stock `_ConnectorFactoryImpl` builds a new `ConnectorClient` (credentials, msrest and a
`requests` session run in threads) on every turn, and the adapter builds a user-token client
too; both are the bulk of a turn's cost. Outgoing calls go through `bot.channel.connector` instead (one
shared asynchronous session, nothing kept per service URL); user-token clients are cached per
audience, in a small bounded cache.
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

from bot.channel.connector import ChannelConnector, ChannelConnectorFactory
from bot.runtime import StartupError
from bot.settings import Settings

MAX_TOKEN_CLIENTS = 8  # one audience (our app id) in practice; a bound all the same


def check_authentication(settings: Settings) -> None:
    """Refuse a configuration that would weaken who may call the bot: credentials without the
    tenant (the tenant check would be skipped), and the test-only OpenID metadata override
    (tokens from another issuer) outside an explicit test mode, itself refused off loopback."""
    if settings.has_credentials and not settings.app_tenant_id:
        raise StartupError(
            "MicrosoftAppTenantId is required with Bot Framework credentials (MicrosoftAppId): without it "
            "activities of any tenant would be served. Set it to the Entra tenant id of the organisation."
        )
    if settings.botframework_openid_metadata_url and not settings.test_mode:
        raise StartupError(
            "PERMANENCE_BOTFRAMEWORK_OPENID_METADATA_URL is for tests only (it makes the bot trust another "
            "token issuer): remove it. Tests set PERMANENCE_TEST_MODE=true as well; production never does."
        )
    if settings.test_mode and not settings.host_is_loopback():
        raise StartupError(
            f"PERMANENCE_TEST_MODE is refused on {settings.host}: test mode is for tests on a loopback address "
            "only, never in production."
        )


class _Configuration:
    """The attribute names `ConfigurationBotFrameworkAuthentication` reads."""

    def __init__(self, settings: Settings) -> None:
        check_authentication(settings)
        self.APP_ID = settings.app_id
        self.APP_PASSWORD = settings.app_password.get_secret_value()
        # Without credentials botbuilder's "MultiTenant" path is its auth-disabled mode (loopback only).
        self.APP_TYPE = settings.app_type if settings.has_credentials else "MultiTenant"
        self.APP_TENANTID = settings.app_tenant_id
        if settings.botframework_openid_metadata_url and settings.test_mode:
            # Any override switches botbuilder to its parameterised mode, where every other
            # value must be given too: the public cloud's, but for the token issuer's keys.
            self.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL = settings.botframework_openid_metadata_url
            self.TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL = settings.botframework_openid_metadata_url
            self.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER = AuthenticationConstants.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER
            self.TO_CHANNEL_FROM_BOT_LOGIN_URL = AuthenticationConstants.TO_CHANNEL_FROM_BOT_LOGIN_URL
            self.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE = AuthenticationConstants.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE
            self.OAUTH_URL = AuthenticationConstants.OAUTH_URL
            self.CALLER_ID = CallerIdConstants.public_azure_channel


class ReusingAuthentication(BotFrameworkAuthentication):  # type: ignore[misc]
    def __init__(self, settings: Settings, connector: ChannelConnector) -> None:
        self._inner = ConfigurationBotFrameworkAuthentication(_Configuration(settings))
        self._factory = ChannelConnectorFactory(connector)
        self._token_clients: dict[str, UserTokenClient] = {}

    def _wrap(self, factory: ConnectorFactory | None, claims: ClaimsIdentity | None) -> ConnectorFactory | None:
        # botbuilder gives no factory when a request is refused; otherwise ours replaces its own.
        return None if factory is None else self._factory

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
            if len(self._token_clients) >= MAX_TOKEN_CLIENTS:
                self._token_clients.clear()
            self._token_clients[key] = client
        return client

    def create_bot_framework_client(self) -> Any:
        return self._inner.create_bot_framework_client()

    def get_originating_audience(self) -> str:
        return str(self._inner.get_originating_audience())

    async def authenticate_channel_request(self, auth_header: str) -> ClaimsIdentity:
        return await self._inner.authenticate_channel_request(auth_header)

    def cached_token_clients(self) -> int:
        return len(self._token_clients)
