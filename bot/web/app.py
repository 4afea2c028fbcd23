"""The aiohttp application: Bot Framework endpoint, health, metrics, background work.

Everything is created in `cleanup_ctx` from one settings object: no module-level adapter,
bot, engine or scheduler.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import html
import ipaddress
import logging
import signal
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC
from typing import Any

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from botbuilder.core import TurnContext
from botbuilder.schema import Activity

from bot import logs, texts
from bot.application.calendar_sync import BatchTooLarge
from bot.bootstrap import Overrides, Runtime, bootstrap
from bot.channel.auth import check_authentication
from bot.channel.inbound import invoke_body, read_json
from bot.channel.wire import from_json
from bot.checks.readiness import Readiness
from bot.clock import check_test_clock
from bot.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from bot.runtime import StartupError
from bot.settings import Settings
from bot.web.jobs import schedule_jobs
from bot.web.liveness import Heartbeats
from bot.web.plan_reload import PlanReloader
from storage.audit_anchor import AuditAnchors

log = logging.getLogger(__name__)

MAX_BODY = 256 * 1024

RUNTIME = web.AppKey("runtime", Runtime)
SETTINGS = web.AppKey("settings", Settings)
OVERRIDES = web.AppKey("overrides", Overrides)
SCHEDULER = web.AppKey("scheduler", AsyncIOScheduler)
OUTBOX_TASK = web.AppKey("outbox_task", asyncio.Task[None])
READINESS = web.AppKey("readiness", Readiness)
HEARTBEATS = web.AppKey("heartbeats", Heartbeats)  # background tasks, for /healthz
RELOADER = web.AppKey("reloader", PlanReloader)
METRICS_LISTENER = web.AppKey("metrics_listener", bool)
METRICS_PORT = web.AppKey("metrics_port", int)  # where the operators' listener is bound


async def _runtime(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    runtime = await bootstrap(settings, app[OVERRIDES])
    clock, store, dispatcher, metrics = runtime.clock, runtime.store, runtime.dispatcher, runtime.metrics

    async def on_error(context: TurnContext, error: Exception) -> None:
        if store.note_if_exhausted(error, "turn"):
            # A rush: every connection of this replica stayed taken for the pool's timeout. The
            # agent is asked to retry in a few seconds (nothing of her turn was done).
            log.warning("turn put off: no database connection free", extra={"event": "turn.busy"})
            metrics.inc("permanence_pool_exhausted_total", who="turn")
            with contextlib.suppress(Exception):
                await context.send_activity(texts.BUSY)
            return
        log.error("turn failed: %s", logs.exception_summary(error), extra={"event": "turn.error"})
        metrics.inc("permanence_turn_errors_total")
        with contextlib.suppress(Exception):
            await context.send_activity(texts.ERROR)

    runtime.adapter.on_turn_error = on_error
    app[RUNTIME] = runtime
    try:
        metrics_runner, app[METRICS_PORT] = await _metrics_listener(settings, runtime)
    except OSError:
        await runtime.close()
        raise
    readiness = Readiness(
        store=store, context=runtime.app.context, provider=runtime.provider, settings=settings, clock=clock
    )
    app[READINESS] = readiness
    metrics.gauge(
        "permanence_workers_without_teams",
        "Workers with no Teams conversation reference: proactive messages cannot reach them",
        readiness.unreachable_in_teams,
    )
    metrics.gauge(
        "permanence_mailboxes_unreadable",
        "Workers whose mailbox settings or calendar Graph refused to read (local calendar: 0)",
        readiness.unreadable_mailboxes,
    )

    def applied() -> None:
        runtime.deployment = runtime.app.deployment
        readiness.forget()

    reloader = PlanReloader(settings=settings, app=runtime.app, metrics=metrics, clock=clock, on_applied=applied)
    app[RELOADER] = reloader
    hangups = _on_sighup(reloader)

    scheduler = AsyncIOScheduler(timezone=UTC)
    app[SCHEDULER] = scheduler
    heartbeats, timeout = Heartbeats(), settings.heartbeat_timeout_seconds
    app[HEARTBEATS] = heartbeats
    anchors = AuditAnchors(settings.effective_audit_anchor_file, store, clock)
    schedule_jobs(scheduler, runtime, settings, heartbeats, anchors)
    scheduler.start()
    loop = asyncio.create_task(dispatcher.run_forever(), name="outbox")
    app[OUTBOX_TASK] = loop
    heartbeats.expect("outbox", max_age=timeout, alive=lambda: not loop.done())
    dispatcher.on_pass = lambda: heartbeats.beat("outbox")
    try:
        yield
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
        if scheduler.running:
            scheduler.shutdown(wait=False)
        hangups()
        try:
            await anchors.write()  # the head at shutdown, outside the database
        except Exception as err:  # noqa: BLE001 - shutting down: said, and the rest still closes
            log.error("audit anchor not written: %s", logs.exception_summary(err), extra={"event": "audit.anchor"})
        await metrics_runner.cleanup()
        await runtime.close()


def _on_sighup(reloader: PlanReloader) -> Callable[[], None]:
    """Reload the plan on SIGHUP (`systemctl reload permanence`); returns what removes the handler."""
    loop = asyncio.get_running_loop()
    running: set[asyncio.Task[object]] = set()

    def hangup() -> None:
        task: asyncio.Task[object] = loop.create_task(reloader.reload(), name="plan-reload")
        running.add(task)
        task.add_done_callback(running.discard)

    try:
        loop.add_signal_handler(signal.SIGHUP, hangup)
    except (NotImplementedError, RuntimeError, ValueError):  # no signals here (not the main thread)
        return lambda: None

    def remove() -> None:
        loop.remove_signal_handler(signal.SIGHUP)

    return remove


@web.middleware
async def request_context(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    rid = request.headers.get("X-Request-Id", "")[:64] or uuid.uuid4().hex
    token = logs.request_id.set(rid)
    try:
        response = await handler(request)
    except web.HTTPException:
        raise
    except Exception as err:  # noqa: BLE001 - never a stack trace to the caller
        log.error("request failed: %s", logs.exception_summary(err), extra={"event": "http.error"})
        response = web.json_response({"error": "internal error", "request_id": rid}, status=500)
    finally:
        logs.request_id.reset(token)
    response.headers["X-Request-Id"] = rid
    return response


def _tenant_of(body: dict[str, Any]) -> str | None:
    """The conversation's tenant; `channelData.tenant.id`, when present, must say the same."""
    conversation = body.get("conversation")
    tenant = conversation.get("tenantId") if isinstance(conversation, dict) else None
    if not isinstance(tenant, str):
        return None
    channel_data = body.get("channelData")
    if isinstance(channel_data, dict) and "tenant" in channel_data:
        given = channel_data["tenant"].get("id") if isinstance(channel_data["tenant"], dict) else None
        if given != tenant:
            return None
    return tenant


async def messages(request: web.Request) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    if "application/json" not in request.headers.get("Content-Type", ""):
        return web.json_response({"error": "expected application/json"}, status=415)
    body = await read_json(request)  # 400 when malformed or nested too deeply, 413 when too large
    if not isinstance(body, dict) or not isinstance(body.get("type"), str):
        return web.json_response({"error": "not an activity"}, status=400)
    try:
        activity = from_json(Activity, body)
    except Exception:  # noqa: BLE001 - msrest raises several types on bad shapes
        return web.json_response({"error": "not an activity"}, status=400)
    started = asyncio.get_running_loop().time()
    try:
        # Authenticate apart from the turn: any failure here (missing, malformed, expired or
        # forged token) is a 401, while a failing turn stays a 500.
        authenticated = await runtime.adapter.bot_framework_authentication.authenticate_request(
            activity, request.headers.get("Authorization")
        )
    except Exception as err:  # noqa: BLE001 - PermissionError, jwt errors, KeyError on unknown kid...
        log.info("request refused: %s", type(err).__name__, extra={"event": "auth.refused"})
        runtime.metrics.inc("permanence_refused_total", reason="auth")
        return web.json_response({"error": "unauthorized"}, status=401)
    # Only once the caller is authenticated: Teams only (another channel's client may choose
    # `from.id`), and only the configured tenant, as the conversation and channelData both say.
    if body.get("channelId") != "msteams":
        runtime.metrics.inc("permanence_refused_total", reason="channel")
        return web.json_response({"error": "channel not served"}, status=403)
    tenant = runtime.settings.app_tenant_id
    if tenant and _tenant_of(body) != tenant:
        runtime.metrics.inc("permanence_refused_total", reason="tenant")
        return web.json_response({"error": "tenant not served"}, status=403)
    turn_started = asyncio.get_running_loop().time()
    try:
        response = await runtime.adapter.process_activity(authenticated, activity, runtime.bot.on_turn)
    except Exception as err:  # noqa: BLE001 - errors in the turn are answered by on_turn_error; these came after
        log.error("turn failed: %s", logs.exception_summary(err), extra={"event": "turn.error"})
        runtime.metrics.inc("permanence_turn_errors_total")
        return web.Response(status=200)  # answered once; a 5xx would only make the channel redeliver it
    now = asyncio.get_running_loop().time()
    runtime.metrics.inc("permanence_turns_total", type=activity.type or "unknown")
    runtime.metrics.observe("permanence_turn_seconds", now - turn_started, type=activity.type or "unknown")
    log.debug("turn", extra={"event": "turn", "duration_ms": round((now - started) * 1000, 1)})
    if response is not None:
        return web.json_response(invoke_body(response.body), status=response.status)
    return web.Response(status=200)


async def _graph_webhook(request: web.Request, lifecycle: bool) -> web.StreamResponse:
    token = request.query.get("validationToken")
    if token is not None:
        # The subscription handshake: the decoded token back as plain text, within 10 seconds.
        return web.Response(
            text=html.escape(token), content_type="text/plain", headers={"X-Content-Type-Options": "nosniff"}
        )
    runtime = request.app[RUNTIME]
    if runtime.calendar_sync is None:
        return web.json_response({"error": "calendar notifications are not configured"}, status=404)
    body = await read_json(request)
    try:
        if lifecycle:
            await runtime.calendar_sync.lifecycle(body)
        else:
            await runtime.calendar_sync.notifications(body)
    except BatchTooLarge:
        return web.json_response({"error": "too many notifications in one batch"}, status=413)
    except ValueError:
        return web.json_response({"error": "not a notification collection"}, status=400)
    runtime.dispatcher.wake()
    return web.Response(status=202)  # stored; Graph retries on 5xx (raised by the middleware)


async def graph_notifications(request: web.Request) -> web.StreamResponse:
    return await _graph_webhook(request, lifecycle=False)


async def graph_lifecycle(request: web.Request) -> web.StreamResponse:
    return await _graph_webhook(request, lifecycle=True)


async def healthz(request: web.Request) -> web.StreamResponse:
    """Liveness: 503 naming each background task that stopped or stopped beating (restart me)."""
    runtime = request.app[RUNTIME]
    heartbeats = request.app[HEARTBEATS]
    problems = heartbeats.problems()
    # The database pool: its use, and how often a turn was told to retry or a job put off for
    # want of a connection (a rush, not a reason to restart: the status stays "ok").
    database = runtime.store.pool_report()
    if problems:
        return web.json_response({"status": "unhealthy", "tasks": problems, "database": database}, status=503)
    return web.json_response({"status": "ok", "tasks": heartbeats.names(), "database": database})


async def readyz(request: web.Request) -> web.StreamResponse:
    """The doctor's facts without personal data: 503 when the database or Graph is out of reach,
    200 "degraded" when something else fails (a mailbox, a worker unreachable in Teams)."""
    status, body = await request.app[READINESS].report()
    return web.json_response(body, status=status)


FORWARDED = ("Forwarded", "X-Forwarded-For", "X-Real-IP")


async def plan_reload(request: web.Request) -> web.StreamResponse:
    """`permanence plan reload`: from this machine only, never through a reverse proxy (a proxy on
    the same machine would make every caller look local). It takes no input: it re-reads the
    configured plan file, which only the administrator can change."""
    try:
        local = ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        local = False
    if not local or any(h in request.headers for h in FORWARDED):
        return web.json_response({"error": "from this machine only"}, status=403)
    result = await request.app[RELOADER].reload()
    return web.json_response(result.as_json(), status=200 if result.applied else 422)


async def metrics(request: web.Request) -> web.StreamResponse:
    """For operators: on the metrics listener; on the public one only with a bearer token set."""
    settings = request.app[SETTINGS]
    token = settings.metrics_token.get_secret_value()
    if not token and not request.app.get(METRICS_LISTENER, False):
        raise web.HTTPNotFound
    if token:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return web.json_response(
                {"error": "unauthorized"}, status=401, headers={"WWW-Authenticate": 'Bearer realm="metrics"'}
            )
    runtime = request.app[RUNTIME]
    return web.Response(text=await runtime.metrics.render(), headers={"Content-Type": METRICS_CONTENT_TYPE})


async def _metrics_listener(settings: Settings, runtime: Runtime) -> tuple[web.AppRunner, int]:
    """The operators' listener: /metrics alone, on `metrics_host` (loopback by default)."""
    app = web.Application(client_max_size=1024)
    app[SETTINGS], app[RUNTIME], app[METRICS_LISTENER] = settings, runtime, True
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, settings.metrics_host, settings.metrics_port)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    port = sockets[0].getsockname()[1] if sockets else settings.metrics_port
    log.info("metrics served on %s:%s", settings.metrics_host, port, extra={"event": "metrics.listen"})
    return runner, port


def create_app(
    settings: Settings,
    *,
    overrides: Overrides | None = None,
    extra_routes: Callable[[web.Application], None] | None = None,
) -> web.Application:
    app = web.Application(middlewares=[request_context], client_max_size=MAX_BODY)
    app[SETTINGS] = settings
    app[OVERRIDES] = overrides or Overrides()
    app.cleanup_ctx.append(_runtime)
    app.router.add_post("/api/messages", messages)
    app.router.add_post("/api/graph/notifications", graph_notifications)
    app.router.add_post("/api/graph/lifecycle", graph_lifecycle)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_post("/admin/plan/reload", plan_reload)
    if extra_routes is not None:
        extra_routes(app)
    return app


def check_listen_address(settings: Settings) -> None:
    if not settings.has_credentials and not settings.host_is_loopback():
        raise StartupError(
            f"refusing to listen on {settings.host} without Bot Framework credentials: botbuilder would then "
            "accept unauthenticated calls. Set MicrosoftAppId/MicrosoftAppPassword, or listen on 127.0.0.1."
        )
    if not settings.metrics_host_is_loopback() and not settings.metrics_token.get_secret_value():
        raise StartupError(
            f"refusing to serve /metrics on {settings.metrics_host} without PERMANENCE_METRICS_TOKEN: metrics are "
            "for operators. Set a token (scrapers send it as a bearer token), or keep PERMANENCE_METRICS_HOST "
            "on 127.0.0.1."
        )


def run(settings: Settings) -> int:
    logs.configure(settings.log_level)
    check_listen_address(settings)
    check_authentication(settings)
    check_test_clock(settings)
    if not settings.has_credentials:
        # The address itself would be redacted (a run of digits): the port and what it is.
        log.warning(
            "no Bot Framework credentials: listening on the loopback interface only, port %d, "
            "for the Agents Playground",
            settings.port,
            extra={"event": "startup.listen"},
        )
    web.run_app(
        create_app(settings), host=settings.host, port=settings.port, print=None, access_log=None, handle_signals=True
    )
    return 0
