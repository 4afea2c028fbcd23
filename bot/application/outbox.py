"""The outbox dispatcher: calendar writes and proactive messages, retried until they succeed.

An urgent notice to a handler is not retried on Teams: when Teams fails (no conversation, the
connector refuses) the neutral e-mail goes out at once, and when that fails too the next person
of the chain takes over at once (`UrgentRequests.unreachable`). A notice delivered on Teams but
not taken within `urgent_ack_after` is followed by the e-mail (`urgent.ack_check`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol, TypedDict, cast

from booking.model import Mode
from booking.records import NotFound, OutboxMessage
from bot.application.access import AccessPolicy, delivery_grant
from bot.application.context import Context
from bot.application.messages import (
    CalendarCancel,
    CalendarCreate,
    CalendarResync,
    CalendarUpdate,
    GraphSubscription,
    MalformedMessage,
    Message,
    NotifyAgent,
    NotifyCards,
    NotifyWorker,
    UrgentAckCheck,
    parse,
)
from bot.application.urgent import UrgentRequests
from bot.logs import exception_summary
from bot.metrics import Metrics
from graph.provider import CalendarError, CalendarProvider, EventDraft, Mailbox, Reach

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=1)
TEAMS_HOME = "https://teams.microsoft.com/"  # the e-mail's link when the app's id is not known
HEARTBEAT = 5.0  # seconds between lease renewals, a third of the outbox lease (15 s)


class DeliveryError(Exception):
    """A proactive message could not be delivered; `code` is safe to log."""

    def __init__(self, code: str, *, retryable: bool = True) -> None:
        super().__init__(code)
        self.code = code
        self.retryable = retryable


class Notifier(Protocol):
    async def deliver(self, message: OutboxMessage) -> None: ...


# One handler per message kind, keyed by the kind: mypy refuses a registry that misses one.
Handlers = TypedDict(
    "Handlers",
    {
        "calendar.create": Callable[[CalendarCreate, OutboxMessage], Awaitable[bool]],
        "calendar.update": Callable[[CalendarUpdate, OutboxMessage], Awaitable[bool]],
        "calendar.cancel": Callable[[CalendarCancel, OutboxMessage], Awaitable[bool]],
        "notify.worker": Callable[[NotifyWorker, OutboxMessage], Awaitable[bool]],
        "notify.agent": Callable[[NotifyAgent, OutboxMessage], Awaitable[bool]],
        "notify.cards": Callable[[NotifyCards, OutboxMessage], Awaitable[bool]],
        "urgent.ack_check": Callable[[UrgentAckCheck, OutboxMessage], Awaitable[bool]],
        "calendar.sync": Callable[[CalendarResync, OutboxMessage], Awaitable[bool]],
        "graph.subscription": Callable[[GraphSubscription, OutboxMessage], Awaitable[bool]],
    },
)


class OutboxDispatcher:
    def __init__(
        self,
        *,
        context: Context,
        provider: CalendarProvider,
        reach: Reach,
        notifier: Notifier,
        clock: Callable[[], datetime],
        name: str,
        metrics: Metrics,
        subject: str,
        calendar_work: Callable[[CalendarResync | GraphSubscription], Awaitable[None]] | None = None,
        heartbeat: float = HEARTBEAT,
        urgent: UrgentRequests | None = None,
        open_url: str = TEAMS_HOME,
    ) -> None:
        self.context = context
        self.store = context.store
        self.provider = provider
        self.reach = reach  # the neutral e-mail of the urgent path
        self.notifier = notifier
        self.clock = clock
        self.name = name
        self.metrics = metrics
        self.subject = subject
        self.calendar_work = calendar_work  # calendar sync and subscription upkeep, when Graph is configured
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self.heartbeat = heartbeat
        self._held: set[int] = set()  # claimed and not yet finished: their leases are renewed
        self.urgent = urgent or UrgentRequests(context, AccessPolicy(context))
        self.open_url = open_url  # where the neutral e-mail sends the worker (the app in Teams)
        self.on_pass: Callable[[], None] | None = None  # called after each pass: the task's heartbeat
        self._registry = self.handlers()

    def wake(self) -> None:
        self._wake.set()

    async def run_once(self, *, limit: int = 20) -> int:
        # A background pass, even when a turn asks for it (`drain_soon`): the jobs' connections.
        with self.store.for_jobs():
            return await self._pass(limit)

    async def _pass(self, limit: int) -> int:
        async with self._lock:  # one pass at a time in this process; replicas coordinate in the database
            now = self.clock()
            async with self.store.unit_of_work() as uow:
                messages = await uow.outbox.claim(self.name, now, limit=limit)
                if messages:  # nothing claimed, nothing to commit (and no disk sync)
                    await uow.commit()
            self._held = {m.id for m in messages}
            renewer = asyncio.create_task(self._renew_leases(), name="outbox-heartbeat")
            try:
                for message in messages:
                    await self._deliver(message)
                    self._held.discard(message.id)
            finally:
                renewer.cancel()
                # Wait for the heartbeat without swallowing a cancellation of this pass itself
                # (suppressing CancelledError here once kept a stopping dispatcher running).
                await asyncio.wait([renewer])
                self._held = set()
            return len(messages)

    async def _renew_leases(self) -> None:
        """Keep the claims of this pass alive while it works (a slow calendar, a retry)."""
        while True:
            await asyncio.sleep(self.heartbeat)
            try:
                async with self.store.unit_of_work() as uow:
                    await uow.outbox.renew(sorted(self._held), self.name, self.clock())
                    await uow.commit()
            except Exception as err:  # noqa: BLE001 - a missed renewal only lets another replica help
                log.warning("outbox lease renewal failed: %s", exception_summary(err))

    async def drain_soon(self, within: float = 3.0) -> None:
        """Process what is ready now, within `within` seconds (used right after a booking so that the
        confirmation can carry the Teams link); whatever is left runs in the background."""
        try:
            await asyncio.wait_for(self.run_once(), within)
        except TimeoutError:
            self.wake()

    async def run_forever(self, interval: float = 2.0, *, limit: int = 20) -> None:
        while True:
            # Cleared before the pass: a wake during it (work added meanwhile) starts the next one
            # at once, and a pass that found less than a full batch needs no second look.
            self._wake.clear()
            try:
                while await self.run_once(limit=limit) >= limit:
                    self._beat()
            except Exception as err:  # noqa: BLE001 - the loop must survive a database hiccup
                self.store.note_if_exhausted(err, "job")
                log.error("outbox pass failed: %s", exception_summary(err))
            self._beat()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval)

    def _beat(self) -> None:
        if self.on_pass is not None:
            self.on_pass()

    async def _deliver(self, message: OutboxMessage) -> None:
        try:
            completed = await self._handle(message)
        except (CalendarError, DeliveryError) as err:
            await self._retry(message, err.code, err.retryable, getattr(err, "retry_after", None))
            return
        except Exception as err:  # noqa: BLE001 - unknown failures are retried, never lost
            log.error("outbox %s failed: %s", message.kind, exception_summary(err))
            await self._retry(message, type(err).__name__, True, None)
            return
        done_at = self.clock()
        if not completed:  # a handler that writes completes the message in its own transaction
            async with self.store.unit_of_work() as uow:
                await uow.outbox.complete(message.id, self.name, done_at)
                await uow.commit()
        self.metrics.inc("permanence_outbox_done_total", kind=message.kind)
        if message.due_at is not None:
            lag = (done_at - message.due_at).total_seconds()
            self.metrics.observe("permanence_outbox_lag_seconds", lag, kind=message.kind)

    async def _retry(self, message: OutboxMessage, code: str, retryable: bool, retry_after: float | None) -> None:
        if retry_after is not None:
            delay = timedelta(seconds=retry_after)
        else:
            base = timedelta(seconds=5) * (2 ** min(message.attempts - 1, 12))
            delay = min(MAX_BACKOFF, base) * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not security
        log.warning(
            "outbox %s will be retried: %s",
            message.kind,
            code,
            extra={"event": "outbox.retry", "code": code, "count": message.attempts},
        )
        self.metrics.inc("permanence_outbox_failures_total", kind=message.kind, code=code[:40])
        async with self.store.unit_of_work() as uow:
            await uow.outbox.retry_later(message.id, self.name, code, self.clock() + delay, dead=not retryable)
            await uow.commit()

    # -- handlers ---------------------------------------------------------------------------

    def handlers(self) -> Handlers:
        """The registry: one handler per message kind. Each returns True if it completed the
        message itself (in the transaction that recorded what it wrote: done exactly when that
        is stored)."""
        return {
            "calendar.create": self._create,
            "calendar.update": self._update,
            "calendar.cancel": self._cancel,
            "notify.worker": self._notify_worker,
            "notify.agent": self._notify,
            "notify.cards": self._notify,
            "urgent.ack_check": self._urgent_ack_check,
            "calendar.sync": self._calendar_work,
            "graph.subscription": self._calendar_work,
        }

    async def _handle(self, message: OutboxMessage) -> bool:
        """Do what the message asks; True if the handler completed it itself."""
        try:
            typed = parse(message.kind, message.payload)
        except MalformedMessage as err:
            raise DeliveryError(str(err), retryable=False) from None
        registry = cast(Mapping[str, Callable[[Message, OutboxMessage], Awaitable[bool]]], self._registry)
        return await registry[typed.kind](typed, message)

    async def _notify(self, _typed: NotifyAgent | NotifyCards | NotifyWorker, message: OutboxMessage) -> bool:
        await self.notifier.deliver(message)
        return False

    async def _notify_worker(self, typed: NotifyWorker, message: OutboxMessage) -> bool:
        if typed.what == "urgent":
            await self._urgent_notice(message)
            return False
        return await self._notify(typed, message)

    async def _calendar_work(self, typed: CalendarResync | GraphSubscription, _message: OutboxMessage) -> bool:
        if self.calendar_work is None:  # Graph is not configured: nothing does this work
            raise DeliveryError(f"unknown_kind:{typed.kind}", retryable=False)
        await self.calendar_work(typed)
        return False

    # -- urgent requests: Teams, then e-mail, then the next person --------------------------------

    async def _urgent_notice(self, message: OutboxMessage) -> None:
        payload = message.payload
        if not payload.get("worker_id"):
            return  # the chain ended at the provider's hotline: the agent is told to call it
        request_id, step = str(payload["urgent_id"]), _step(payload)
        handler = await self.urgent.waiting_for(request_id, step)
        if handler is None:
            return  # taken, or moved on to someone else meanwhile
        try:
            await self.notifier.deliver(message)
        except DeliveryError as err:
            log.warning(
                "urgent notice not delivered on Teams: %s",
                err.code,
                extra={"event": "urgent.teams_failed", "code": err.code},
            )
            self.metrics.inc("permanence_urgent_notices_total", channel="teams", outcome="failed")
            if await self._urgent_mail(request_id, step, handler.mailbox):
                return
            moved = await self.urgent.unreachable(now=self.clock(), request_id=request_id, step=step)
            log.warning(
                "urgent handler unreachable on every channel: %s",
                "next person" if moved else "nothing to move",
                extra={"event": "urgent.unreachable", "code": err.code},
            )
            self.metrics.inc("permanence_urgent_unreachable_total")
            return
        self.metrics.inc("permanence_urgent_notices_total", channel="teams", outcome="sent")
        await self.urgent.reached(now=self.clock(), request_id=request_id, step=step, channel="teams")

    async def _urgent_ack_check(self, typed: UrgentAckCheck, _message: OutboxMessage) -> bool:
        """Reached on Teams but not taken in time: the e-mail too (the deadline still escalates)."""
        request_id, step = typed.urgent_id, _step(typed.payload())
        handler = await self.urgent.waiting_for(request_id, step)
        if handler is not None:
            await self._urgent_mail(request_id, step, handler.mailbox)
        return False

    async def _urgent_mail(self, request_id: str, step: int | None, address: str) -> bool:
        """The neutral e-mail to the handler; True when it was accepted for delivery."""
        if not address:
            self.metrics.inc("permanence_urgent_notices_total", channel="mail", outcome="no_mailbox")
            return False
        try:
            await self.reach.send_urgent_mail(address, open_url=self.open_url)
        except CalendarError as err:
            log.warning("urgent e-mail not sent: %s", err.code, extra={"event": "urgent.mail_failed", "code": err.code})
            self.metrics.inc("permanence_urgent_notices_total", channel="mail", outcome="failed")
            return False
        self.metrics.inc("permanence_urgent_notices_total", channel="mail", outcome="sent")
        await self.urgent.reached(now=self.clock(), request_id=request_id, step=step, channel="mail")
        return True

    def _mailbox(self, worker_id: str) -> Mailbox:
        worker = self.context.directory.worker(worker_id)
        return Mailbox(worker_id=worker.id, address=worker.mailbox or worker.object_id or worker.id)

    async def _draft(self, appointment_id: str) -> tuple[Any, EventDraft]:
        async with self.store.unit_of_work(read_only=True) as uow:
            stored = await uow.appointments.get(appointment_id)
            # Only when she asked for it at booking: otherwise her calendar, her delegates and
            # the mail trace would show that she meets the social worker.
            agent_id = stored.appointment.agent_id
            email = await uow.agents.email(agent_id, grant=delivery_grant(agent_id)) if stored.invite_agent else ""
        appointment = stored.appointment
        plan = self.context.deployment.plans.get(appointment.worker_id)
        # A place only where the worker must go: nothing for a remote mode (Teams, phone) nor
        # for a home visit, whose address is agreed by phone.
        locations = {
            Mode.IN_PERSON: plan.place if plan else "",
            Mode.TEAMS: "",
            Mode.PHONE: "",
            Mode.OTHER_SITE: self.context.directory.site(stored.site_id).name,
            Mode.HOME_VISIT: "",
        }
        draft = EventDraft(
            transaction_id=stored.transaction_id,
            subject=self.subject,
            start=appointment.start,
            end=appointment.end,
            location=locations[appointment.mode],
            online=appointment.mode is Mode.TEAMS,
            body=f"Référence {stored.reference}. Détails dans l'application Permanence (Teams).",
            attendee_email=email,
        )
        return stored, draft

    async def _create(self, typed: CalendarCreate | CalendarUpdate, message: OutboxMessage) -> bool:
        try:
            stored, draft = await self._draft(typed.appointment_id)
        except NotFound:
            return False
        if stored.outlook_event_id or not stored.appointment.status.is_active:
            return False  # already written (a retried message), or cancelled before it was
        written = await self.provider.create_event(self._mailbox(stored.appointment.worker_id), draft)
        async with self.store.unit_of_work() as uow:
            now = self.clock()
            await uow.appointments.set_outlook(stored.id, written.event_id, written.join_url, now)
            await uow.outbox.complete(message.id, self.name, now)
            await uow.commit()
        self.metrics.inc("permanence_calendar_writes_total", operation="create")
        return True

    async def _update(self, typed: CalendarUpdate, message: OutboxMessage) -> bool:
        stored, draft = await self._draft(typed.appointment_id)
        if not stored.outlook_event_id:
            return await self._create(typed, message)
        written = await self.provider.update_event(
            self._mailbox(stored.appointment.worker_id), stored.outlook_event_id, draft
        )
        async with self.store.unit_of_work() as uow:
            now = self.clock()
            await uow.appointments.set_outlook(stored.id, written.event_id, written.join_url or stored.join_url, now)
            await uow.outbox.complete(message.id, self.name, now)
            await uow.commit()
        self.metrics.inc("permanence_calendar_writes_total", operation="update")
        return True

    async def _cancel(self, typed: CalendarCancel, _message: OutboxMessage) -> bool:
        async with self.store.unit_of_work(read_only=True) as uow:
            stored = await uow.appointments.get(typed.appointment_id)
        if not stored.outlook_event_id:
            return False  # never reached the calendar: nothing to remove
        await self.provider.cancel_event(
            self._mailbox(stored.appointment.worker_id), stored.outlook_event_id, "Rendez-vous annulé."
        )
        self.metrics.inc("permanence_calendar_writes_total", operation="cancel")
        return False


def _step(payload: dict[str, Any]) -> int | None:
    """The escalation step a message is about (None: written before steps were recorded)."""
    value = payload.get("step")
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
