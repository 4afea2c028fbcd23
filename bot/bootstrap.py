"""The one composition root: from settings to a running set of parts, used alike by `serve`, the
command line and the tests. Tests override the clock, the calendar provider and the channel
(the adapter proactive messages go through), never the wiring itself."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from botbuilder.core import BotAdapter
from botbuilder.integration.aiohttp import CloudAdapter

from booking.document import Deployment
from bot.application import Application, plan_identity
from bot.application.calendar_sync import CalendarSync
from bot.application.outbox import OutboxDispatcher
from bot.application.people import Reachability
from bot.channel.auth import ReusingAuthentication, check_authentication
from bot.channel.connector import ChannelConnector
from bot.clock import Clock, service_clock
from bot.metrics import Metrics
from bot.runtime import StartupError, check_schema, open_store
from bot.settings import CalendarProvider, Settings
from bot.teams.bot import PermanenceBot
from bot.teams.notifier import TeamsNotifier
from bot.teams.state import DatabaseStorage
from graph.local import LocalCalendar, LocalReach
from graph.provider import CalendarProvider as Provider
from graph.provider import Reach
from storage.db import is_sqlite
from storage.sealing import tampered_counts
from storage.store import Store


def teams_app_link(settings: Settings) -> str:
    """The https link that opens the app in Teams (the neutral e-mail points there)."""
    app_id = settings.teams_app_id or settings.app_id
    return f"https://teams.microsoft.com/l/app/{app_id}" if app_id else "https://teams.microsoft.com/"


def default_provider(settings: Settings) -> Provider:
    if settings.calendar_provider is CalendarProvider.MICROSOFT:
        from graph.microsoft import MicrosoftCalendar

        return MicrosoftCalendar.from_settings(settings)
    return LocalCalendar(settings.local_meeting_url)


def default_reach(settings: Settings, provider: Provider) -> Reach:
    """Graph's reach shares the calendar's client (one connection pool, one token); without
    Graph nothing can be installed nor e-mailed."""
    if provider.name == "microsoft":  # the SDK is imported only where Graph is used
        from graph.microsoft import MicrosoftCalendar

        if isinstance(provider, MicrosoftCalendar):
            return provider.reach
    return LocalReach()


@dataclass(frozen=True, kw_only=True)
class Overrides:
    """What a test (or an embedding) may replace; everything else comes from the settings."""

    clock: Clock | None = None  # default: the service's (`bot.clock.service_clock`)
    provider: Callable[[Settings], Provider] = default_provider
    reach: Callable[[Settings, Provider], Reach] = default_reach  # Teams app installation, the neutral e-mail
    channel: BotAdapter | None = None  # proactive messages; default: the Bot Framework adapter
    deployment: Deployment | None = None  # default: the plan file of the settings


@dataclass(kw_only=True)
class Runtime:
    settings: Settings
    clock: Clock
    deployment: Deployment
    store: Store
    app: Application
    adapter: CloudAdapter
    bot: PermanenceBot
    dispatcher: OutboxDispatcher
    provider: Provider
    reach: Reach
    metrics: Metrics
    calendar_sync: CalendarSync | None
    exits: contextlib.AsyncExitStack  # the outgoing HTTP session, closed last
    reach_workers: Callable[[], Awaitable[list[Reachability]]]  # install the app for workers, keep their chats

    async def close(self) -> None:
        await self.provider.close()
        await self.store.dispose()
        await self.exits.aclose()


async def open_application(
    settings: Settings, *, deployment: Deployment | None = None, provider: Provider | None = None
) -> tuple[Store, Application]:
    """The store and the use cases only (the command line's administrative commands); with the
    service's `provider`, the embedded calendar is that one."""
    if provider is not None:
        immediate = provider if isinstance(provider, LocalCalendar) else None
    elif settings.calendar_provider is CalendarProvider.MICROSOFT:
        immediate = None
    else:
        immediate = LocalCalendar(settings.local_meeting_url)
    if deployment is None:
        deployment = await asyncio.to_thread(settings.load_deployment)
    store = await open_store(settings)
    return store, Application(
        store,
        deployment,
        reminders=settings.reminder_offsets(),
        urgent_ack_after=timedelta(minutes=settings.urgent_ack_minutes),
        retention=settings.retention_periods(),
        immediate_calendar=immediate,  # names an appointment's event in its booking's transaction
    )


def register_outbox_gauges(metrics: Metrics, store: Store, clock: Callable[[], datetime]) -> None:
    """Gauges to alert on: rows due now (future reminders excluded), late ones and dead ones."""

    async def read(field: str) -> float:
        async with store.unit_of_work(read_only=True) as uow:
            return float(getattr(await uow.outbox.health(clock()), field))

    async def due() -> float:
        return await read("due")

    async def overdue() -> float:
        return await read("overdue")

    async def dead() -> float:
        return await read("dead")

    metrics.gauge("permanence_outbox_depth", "Outbox rows due now, not yet delivered (future reminders excluded)", due)
    metrics.gauge("permanence_outbox_overdue", "Outbox rows due more than 5 minutes ago, not delivered", overdue)
    metrics.gauge("permanence_outbox_dead", "Outbox rows given up on: retry or drop them (permanence outbox)", dead)

    async def tampered() -> float:
        return float(sum(tampered_counts().values()))

    # Any value above zero is an alert: someone changed who owns a row in the database.
    metrics.gauge(
        "permanence_tampered_rows",
        "Rows read since start whose owner does not match their seal (changed in the database): hidden",
        tampered,
    )


async def bootstrap(settings: Settings, overrides: Overrides | None = None) -> Runtime:
    check_authentication(settings)  # before anything is opened
    overrides = overrides or Overrides()
    clock = overrides.clock or service_clock(settings)
    metrics = Metrics(clock=clock)
    provider = overrides.provider(settings)
    try:
        store, app = await open_application(settings, deployment=overrides.deployment, provider=provider)
    except BaseException:
        await provider.close()
        raise
    if not is_sqlite(store.url):
        await check_schema(store)
    async with store.unit_of_work() as uow:  # the audit chain's start, and its own key, recorded once
        if await uow.audit.ensure_start(clock()):
            await uow.commit()
    try:  # the plan's workers: as last applied, or as the operator approved (issue 22)
        await plan_identity.apply(store, app.context.deployment, clock(), how="start")
    except plan_identity.PlanRefused as err:
        await store.dispose()
        raise StartupError(str(err)) from err
    await app.sync_workers()
    # Warm what the first slot offer would otherwise load (the public holidays' tables): the
    # first agent after a restart waits no longer than the next one.
    today = clock().date()
    for year in (today.year, today.year + 1):
        app.context.holidays.in_year(year)
    exits = contextlib.AsyncExitStack()
    connector = await exits.enter_async_context(ChannelConnector.open(settings))  # one session for every reply
    auth = ReusingAuthentication(settings, connector)
    adapter = CloudAdapter(auth)
    reach = overrides.reach(settings, provider)
    app.context.urgent_mail = provider.name != "local"
    if hasattr(provider, "observe_request"):  # Microsoft Graph: call latency histogram
        provider.observe_request = lambda what, seconds: metrics.observe(
            "permanence_graph_request_seconds", seconds, operation=what
        )
    notifier = TeamsNotifier(
        adapter=overrides.channel or adapter,
        app_id=settings.app_id,
        context=app.context,
        clock=clock,
        shown=app.shown_cards,
        urgent=app.urgent,
        service_url=settings.teams_service_url,
        tenant_id=settings.app_tenant_id,
    )
    calendar_sync = None
    if provider.name != "local":
        calendar_sync = CalendarSync(
            context=app.context,
            outlook=app.outlook,
            provider=provider,
            clock=clock,
            metrics=metrics,
            public_url=settings.public_url,
            client_state=settings.graph_client_state.get_secret_value(),
        )
    dispatcher = OutboxDispatcher(
        context=app.context,
        provider=provider,
        reach=reach,
        notifier=notifier,
        clock=clock,
        name=f"{socket.gethostname()}-{uuid.uuid4().hex[:6]}",
        metrics=metrics,
        subject=settings.event_subject,
        calendar_work=calendar_sync.handle_outbox if calendar_sync else None,
        urgent=app.urgent,
        open_url=teams_app_link(settings),
    )

    async def reach_workers() -> list[Reachability]:
        return await app.people.make_reachable(reach=reach, now=clock(), chat_reference=notifier.reference_for_chat)

    async def after_commit(_: str) -> None:
        await dispatcher.drain_soon()

    bot = PermanenceBot(
        app=app,
        storage=DatabaseStorage(store, clock),
        clock=clock,
        local_calendar=provider.name == "local",
        meeting_links=provider.name != "local" or bool(settings.local_meeting_url),
        outlook_invitation=settings.invite_agent and provider.name != "local",  # no Outlook event locally
        after_commit=after_commit,
        wake=dispatcher.wake,
        serial=store.serial,
    )

    register_outbox_gauges(metrics, store, clock)

    async def in_use() -> float:
        return float(store.engine.pool.checkedout()) if store.dialect == "postgresql" else 0.0  # type: ignore[attr-defined]

    async def jobs_put_off() -> float:
        return float(store.exhausted["job"])

    metrics.gauge("permanence_db_pool_in_use", "Database connections the turns hold now (PostgreSQL)", in_use)
    metrics.gauge(
        "permanence_db_jobs_put_off",
        "Background job passes put off since start for want of a database connection of their own",
        jobs_put_off,
    )
    return Runtime(
        settings=settings,
        clock=clock,
        deployment=app.deployment,
        store=store,
        app=app,
        adapter=adapter,
        bot=bot,
        dispatcher=dispatcher,
        provider=provider,
        reach=reach,
        metrics=metrics,
        calendar_sync=calendar_sync,
        exits=exits,
        reach_workers=reach_workers,
    )
