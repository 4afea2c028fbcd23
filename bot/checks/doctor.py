"""`permanence doctor` and `/readyz`: every fact an administrator needs to know the service can
work — settings, database and migrations, keys, the plan of this year and the next, the
calendar provider, each worker's Teams reachability and mailbox, the Graph subscriptions and
the outbox. Each fact is a `Check` (bot.application.diagnostics); nothing here changes anything:
the doctor never migrates, never creates a key file, never writes to Graph."""

from __future__ import annotations

import asyncio
import os
import secrets
import stat
from collections.abc import Callable, Sequence
from datetime import date, datetime
from importlib import resources

from booking.budget import day_budget
from booking.document import Deployment
from booking.holidays import FrenchHolidays
from booking.plan import expand_plan
from bot import texts
from bot.application.context import Context
from bot.application.diagnostics import Check, Diagnostics, Status, ok, problem
from bot.settings import CalendarProvider, Settings
from graph.credentials import CredentialKind
from graph.provider import CalendarError
from graph.provider import CalendarProvider as Provider
from storage.crypto import Keyring, KeyringError
from storage.db import is_sqlite
from storage.store import Store, alembic_config

ProviderFactory = Callable[[Settings], Provider]


def warning(area: str, subject: str, code: str, detail: str) -> Check:
    return Check(area=area, subject=subject, status=Status.WARNING, code=code, detail=detail)


# -- settings -------------------------------------------------------------------------------


def settings_checks(settings: Settings) -> list[Check]:
    checks: list[Check] = []
    if not settings.has_credentials and not settings.host_is_loopback():
        checks.append(
            problem(
                "settings",
                "listen",
                "open_without_credentials",
                "pas de MicrosoftAppId : écoutez sur 127.0.0.1 seulement",
            )
        )
    elif settings.has_credentials and not settings.app_password.get_secret_value():
        checks.append(warning("settings", "bot", "no_password", "MicrosoftAppId sans MicrosoftAppPassword"))
    try:
        settings.reminder_offsets()
    except ValueError as err:
        checks.append(problem("settings", "reminders", "invalid", str(err)))
    if settings.calendar_provider is CalendarProvider.MICROSOFT:
        missing = [
            name
            for name, value in (
                ("MicrosoftAppTenantId", settings.app_tenant_id),
                ("PERMANENCE_GRAPH_CLIENT_ID or MicrosoftAppId", settings.graph_client_id or settings.app_id),
            )
            if not value
        ]
        kind = settings.graph_credential
        if kind is CredentialKind.SECRET and not settings.graph_secret():
            missing.append("PERMANENCE_GRAPH_CLIENT_SECRET ou MicrosoftAppPassword")
        if kind is CredentialKind.CERTIFICATE and not (
            settings.graph_certificate_path and settings.graph_certificate_path.is_file()
        ):
            missing.append("PERMANENCE_GRAPH_CERTIFICATE_PATH (un fichier PEM lisible)")
        if missing:
            checks.append(problem("settings", "graph", "incomplete", "manquant : " + ", ".join(missing)))
        if not (settings.public_url.startswith("https://") and settings.graph_client_state.get_secret_value()):
            checks.append(
                warning(
                    "settings",
                    "webhooks",
                    "off",
                    "PERMANENCE_PUBLIC_URL (https) ou PERMANENCE_GRAPH_CLIENT_STATE non défini : pas de "
                    f"notification de changement, Outlook est interrogé toutes les {settings.sync_interval_seconds} s",
                )
            )
    if not checks:
        checks.append(ok("settings", "", f"agenda : {settings.calendar_provider.value}"))
    return checks


def webhooks_enabled(settings: Settings) -> bool:
    return bool(settings.public_url and settings.graph_client_state.get_secret_value())


# -- plan -----------------------------------------------------------------------------------


def plan_text(settings: Settings) -> tuple[str, str]:
    """(where, text) of the plan file the service reads: the configured one or the shipped sample."""
    if settings.plan_file is None:
        return "sample plan", resources.files("bot").joinpath("resources/plan.sample.toml").read_text(encoding="utf-8")
    return str(settings.plan_file), settings.plan_file.read_text(encoding="utf-8")


def budget_checks(deployment: Deployment, years: Sequence[int]) -> list[Check]:
    """Each titular's days of `years` against her budget (contracted plus ordered days). Over
    budget is a problem for the first year, a warning for the next (its order is often not
    settled yet); under budget is a warning. A year the plan's `years` leave out offers no slot
    at all: a problem this year, a warning for the next (its planning is agreed at kick-off)."""
    holidays = FrenchHolidays(deployment.subdivision)
    checks = []
    for worker_id, plan in sorted(deployment.plans.items()):
        for year in years:
            if not plan.covers(year):
                detail = f"le planning couvre {', '.join(map(str, plan.years))} : aucun créneau n'est proposé en {year}"
                report = problem if year == years[0] else warning
                checks.append(report("plan", f"{worker_id} {year}", "not_planned", detail))
                continue
            calendar = expand_plan(plan, date(year, 1, 1), date(year + 1, 1, 1), holidays)
            budget = day_budget(plan, calendar, year, date(year, 1, 1))
            subject = f"{worker_id} {year}"
            figures = f"{budget.planned} jours prévus, budget {budget.total}"
            if budget.planned > budget.total and year == years[0]:
                checks.append(
                    problem("plan", subject, "over_budget", f"{figures} : fermez des jours ou commandez-en davantage")
                )
            elif budget.planned > budget.total:
                checks.append(
                    warning("plan", subject, "over_budget", f"{figures} : fermez des jours ou commandez-en davantage")
                )
            elif budget.planned < budget.total:
                checks.append(warning("plan", subject, "under_budget", figures))
            else:
                checks.append(ok("plan", subject, figures))
    return checks


def load_plan(settings: Settings, years: Sequence[int]) -> tuple[Deployment | None, list[Check]]:
    from bot.checks.plan_check import check_plan_text

    try:
        where, text = plan_text(settings)
    except (OSError, UnicodeDecodeError) as err:
        return None, [problem("plan", "", "unreadable", f"{settings.plan_file}: {type(err).__name__}")]
    _, problems = check_plan_text(text)
    if problems:
        return None, [
            problem(
                "plan",
                "",
                "invalid",
                f"{where} : {len(problems)} {'problème' if len(problems) <= 1 else 'problèmes'} ; "
                f"voir « permanence plan check {where} »",
            )
        ]
    deployment = settings.load_deployment()  # the same text, with the workers' identities applied
    return deployment, [ok("plan", "", f"{where} se charge"), *budget_checks(deployment, years)]


# -- keys and database ----------------------------------------------------------------------


def read_keyring(settings: Settings) -> tuple[Keyring | None, list[Check]]:
    """The keyring as the service would load it, without ever creating a key file."""
    try:
        if settings.encryption_key.get_secret_value():
            keyring = Keyring.from_setting(
                settings.encryption_key.get_secret_value(), settings.lookup_key.get_secret_value()
            )
            return keyring, [ok("keys", "", f"depuis PERMANENCE_ENCRYPTION_KEY, clé actuelle {keyring.current}")]
        if not is_sqlite(settings.effective_database_url):
            return None, [
                problem("keys", "", "missing", "PostgreSQL needs PERMANENCE_ENCRYPTION_KEY and PERMANENCE_LOOKUP_KEY")
            ]
        path, checks = settings.effective_key_file, []
        legacy = settings.data_dir / "keys.json"
        if not path.exists() and legacy.exists():
            path = legacy
            checks.append(
                warning("keys", "file", "legacy_location", f"{legacy} : déplacez-le vers PERMANENCE_KEY_FILE")
            )
        if not path.exists():
            return None, [
                problem(
                    "keys",
                    "file",
                    "missing",
                    f"aucun fichier de clés en {path} : rien de ce qui est stocké n'est lisible",
                )
            ]
        if not os.access(path, os.R_OK):
            return None, [problem("keys", "file", "unreadable", f"{path} n'est pas lisible par cet utilisateur")]
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            checks.append(warning("keys", "file", "too_open", f"{path} est lisible par d'autres : chmod 600"))
        keyring = Keyring.load_or_create(path)
        return keyring, [*checks, ok("keys", "file", f"{path}, clé actuelle {keyring.current}")]
    except (KeyringError, OSError, ValueError) as err:
        return None, [problem("keys", "", "invalid", f"{type(err).__name__}: {err}")]


async def key_usage_checks(store: Store) -> list[Check]:
    """Values under a key id that is not configured cannot be read; old unpadded ones want a rotation."""
    usage = await store.key_usage()
    checks = []
    for key_id, counts in sorted(usage.items()):
        total = counts["padded"] + counts["unpadded"]
        if key_id not in store.keyring.keys:
            checks.append(
                problem(
                    "keys", key_id, "not_configured", f"{total} valeurs sous la clé {key_id}, qui n'est pas configurée"
                )
            )
        elif counts["unpadded"]:
            checks.append(
                warning(
                    "keys",
                    key_id,
                    "unpadded",
                    f"{counts['unpadded']} anciennes valeurs : lancez « permanence keys rotate »",
                )
            )
        else:
            checks.append(
                ok("keys", key_id, f"{total} valeurs" + (" (actuelle)" if key_id == store.keyring.current else ""))
            )
    return checks


def schema_head(url: str) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


async def database_checks(store: Store) -> list[Check]:
    """Reachable, and migrated to the head revision (raises nothing)."""
    try:
        await store.ping()
        current = await store.current_revision()
    except Exception as err:  # noqa: BLE001 - the doctor reports, never raises
        return [problem("database", "", "unreachable", f"{store.dialect}: {type(err).__name__}")]
    head = await asyncio.to_thread(schema_head, store.url)
    if current != head:
        return [
            problem(
                "database",
                "schema",
                "not_at_head",
                f"à {current or 'rien'}, attendu {head} : lancez « permanence db upgrade »",
            )
        ]
    return [ok("database", "", f"{store.dialect}, schéma à {head}")]


async def plan_identity_checks(store: Store, deployment: Deployment) -> list[Check]:
    """Who is a worker in the plan file, against what the service applied (issue 22)."""
    from bot.application import plan_identity

    state, found = await plan_identity.pending(store, deployment)
    listed = "; ".join(map(str, found))
    if state == "applied":
        return [ok("plan", "workers", "the plan's workers and replacements are the ones applied")]
    if state == "approved":
        return [
            warning("plan", "workers", "approved", f"approved, not applied yet: {listed}; run 'permanence plan reload'")
        ]
    if state == "removals":
        return [warning("plan", "workers", "removals", f"taken out at the next reload: {listed}")]
    return [
        problem(
            "plan",
            "workers",
            "unapproved",
            f"the plan file changes who is a worker: {listed or 'the kept identities do not match'}; "
            "a reload or a restart will be refused until 'permanence plan approve'",
        )
    ]


async def pool_checks(store: Store, settings: Settings) -> list[Check]:
    """PostgreSQL: every replica may open size + overflow + job pool connections; warn when
    `PERMANENCE_REPLICAS` times that exceeds what the server allows (raises nothing)."""
    if store.dialect != "postgresql":
        return []
    try:
        allowed, reserved = await store.connection_limits()
    except Exception as err:  # noqa: BLE001 - the doctor reports, never raises
        return [warning("database", "pool", "limits_unknown", f"max_connections not read: {type(err).__name__}")]
    sizes = settings.pool_sizes()
    wanted = settings.replicas * sizes.per_process
    usable = allowed - reserved
    detail = (
        f"{settings.replicas} replica(s) × ({sizes.size} pool + {sizes.overflow} overflow + {sizes.jobs} jobs)"
        f" = {wanted} connections; the server allows {usable} ({allowed} max_connections - {reserved} reserved)"
    )
    if wanted > usable:
        return [
            warning(
                "database",
                "pool",
                "pool_exceeds_server",
                f"{detail}: lower PERMANENCE_DB_POOL_SIZE / PERMANENCE_DB_MAX_OVERFLOW or raise max_connections",
            )
        ]
    return [ok("database", "pool", detail)]


# -- the doctor -----------------------------------------------------------------------------


async def provider_checks(provider: Provider) -> list[Check]:
    check = getattr(provider, "check", None)
    if check is None:
        return [ok("calendar", "", f"{provider.name} calendar")]
    try:
        await check()
    except CalendarError as err:
        return [problem("calendar", "", err.code[:40], f"pas de jeton Graph ({err.code}) : vérifiez les identifiants")]
    return [ok("calendar", "", "jeton Microsoft Graph obtenu")]


async def examine(settings: Settings, *, now: datetime, provider_factory: ProviderFactory | None = None) -> list[Check]:
    """Every check of `permanence doctor`, in the order shown."""
    from bot.bootstrap import default_provider

    year = now.astimezone(texts.PARIS).year
    checks = settings_checks(settings)
    deployment, found = await asyncio.to_thread(load_plan, settings, (year, year + 1))
    checks += found
    keyring, found = await asyncio.to_thread(read_keyring, settings)
    checks += found
    url = settings.effective_database_url
    database = settings.data_dir / "permanence.db"
    if is_sqlite(url) and not settings.database_url and not await asyncio.to_thread(database.exists):
        checks.append(
            problem("database", "", "missing", f"aucune base en {database} : lancez « permanence db upgrade »")
        )
        return checks
    # The database is reached even without keys (a throwaway keyring reads nothing secret).
    spare = Keyring(keys={"doctor": secrets.token_bytes(32)}, current="doctor", lookup_key=secrets.token_bytes(32))
    store = Store(url, keyring or spare)
    provider = None
    try:
        found = await database_checks(store)
        checks += found
        if any(c.failed for c in found):
            return checks
        checks += await pool_checks(store, settings)
        if keyring is not None:
            checks += await key_usage_checks(store)
        if deployment is not None:
            checks += await plan_identity_checks(store, deployment)
        provider = (provider_factory or default_provider)(settings)
        checks += await provider_checks(provider)
        if deployment is None or keyring is None:
            return checks
        diagnostics = Diagnostics(
            Context(store=store, deployment=deployment), provider, webhooks=webhooks_enabled(settings)
        )
        checks += await diagnostics.teams()
        checks += await diagnostics.mailboxes(now)
        checks += await diagnostics.subscriptions(now)
        checks += await diagnostics.outbox(now)
        return checks
    finally:
        if provider is not None:
            await provider.close()
        await store.dispose()


# -- readiness of the running service ---------------------------------------------------------
