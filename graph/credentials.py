"""Microsoft Graph credentials: azure-identity's async credentials, chosen by a setting.

`secret` and `certificate` are app-only client credentials against Entra ID at a
configurable authority host (the tests use a local issuer); `managed_identity` needs no
secret at all (Azure App Service, Container Apps, VMs). Token errors become the product's
own `CalendarError`, so callers see one kind of failure whatever the credential.
"""

from __future__ import annotations

import enum
from types import TracebackType
from typing import Any

from azure.core.credentials import AccessToken
from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import AzureError, ClientAuthenticationError
from azure.identity.aio import CertificateCredential, ClientSecretCredential, ManagedIdentityCredential

from graph.provider import CalendarError


class CredentialKind(enum.StrEnum):
    SECRET = "secret"  # noqa: S105 (the kind of credential, not a secret)
    CERTIFICATE = "certificate"
    MANAGED_IDENTITY = "managed_identity"


class GraphCredential(AsyncTokenCredential):
    """An azure-identity async credential whose failures are `CalendarError`s (codes safe to log)."""

    def __init__(self, inner: AsyncTokenCredential, kind: CredentialKind) -> None:
        self._inner = inner
        self.kind = kind

    async def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        try:
            return await self._inner.get_token(
                *scopes, claims=claims, tenant_id=tenant_id, enable_cae=enable_cae, **kwargs
            )
        except ClientAuthenticationError as err:  # refused by Entra, or no identity available
            raise CalendarError(f"token_refused_{self.kind.value}", retryable=True) from err
        except AzureError as err:  # network, timeouts
            raise CalendarError("token_unavailable", retryable=True) from err

    async def close(self) -> None:
        await self._inner.close()

    async def __aenter__(self) -> GraphCredential:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.close()


def graph_credential(
    kind: CredentialKind,
    *,
    tenant_id: str,
    client_id: str,
    authority_host: str,
    secret: str = "",
    certificate_pem: bytes = b"",
    managed_identity_client_id: str = "",
    ca_bundle: str | None = None,
) -> GraphCredential:
    """The credential for `kind`; a missing secret or certificate is a configuration error.

    `ca_bundle` is a PEM file of the authorities to trust for token requests (a proxy that
    inspects TLS, or the local issuer of the tests); by default the system's."""
    authority = authority_host.rstrip("/")
    transport: dict[str, Any] = {"connection_verify": ca_bundle} if ca_bundle else {}
    inner: AsyncTokenCredential
    if kind is CredentialKind.SECRET:
        if not (tenant_id and client_id and secret):
            raise ValueError("a client secret credential needs the tenant id, the client id and the secret")
        inner = ClientSecretCredential(tenant_id, client_id, secret, authority=authority, **transport)
    elif kind is CredentialKind.CERTIFICATE:
        if not (tenant_id and client_id and certificate_pem):
            raise ValueError("a certificate credential needs the tenant id, the client id and the PEM file")
        inner = CertificateCredential(
            tenant_id, client_id, certificate_data=certificate_pem, authority=authority, **transport
        )
    else:
        # A user-assigned identity is named by its client id; without it, the system-assigned one.
        inner = ManagedIdentityCredential(client_id=managed_identity_client_id or None, **transport)
    return GraphCredential(inner, kind)
