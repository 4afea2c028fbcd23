"""A local Microsoft Graph (with an Entra token endpoint and a managed-identity endpoint)
for the real msgraph-sdk and azure-identity.

It serves TLS with a certificate made for the test (azure-identity accepts only https
authorities), answers with payloads shaped like ../shared/graph-examples (Microsoft's
documentation), records every request, refuses Graph calls without the headers the
product promises (a `client-request-id` and `Prefer: IdType="ImmutableId"`), and injects
faults on demand: 429 with a fractional Retry-After, 503, dropped connections, an expired
delta token (410), a 400 on sendMail.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import ipaddress
import itertools
import json
import random
import ssl
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "graph-examples"


def example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    return data


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost: (certificate, key) files."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Local Graph for tests")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "graph.pem", directory / "graph.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: Mapping[str, str]  # case-insensitive for batch items, as HTTP headers are
    body: Any


@dataclass
class StoredEvent:
    data: dict[str, Any]
    version: int
    removed: bool = False


@dataclass
class FakeGraph:
    tenant: str = "11111111-2222-3333-4444-555555555555"
    port: int = 0
    requests: list[Recorded] = field(default_factory=list)
    events: dict[str, dict[str, StoredEvent]] = field(default_factory=dict)  # mailbox -> id -> event
    mailbox_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    failure_rate: float = 0.0
    planned: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path part, fault)
    expire_delta_tokens: bool = False
    tokens_issued: int = 0
    ca_bundle: str = ""  # the PEM file clients must trust to reach this server
    client_certificate: bytes = b""  # PEM certificate whose key signs client assertions
    identity_header: str = ""  # the managed identity endpoint's shared secret (App Service)
    installed_apps: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # user -> id -> item
    mails: list[dict[str, Any]] = field(default_factory=list)  # (sender, message) of accepted sendMail
    reauthorized: list[str] = field(default_factory=list)
    catalog: set[str] = field(default_factory=set)  # catalog ids of apps published in the tenant
    page_size_seen: list[str] = field(default_factory=list)
    batched: list[Recorded] = field(default_factory=list)  # the items of `$batch` requests
    calls: list[Recorded] = field(default_factory=list)  # Graph operations: requests and batch items, in order
    # Mailboxes an application access policy leaves out: every /users/{mailbox}/… call is a 403.
    forbidden: set[str] = field(default_factory=set)
    _planned_fault: str | None = None
    _app: web.Application | None = None
    _version: itertools.count = field(default_factory=lambda: itertools.count(1))  # type: ignore[type-arg]
    _random: random.Random = field(default_factory=lambda: random.Random(7))

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    # -- the worker editing her Outlook ------------------------------------------------------

    def add_event(
        self,
        mailbox: str,
        *,
        subject: str,
        start: dt.datetime,
        end: dt.datetime,
        show_as: str = "busy",
        categories: list[str] | None = None,
    ) -> str:
        template = copy.deepcopy(example("calendarView-delta.response.1.json")["value"][0])
        event_id = f"AAMk{uuid.uuid4().hex}="
        template.update(
            id=event_id,
            subject=subject,
            showAs=show_as,
            categories=categories or [],
            isCancelled=False,
            start={"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"},
            end={"dateTime": end.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"},
        )
        self.events.setdefault(mailbox.lower(), {})[event_id] = StoredEvent(template, next(self._version))
        return event_id

    def move_event(self, mailbox: str, event_id: str, start: dt.datetime, end: dt.datetime) -> None:
        stored = self.events[mailbox.lower()][event_id]
        stored.data["start"] = {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"}
        stored.data["end"] = {"dateTime": end.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"}
        stored.version = next(self._version)

    def delete_event(self, mailbox: str, event_id: str) -> None:
        stored = self.events[mailbox.lower()][event_id]
        stored.removed, stored.version = True, next(self._version)

    def live_events(self, mailbox: str) -> list[dict[str, Any]]:
        return [e.data for e in self.events.get(mailbox.lower(), {}).values() if not e.removed]

    def graph_requests(self, method: str | None = None, part: str = "") -> list[Recorded]:
        return [
            r for r in self.requests if "/v1.0/" in r.path and (method is None or r.method == method) and part in r.path
        ]

    def graph_calls(self, method: str | None = None, part: str = "") -> list[Recorded]:
        """Graph operations whether sent alone or inside a `$batch` (`graph_requests` counts HTTP requests)."""
        return [r for r in self.calls if (method is None or r.method == method) and part in r.path]

    # -- the server -------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._record])
        app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", self.openid)
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self.token)
        app.router.add_post("/v1.0/users/{user}/events", self.create_event)
        app.router.add_patch("/v1.0/users/{user}/events/{id}", self.update_event)
        app.router.add_post("/v1.0/users/{user}/events/{id}/cancel", self.cancel_event)
        app.router.add_get("/v1.0/users/{user}/calendarView/delta", self.delta)
        app.router.add_get("/v1.0/users/{user}/calendarView/delta()", self.delta)  # the SDK's OData form
        app.router.add_get("/v1.0/users/{user}/mailboxSettings", self.get_mailbox_settings)
        app.router.add_get("/v1.0/users/{user}/calendarView", self.calendar_view)
        app.router.add_post("/v1.0/subscriptions", self.create_subscription)
        app.router.add_patch("/v1.0/subscriptions/{id}", self.update_subscription)
        app.router.add_post("/v1.0/subscriptions/{id}/reauthorize", self.reauthorize_subscription)
        app.router.add_post("/v1.0/users/{user}/teamwork/installedApps", self.install_app)
        app.router.add_get("/v1.0/users/{user}/teamwork/installedApps", self.list_installed_apps)
        app.router.add_get("/v1.0/users/{user}/teamwork/installedApps/{id}/chat", self.installed_app_chat)
        app.router.add_post("/v1.0/users/{user}/sendMail", self.send_mail)
        app.router.add_get("/msi/token", self.managed_identity_token)
        app.router.add_post("/v1.0/$batch", self.batch)
        self._app = app
        return app

    def ssl_context(self, cert: Path, key: Path) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        return context

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body: Any = None
        if request.can_read_body:
            raw = await request.read()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode(errors="replace")
        self.requests.append(Recorded(request.method, request.path, dict(request.query), dict(request.headers), body))
        request["body"] = body
        if "/v1.0/" in request.path and not request.path.endswith("/$batch"):
            self.calls.append(self.requests[-1])
        if "/v1.0/" in request.path:
            if not request.headers.get("Authorization", "").startswith("Bearer fake-token-"):
                return web.json_response(
                    {"error": {"code": "InvalidAuthenticationToken", "message": "no token"}}, status=401
                )
            refused = self._refusal(request)
            if refused is not None:
                return refused
            if self._planned_fault == "slow":
                await asyncio.sleep(2)  # longer than the client's timeout in the test
            if self._planned_fault == "drop":
                assert request.transport is not None
                request.transport.close()
                raise ConnectionResetError("dropped on purpose")
        response: web.StreamResponse = await handler(request)
        return response

    def _refusal(self, request: web.Request) -> web.Response | None:
        """What Graph (or the faults asked for) answers before the handler, for a request or a batch item."""
        self._planned_fault = None
        # What the product promises on every Graph request; refused loudly here otherwise.
        try:
            uuid.UUID(request.headers.get("client-request-id", ""))
        except ValueError:
            return web.json_response({"error": {"code": "BadRequest", "message": "no client-request-id"}}, status=400)
        if 'IdType="ImmutableId"' not in request.headers.get("Prefer", ""):
            return web.json_response({"error": {"code": "BadRequest", "message": "mutable ids asked"}}, status=400)
        user = request.path.split("/v1.0/users/", 1)[1].split("/", 1)[0] if "/v1.0/users/" in request.path else ""
        if user.lower() in self.forbidden:
            return web.json_response(
                {"error": {"code": "ErrorAccessDenied", "message": "Access is denied. Check credentials."}},
                status=403,
            )
        fault = self._fault(request)
        if fault == "429":
            return web.json_response(
                example("error.throttling-429.response.1.json"), status=429, headers={"Retry-After": "0.05"}
            )
        if fault == "400":
            return web.json_response(example("error.sendMail-400.response.1.json"), status=400)
        if fault == "503":
            return web.json_response({"error": {"code": "serviceNotAvailable", "message": "try later"}}, status=503)
        self._planned_fault = fault
        return None

    async def batch(self, request: web.Request) -> web.Response:
        """JSON batching (POST /v1.0/$batch): each item goes through the same checks and handlers
        as a request of its own, and the answer lists each item's status, headers and body, as in
        batch.response.1.json. Items carry no Authorization: the batch request's token covers them."""
        assert self._app is not None
        items = (request["body"] or {}).get("requests")
        if not isinstance(items, list) or not 1 <= len(items) <= 20:
            return web.json_response({"error": {"code": "BadRequest", "message": "1 to 20 requests"}}, status=400)
        responses = []
        for item in items:
            url = str(item.get("url", ""))
            if not url.startswith("/") or url.startswith("/v1.0/"):
                return web.json_response({"error": {"code": "BadRequest", "message": "relative url"}}, status=400)
            headers = {str(k): str(v) for k, v in (item.get("headers") or {}).items()}
            inner = make_mocked_request(str(item["method"]), f"/v1.0{url}", headers=headers, app=self._app)
            inner["body"] = item.get("body")
            self.batched.append(Recorded(inner.method, inner.path, dict(inner.query), inner.headers, item.get("body")))
            self.calls.append(self.batched[-1])
            answer = self._refusal(inner)
            if answer is None and self._planned_fault in ("slow", "drop"):
                answer = web.json_response({"error": {"code": "serviceNotAvailable", "message": "later"}}, status=503)
            if answer is None:
                match = await self._app.router.resolve(inner)
                if match.http_exception is not None:
                    answer = web.json_response({"error": {"code": "BadRequest", "message": "no route"}}, status=400)
                else:
                    inner._match_info = match  # type: ignore[attr-defined]
                    answer = await match.handler(inner)
            body = answer.body if isinstance(answer.body, bytes) else b""
            item_headers = {
                k: v for k, v in answer.headers.items() if k.lower() in ("content-type", "retry-after", "location")
            }
            responses.append(
                {
                    "id": item["id"],
                    "status": answer.status,
                    "headers": item_headers,
                    "body": json.loads(body) if body else None,
                }
            )
        return web.json_response({"responses": responses})

    def _fault(self, request: web.Request) -> str | None:
        for planned in list(self.planned):
            method, part, fault = planned
            if request.method == method and part in request.path:
                self.planned.remove(planned)
                return fault
        if self.failure_rate and self._random.random() < self.failure_rate:
            return self._random.choice(["429", "503", "drop"])
        return None

    async def openid(self, request: web.Request) -> web.Response:
        tenant = request.match_info["tenant"]
        root = f"{self.base}/{tenant}"
        return web.json_response(
            {
                "issuer": f"{root}/v2.0",
                "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
                "token_endpoint": f"{root}/oauth2/v2.0/token",
            }
        )

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if (
            form.get("grant_type") != "client_credentials"
            or form.get("scope") != "https://graph.microsoft.com/.default"
        ):
            return web.json_response({"error": "invalid_request"}, status=400)
        if request.match_info["tenant"] != self.tenant or not self._client_authenticated(request, form):
            return web.json_response({"error": "invalid_client"}, status=401)
        self.tokens_issued += 1
        return web.json_response(
            {"token_type": "Bearer", "expires_in": 3599, "access_token": f"fake-token-{self.tokens_issued}"}
        )

    def _client_authenticated(self, request: web.Request, form: Any) -> bool:
        """A client secret, or an assertion signed with the registered certificate's key."""
        if form.get("client_secret") is not None:
            return bool(form.get("client_secret") == "graph-secret")
        assertion = form.get("client_assertion")
        if not (assertion and self.client_certificate):
            return False
        public_key = x509.load_pem_x509_certificate(self.client_certificate).public_key()
        try:
            claims = jwt.decode(
                str(assertion),
                public_key,  # type: ignore[arg-type]
                algorithms=["RS256", "PS256"],
                audience=f"{self.base}/{self.tenant}/oauth2/v2.0/token",
            )
        except jwt.InvalidTokenError:
            return False
        return bool(claims.get("iss") == claims.get("sub") == form.get("client_id"))

    async def managed_identity_token(self, request: web.Request) -> web.Response:
        """Azure App Service's managed identity endpoint (api-version 2019-08-01)."""
        if not self.identity_header or request.headers.get("X-IDENTITY-HEADER") != self.identity_header:
            return web.json_response({"error": "unauthorized"}, status=401)
        if request.query.get("resource") != "https://graph.microsoft.com":
            return web.json_response({"error": "invalid_resource"}, status=400)
        self.tokens_issued += 1
        expires_on = int(dt.datetime.now(dt.UTC).timestamp()) + 3600
        return web.json_response(
            {
                "access_token": f"fake-token-{self.tokens_issued}",
                "expires_on": str(expires_on),
                "resource": "https://graph.microsoft.com",
                "token_type": "Bearer",
            }
        )

    async def create_event(self, request: web.Request) -> web.Response:
        body = request["body"]
        mailbox = request.match_info["user"].lower()
        calendar = self.events.setdefault(mailbox, {})
        for stored in calendar.values():  # transactionId makes a retried POST idempotent
            if body.get("transactionId") and stored.data.get("transactionId") == body["transactionId"]:
                return web.json_response(stored.data, status=201)
        created = copy.deepcopy(example("events.create.response.2.json"))
        created.pop("@odata.context", None)
        created.update({k: v for k, v in body.items() if k != "attendees"})
        created["attendees"] = body.get("attendees", [])
        created["id"] = f"AAMk{uuid.uuid4().hex}="
        created["isCancelled"] = False
        if not body.get("isOnlineMeeting"):
            created["onlineMeeting"] = None
        else:
            created["onlineMeeting"] = {"joinUrl": f"https://teams.microsoft.com/l/meetup-join/{uuid.uuid4().hex}"}
        calendar[created["id"]] = StoredEvent(created, next(self._version))
        return web.json_response(created, status=201)

    async def update_event(self, request: web.Request) -> web.Response:
        stored = self.events.get(request.match_info["user"].lower(), {}).get(request.match_info["id"])
        if stored is None or stored.removed:
            return web.json_response({"error": {"code": "ErrorItemNotFound", "message": "not found"}}, status=404)
        stored.data.update(request["body"])
        stored.version = next(self._version)
        return web.json_response(stored.data)

    async def cancel_event(self, request: web.Request) -> web.Response:
        stored = self.events.get(request.match_info["user"].lower(), {}).get(request.match_info["id"])
        if stored is None or stored.removed:
            return web.json_response({"error": {"code": "ErrorItemNotFound", "message": "not found"}}, status=404)
        stored.removed, stored.version = True, next(self._version)
        return web.Response(status=202)

    async def delta(self, request: web.Request) -> web.Response:
        mailbox = request.match_info["user"].lower()
        self.page_size_seen.append(request.headers.get("Prefer", ""))
        query = request.query
        calendar = self.events.get(mailbox, {})
        if "$deltatoken" in query:
            if self.expire_delta_tokens:
                self.expire_delta_tokens = False
                return web.json_response({"error": {"code": "syncStateNotFound", "message": "expired"}}, status=410)
            since = int(query["$deltatoken"])
            changed = [e for e in calendar.values() if e.version > since]
            items = [
                {"@odata.type": "#microsoft.graph.event", "id": e.data["id"], "@removed": {"reason": "deleted"}}
                if e.removed
                else e.data
                for e in changed
            ]
            return web.json_response(
                {"@odata.deltaLink": self._link(mailbox, deltatoken=self._now_version()), "value": items}
            )
        offset = int(query.get("$skiptoken", "0"))
        live = sorted((e for e in calendar.values() if not e.removed), key=lambda e: e.data["start"]["dateTime"])
        page_size = 2
        page = [e.data for e in live[offset : offset + page_size]]
        payload: dict[str, Any] = {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(event)",
            "value": page,
        }
        if offset + page_size < len(live):
            payload["@odata.nextLink"] = self._link(mailbox, skiptoken=offset + page_size)
        else:
            payload["@odata.deltaLink"] = self._link(mailbox, deltatoken=self._now_version())
        return web.json_response(payload)

    def _now_version(self) -> int:
        current = next(self._version)
        return current

    def _link(self, mailbox: str, **token: int) -> str:
        key, value = next(iter(token.items()))
        return f"{self.base}/v1.0/users/{mailbox}/calendarView/delta?${key}={value}"

    async def get_mailbox_settings(self, request: web.Request) -> web.Response:
        settings = self.mailbox_settings.get(request.match_info["user"].lower())
        if settings is None:
            settings = copy.deepcopy(example("mailboxSettings.get.response.1.json"))
            settings["automaticRepliesSetting"]["status"] = "disabled"
        return web.json_response(settings)

    async def calendar_view(self, request: web.Request) -> web.Response:
        """The events between startDateTime and endDateTime (both required, as in Graph)."""
        try:
            start = dt.datetime.fromisoformat(request.query["startDateTime"])
            end = dt.datetime.fromisoformat(request.query["endDateTime"])
        except (KeyError, ValueError):
            return web.json_response({"error": {"code": "ErrorInvalidParameter", "message": "range"}}, status=400)

        def when(value: dict[str, str]) -> dt.datetime:
            return dt.datetime.fromisoformat(value["dateTime"][:26]).replace(tzinfo=dt.UTC)

        found = [
            e
            for e in self.live_events(request.match_info["user"])
            if when(e["start"]) < end.astimezone(dt.UTC) and when(e["end"]) > start.astimezone(dt.UTC)
        ]
        top = int(request.query.get("$top", "10"))
        return web.json_response({"value": found[:top]})

    async def create_subscription(self, request: web.Request) -> web.Response:
        body = request["body"]
        created = copy.deepcopy(example("subscriptions.create.response.1.json"))
        created.update(body)
        created["id"] = str(uuid.uuid4())
        self.subscriptions[created["id"]] = created
        return web.json_response(created, status=201)

    async def update_subscription(self, request: web.Request) -> web.Response:
        found = self.subscriptions.get(request.match_info["id"])
        if found is None:
            return web.json_response({"error": {"code": "ResourceNotFound", "message": "gone"}}, status=404)
        found.update(request["body"])
        return web.json_response(found)

    async def reauthorize_subscription(self, request: web.Request) -> web.Response:
        if request.match_info["id"] not in self.subscriptions:
            return web.json_response({"error": {"code": "ResourceNotFound", "message": "gone"}}, status=404)
        self.reauthorized.append(request.match_info["id"])
        return web.Response(status=204)

    # -- Teams app installation and e-mail ------------------------------------------------

    async def install_app(self, request: web.Request) -> web.Response:
        bind = str((request["body"] or {}).get("teamsApp@odata.bind", ""))
        prefix = f"{self.base}/v1.0/appCatalogs/teamsApps/"
        catalog_id = bind.removeprefix(prefix)
        if not bind.startswith(prefix) or catalog_id not in self.catalog:
            return web.json_response({"error": {"code": "NotFound", "message": "no such app"}}, status=404)
        user = request.match_info["user"].lower()
        apps = self.installed_apps.setdefault(user, {})
        if any(item["teamsApp"]["id"] == catalog_id for item in apps.values()):
            return web.json_response(
                {"error": {"code": "Conflict", "message": "App is already installed."}}, status=409
            )
        installation_id = uuid.uuid4().hex
        apps[installation_id] = {
            "id": installation_id,
            "teamsApp": {"id": catalog_id, "externalId": "manifest-id", "displayName": "Permanence"},
            "chat": {"id": f"19:{uuid.uuid4()}_{catalog_id}@unq.gbl.spaces"},
        }
        return web.Response(status=201)  # the documented answer has no body

    async def list_installed_apps(self, request: web.Request) -> web.Response:
        apps = self.installed_apps.get(request.match_info["user"].lower(), {}).values()
        wanted = request.query.get("$filter", "")
        prefix = "teamsApp/id eq '"
        if wanted and not (wanted.startswith(prefix) and wanted.endswith("'")):
            return web.json_response({"error": {"code": "BadRequest", "message": "filter"}}, status=400)
        catalog_id = wanted.removeprefix(prefix).removesuffix("'")
        expand = "teamsApp" in request.query.get("$expand", "")
        value = [
            {"id": item["id"], **({"teamsApp": item["teamsApp"]} if expand else {})}
            for item in apps
            if not wanted or item["teamsApp"]["id"] == catalog_id
        ]
        return web.json_response({"@odata.count": len(value), "value": value})

    async def installed_app_chat(self, request: web.Request) -> web.Response:
        item = self.installed_apps.get(request.match_info["user"].lower(), {}).get(request.match_info["id"])
        if item is None:
            return web.json_response({"error": {"code": "NotFound", "message": "not installed"}}, status=404)
        return web.json_response(
            {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#chats/$entity", **item["chat"]}
        )

    async def send_mail(self, request: web.Request) -> web.Response:
        body = request["body"] or {}
        # Action parameters are case-insensitive: msgraph-sdk sends "Message", the docs "message".
        message = next((v for k, v in body.items() if k.lower() == "message"), None) or {}
        if not message.get("toRecipients"):
            return web.json_response(example("error.sendMail-400.response.1.json"), status=400)
        self.mails.append({"sender": request.match_info["user"].lower(), **message})
        return web.Response(status=202)
