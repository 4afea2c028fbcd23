"""Typed settings read once from the environment and `.env` (names in ARCHITECTURE.md)."""

from __future__ import annotations

import ipaddress
import re
import tomllib
from datetime import datetime, timedelta
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from booking.document import Deployment, parse_deployment
from booking.records import Retention, RetentionPeriods
from graph.credentials import CredentialKind
from storage.db import PoolSizes

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class CalendarProvider(StrEnum):
    LOCAL = "local"
    MICROSOFT = "microsoft"


class WorkerIdentity(BaseModel):
    """Links a worker of the plan to her Entra account and Outlook mailbox."""

    object_id: str = ""
    mailbox: str = ""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", env_prefix="PERMANENCE_", extra="ignore"
    )

    # Bot Framework names, unprefixed as the SDK and Azure expect them.
    app_id: str = Field(default="", validation_alias=AliasChoices("MicrosoftAppId"))
    app_password: SecretStr = Field(default=SecretStr(""), validation_alias=AliasChoices("MicrosoftAppPassword"))
    app_tenant_id: str = Field(default="", validation_alias=AliasChoices("MicrosoftAppTenantId"))
    app_type: str = Field(default="SingleTenant", validation_alias=AliasChoices("MicrosoftAppType"))

    # Tests only: point JWT validation at a test issuer. Honoured only with test_mode; start-up
    # refuses it otherwise (and refuses test_mode on a non-loopback address).
    botframework_openid_metadata_url: str = ""
    test_mode: bool = False  # NEVER in production: it allows the OpenID metadata override above
    # Tests only (with test_mode, on loopback): the service's clock starts at this instant (ISO 8601
    # with its offset) and moves on from there, so that a test runs the real service on any date.
    test_now: datetime | None = None
    teams_app_id: str = ""  # the Teams app's id in the manifest (default: MicrosoftAppId)
    host: str = "127.0.0.1"
    port: int = Field(default=3978, ge=1, le=65535)
    # /metrics is for operators: served on a listener of its own (loopback by default; 0: a port
    # the system chooses, for tests), never on the public one unless `metrics_token` is set, which
    # then also requires `Authorization: Bearer <token>` on both.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9464, ge=0, le=65535)
    metrics_token: SecretStr = SecretStr("")
    data_dir: Path = Path("var")
    database_url: str = ""  # default: SQLite file in data_dir
    # PostgreSQL connections of each replica (SQLite ignores them): kept open for the turns, opened
    # beyond under load, seconds a turn waits for one before « réessayez » is answered, and the
    # background jobs' own. Each replica opens at most size + overflow + job pool; `doctor` warns
    # when `replicas` times that exceeds the server's max_connections (keep some for admins).
    db_pool_size: int = Field(default=10, ge=1, le=500)
    db_max_overflow: int = Field(default=5, ge=0, le=500)
    db_pool_timeout: float = Field(default=5.0, gt=0, le=60)
    db_job_pool_size: int = Field(default=2, ge=1, le=50)
    replicas: int = Field(default=1, ge=1, le=100)  # `permanence serve` processes on one database
    plan_file: Path | None = None  # default: the shipped sample plan
    calendar_provider: CalendarProvider = CalendarProvider.LOCAL
    graph_base_url: str = "https://graph.microsoft.com/v1.0"
    authority_host: str = "https://login.microsoftonline.com"
    public_url: str = ""  # https address of this service, for Graph webhooks
    identities: dict[str, WorkerIdentity] = Field(default_factory=dict)  # worker id -> identity
    encryption_key: SecretStr = SecretStr("")  # "k2:base64,k1:base64", newest first; default: key file
    lookup_key: SecretStr = SecretStr("")  # base64; keyed hash for finding agents without storing their id
    # The embedded default's key file: outside the data directory, so that a copy of the data
    # directory alone reveals nothing. Default: ~/.config/permanence/keys.json.
    key_file: Path | None = None
    # The audit chain's own key (issue 22): base64, or a file of its own created beside the key
    # file (default `audit-key.json` there). Keep it apart from the key file's backups.
    audit_key: SecretStr = SecretStr("")
    audit_key_file: Path | None = None
    # Signed anchors of the audit chain's head, written outside the database (and to the log)
    # every minute and at shutdown; `permanence audit verify` compares the chain with them.
    audit_anchor_file: Path | None = None
    local_meeting_url: str = ""  # local calendar: the worker's fixed Teams meeting room link, if any
    log_level: str = "INFO"
    graph_client_id: str = ""  # default: MicrosoftAppId (one Entra app for the bot and Graph)
    # -- Microsoft Graph side of issues 13/14 (credentials, automatic replies, Teams app, e-mail)
    graph_credential: CredentialKind = CredentialKind.SECRET
    graph_client_secret: SecretStr = SecretStr("")  # default: MicrosoftAppPassword
    graph_certificate_path: Path | None = None  # PEM private key + certificate, instead of a secret
    graph_managed_identity_client_id: str = ""  # a user-assigned identity; empty: the system-assigned one
    graph_ca_bundle: str = ""  # PEM file of the authorities to trust for Graph and Entra (a TLS-inspecting proxy)
    automatic_replies_refresh_seconds: int = Field(default=300, ge=30)  # Graph never notifies them
    teams_app_catalog_id: str = ""  # the app's id in the tenant's Teams catalog, to install it for workers
    notification_mailbox: str = ""  # sends the neutral e-mail about an urgent request (Mail.Send, RBAC-scoped)
    # An urgent notice delivered on Teams but not taken within this time is followed by the e-mail.
    urgent_ack_minutes: int = Field(default=15, ge=1, le=24 * 60)
    # Proactive messages to a worker whose chat Graph found (no activity gave its region's address yet).
    teams_service_url: str = "https://smba.trafficmanager.net/teams/"
    # -- end of the Graph settings
    graph_client_state: SecretStr = SecretStr("")  # secret echoed by Graph in every change notification
    retention_days: int = Field(default=400, ge=30)  # appointments and urgent requests, after they end
    audit_retention_days: int = Field(default=1100, ge=365)
    state_retention_days: int = Field(default=90, ge=1)  # idle conversation state (drafts of forms)
    sync_interval_seconds: int = Field(default=300, ge=30)  # delta polling, the fallback to webhooks
    # /healthz: a background task without a heartbeat for longer than this (beyond its own
    # interval, for scheduler jobs) is reported stuck, and the service unhealthy.
    heartbeat_timeout_seconds: int = Field(default=900, ge=10)
    event_subject: str = "Rendez-vous"  # neutral: never the service, the topic or the person
    # Offer the agent, when she books, to be invited to the Outlook event (off unless she ticks
    # it); false: the offer is not made and nobody is invited.
    invite_agent: bool = True
    reminders: str = "day:24h,hour:1h"  # proactive reminders before an appointment
    # Outgoing calls to the Bot Connector (replies, card updates, proactive messages).
    channel_timeout_seconds: float = Field(default=10.0, gt=0, le=120)  # per call, all included
    channel_connect_timeout_seconds: float = Field(default=3.0, gt=0, le=60)

    def pool_sizes(self) -> PoolSizes:
        return PoolSizes(
            size=self.db_pool_size,
            overflow=self.db_max_overflow,
            timeout=self.db_pool_timeout,
            jobs=self.db_job_pool_size,
        )

    def retention(self, now: datetime) -> Retention:
        return Retention(
            records_before=now - timedelta(days=self.retention_days),
            state_before=now - timedelta(days=self.state_retention_days),
            outbox_before=now - timedelta(days=30),
            audit_before=now - timedelta(days=self.audit_retention_days),
        )

    def retention_periods(self) -> RetentionPeriods:
        return RetentionPeriods(
            records=timedelta(days=self.retention_days),
            audit=timedelta(days=self.audit_retention_days),
            state=timedelta(days=self.state_retention_days),
        )

    def graph_certificate_pem(self) -> str:
        return self.graph_certificate_path.read_text(encoding="utf-8") if self.graph_certificate_path else ""

    def graph_secret(self) -> str:
        return self.graph_client_secret.get_secret_value() or self.app_password.get_secret_value()

    def reminder_offsets(self) -> list[tuple[str, timedelta]]:
        result = []
        for item in filter(None, (x.strip() for x in self.reminders.split(","))):
            name, _, amount = item.partition(":")
            unit = amount[-1:]
            try:
                value = int(amount[:-1])
            except ValueError as err:
                raise ValueError(f"PERMANENCE_REMINDERS: cannot read {item!r}") from err
            if unit not in ("h", "m") or value <= 0:
                raise ValueError(f"PERMANENCE_REMINDERS: use hours or minutes, e.g. 'day:24h' ({item!r})")
            result.append((name, timedelta(hours=value) if unit == "h" else timedelta(minutes=value)))
        return result

    @field_validator("test_now")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give the instant with its offset, e.g. 2027-05-06T09:00:00+02:00")
        return value

    @field_validator("app_id", "app_tenant_id", "teams_app_id")
    @classmethod
    def _guid_or_empty(cls, value: str) -> str:
        if value and not GUID.match(value):
            raise ValueError("must be a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)")
        return value

    @property
    def has_credentials(self) -> bool:
        return bool(self.app_id)

    @property
    def effective_key_file(self) -> Path:
        return self.key_file or Path.home() / ".config" / "permanence" / "keys.json"

    @property
    def effective_audit_key_file(self) -> Path:
        return self.audit_key_file or self.effective_key_file.with_name("audit-key.json")

    @property
    def effective_audit_anchor_file(self) -> Path:
        return self.audit_anchor_file or self.data_dir / "audit-anchors.jsonl"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'permanence.db').resolve()}"

    def host_is_loopback(self) -> bool:
        return _is_loopback(self.host)

    def metrics_host_is_loopback(self) -> bool:
        return _is_loopback(self.metrics_host)

    def load_deployment(self) -> Deployment:
        """The permanence plan document, with worker identities from settings applied."""
        if self.plan_file is None:
            sample = resources.files("bot").joinpath("resources/plan.sample.toml")
            return self.deployment_from_text(sample.read_text(encoding="utf-8"))
        return self.deployment_from_text(self.plan_file.read_text(encoding="utf-8"))

    def deployment_from_text(self, text: str) -> Deployment:
        """A plan file's text as a deployment, with worker identities from settings applied."""
        data: dict[str, Any] = tomllib.loads(text)
        for worker in data.get("workers", []):
            identity = self.identities.get(str(worker.get("id")))
            if identity is not None:
                worker["object_id"] = identity.object_id
                worker["mailbox"] = identity.mailbox
        return parse_deployment(data)
