"""The one composition root: from settings to a running set of parts, used alike by `serve`, the
command line and the tests. Tests override the clock, the calendar provider and the channel
(the adapter proactive messages go through), never the wiring itself."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from botbuilder.core import BotAdapter
from botbuilder.integration.aiohttp import CloudAdapter

from booking.document import Deployment
from bot import plan_identity
from bot.application import Application
from bot.application.calendar_sync import CalendarSync
from bot.application.outbox import OutboxDispatcher
from bot.application.people import Reachability
from bot.auth import ReusingAuthentication, check_authentication
from bot.clock import Clock, service_clock
from bot.connector import ChannelConnector
from bot.liveness import Heartbeats
from bot.metrics import Metrics
from bot.ops import register_outbox_gauges
from bot.runtime import StartupError, check_schema, open_store
from bot.settings import CalendarProvider, Settings
from bot.teams.bot import PermanenceBot
from bot.teams.notifier import TeamsNotifier
from bot.teams.state import DatabaseStorage
from graph.local import LocalCalendar
from graph.provider import CalendarProvider as Provider
from storage.db import is_sqlite
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


@dataclass(frozen=True, kw_only=True)
class Overrides:
    """What a test (or an embedding) may replace; everything else comes from the settings."""

    clock: Clock | None = None  # default: the service's (`bot.clock.service_clock`)
    provider: Callable[[Settings], Provider] = default_provider
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
    metrics: Metrics
    calendar_sync: CalendarSync | None
    exits: contextlib.AsyncExitStack  # the outgoing HTTP session, closed last
    reach_workers: Callable[[], Awaitable[list[Reachability]]]  # install the app for workers, keep their chats
    heartbeats: Heartbeats = field(default_factory=Heartbeats)  # background tasks, for /healthz

    async def close(self) -> None:
        await self.provider.close()
        await self.store.dispose()
        await self.exits.aclose()


async def open_application(settings: Settings, *, deployment: Deployment | None = None) -> tuple[Store, Application]:
    """The store and the use cases only (the command line's administrative commands)."""
    if deployment is None:
        deployment = await asyncio.to_thread(settings.load_deployment)
    store = await open_store(settings)
    return store, Application(
        store,
        deployment,
        reminders=settings.reminder_offsets(),
        urgent_ack_after=timedelta(minutes=settings.urgent_ack_minutes),
        retention=settings.retention_periods(),
        immediate_calendar=None
        if settings.calendar_provider is CalendarProvider.MICROSOFT
        else LocalCalendar(settings.local_meeting_url),
    )


async def bootstrap(settings: Settings, overrides: Overrides | None = None) -> Runtime:
    check_authentication(settings)  # before anything is opened
    overrides = overrides or Overrides()
    clock = overrides.clock or service_clock(settings)
    metrics = Metrics(clock=clock)
    store, app = await open_application(settings, deployment=overrides.deployment)
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
    provider = overrides.provider(settings)
    # The embedded calendar names an appointment's event in its booking's transaction.
    app.context.immediate_calendar = provider if isinstance(provider, LocalCalendar) else None
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
        return await app.people.make_reachable(
            provider=provider, now=clock(), chat_reference=notifier.reference_for_chat
        )

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
        metrics=metrics,
        calendar_sync=calendar_sync,
        exits=exits,
        reach_workers=reach_workers,
    )
