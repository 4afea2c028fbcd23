"""Keeping the product in step with the workers' Outlook calendars: delta sync, change
notifications (webhooks) and their subscriptions. Notifications are acknowledged at once
and queued in the outbox; processing re-reads the calendar, so duplicates, disorder and
missed notifications are harmless, and a periodic delta sync repairs anything lost."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from bot.application.context import Context
from bot.application.messages import CalendarResync, GraphSubscription, queue
from bot.application.outlook import OutlookChanges
from bot.metrics import Metrics
from graph.provider import CalendarError, Mailbox, SyncCursor

log = logging.getLogger(__name__)

RENEW_BEFORE = timedelta(hours=24)
# Graph delivers change notifications in small batches; anything far larger is a flood.
MAX_NOTIFICATIONS = 1000


class BatchTooLarge(ValueError):
    """A webhook batch with more items than Graph sends: refused whole (413)."""


class CalendarSync:
    def __init__(
        self,
        *,
        context: Context,
        outlook: OutlookChanges,
        provider: Any,
        clock: Callable[[], datetime],
        metrics: Metrics,
        public_url: str = "",
        client_state: str = "",
    ) -> None:
        self.context = context
        self.outlook = outlook
        self.store = context.store
        self.provider = provider
        self.clock = clock
        self.metrics = metrics
        self.public_url = public_url.rstrip("/")
        self.client_state = client_state

    def mailboxes(self) -> list[Mailbox]:
        return [Mailbox(worker_id=w.id, address=w.mailbox) for w in self.context.directory.workers if w.mailbox]

    def mailbox(self, worker_id: str) -> Mailbox:
        for mailbox in self.mailboxes():
            if mailbox.worker_id == worker_id:
                return mailbox
        raise KeyError(worker_id)

    # -- delta sync -------------------------------------------------------------------------

    async def sync_worker(self, worker_id: str, *, full: bool = False, replies: bool = False) -> dict[str, int]:
        """`replies`: re-read the automatic replies now (a change notification for her mailbox)."""
        key = f"delta:{worker_id}"
        async with self.store.unit_of_work(read_only=True) as uow:
            saved = await uow.sync_state.get(key) or {}
        cursor = SyncCursor(
            delta_link=None if full else saved.get("delta_link"),
            window_start=datetime.fromisoformat(saved["window_start"]) if saved.get("window_start") else None,
            window_end=datetime.fromisoformat(saved["window_end"]) if saved.get("window_end") else None,
            extra=dict(saved.get("extra", {})),
            replies_due=replies,
        )
        now = self.clock()
        result = await self.provider.sync(self.mailbox(worker_id), cursor, now)
        counts = await self.outlook.apply(worker_id, result, now)
        async with self.store.unit_of_work() as uow:
            await uow.sync_state.put(
                key,
                {
                    "delta_link": cursor.delta_link,
                    "window_start": cursor.window_start.isoformat() if cursor.window_start else None,
                    "window_end": cursor.window_end.isoformat() if cursor.window_end else None,
                    "extra": cursor.extra,
                    "synced_at": now.isoformat(),
                },
                now,
            )
            await uow.commit()
        for problem in result.problems:
            self.metrics.inc("permanence_graph_errors_total", code=problem[:40])
        self.metrics.inc("permanence_calendar_syncs_total", full=str(result.full).lower())
        self.metrics.inc("permanence_graph_requests_total", float(result.requests), operation="sync")
        return counts

    async def sync_all(self) -> None:
        for mailbox in self.mailboxes():
            try:
                await self.sync_worker(mailbox.worker_id)
            except CalendarError as err:
                self.metrics.inc("permanence_graph_errors_total", code=err.code[:40])
                log.warning("calendar sync failed: %s", err.code, extra={"event": "graph.sync", "code": err.code})

    # -- subscriptions ----------------------------------------------------------------------

    @property
    def webhooks_enabled(self) -> bool:
        return bool(self.public_url and self.client_state and hasattr(self.provider, "subscribe"))

    async def ensure_subscriptions(self, *, force: bool = False) -> None:
        if not self.webhooks_enabled:
            return
        now = self.clock()
        for mailbox in self.mailboxes():
            key = f"subscription:{mailbox.worker_id}"
            async with self.store.unit_of_work(read_only=True) as uow:
                saved = await uow.sync_state.get(key) or {}
            try:
                expires = datetime.fromisoformat(saved["expires"]) if saved.get("expires") else None
                if saved.get("id") and expires and not force and expires - now > RENEW_BEFORE:
                    continue
                if saved.get("id") and not force:
                    try:
                        new_expiry = await self.provider.renew(mailbox, saved["id"], now)
                        subscription_id = saved["id"]
                    except CalendarError as err:
                        if err.code != "not_found":
                            raise
                        subscription_id, new_expiry = await self._create(mailbox, now)
                else:
                    subscription_id, new_expiry = await self._create(mailbox, now)
            except CalendarError as err:
                self.metrics.inc("permanence_graph_errors_total", code=err.code[:40])
                log.warning("subscription upkeep failed: %s", err.code, extra={"event": "graph.subscription"})
                continue
            async with self.store.unit_of_work() as uow:
                await uow.sync_state.put(key, {"id": subscription_id, "expires": new_expiry.isoformat()}, now)
                await uow.commit()

    async def _create(self, mailbox: Mailbox, now: datetime) -> tuple[str, datetime]:
        result: tuple[str, datetime] = await self.provider.subscribe(
            mailbox,
            notification_url=f"{self.public_url}/api/graph/notifications",
            lifecycle_url=f"{self.public_url}/api/graph/lifecycle",
            client_state=self.client_state,
            now=now,
        )
        return result

    async def _worker_of_subscription(self, subscription_id: str) -> str | None:
        async with self.store.unit_of_work(read_only=True) as uow:
            for mailbox in self.mailboxes():
                saved = await uow.sync_state.get(f"subscription:{mailbox.worker_id}") or {}
                if saved.get("id") == subscription_id:
                    return mailbox.worker_id
        return None

    # -- webhooks ---------------------------------------------------------------------------

    def _trusted(self, item: dict[str, Any]) -> bool:
        given = item.get("clientState")
        return isinstance(given, str) and hmac.compare_digest(given.encode(), self.client_state.encode())

    async def _queue(self, message: CalendarResync | GraphSubscription) -> None:
        now = self.clock()
        async with self.store.unit_of_work() as uow:
            if not await uow.outbox.has_pending(message.kind, message.worker_id):  # many notifications, one sync
                await queue(uow.outbox, message, now, aggregate_id=message.worker_id)
            await uow.commit()

    def _batch(self, body: Any, what: str) -> list[Any]:
        """The items of a webhook batch: a batch larger than Graph ever sends is refused whole,
        logged and counted once, before any item is looked at (a flood costs one line)."""
        items = body.get("value") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise ValueError(f"not a {what} collection")
        if len(items) > MAX_NOTIFICATIONS:
            self.metrics.inc("permanence_refused_total", reason="graph_batch")
            log.warning(
                "graph %s batch refused: %d items (at most %d)",
                what,
                len(items),
                MAX_NOTIFICATIONS,
                extra={"event": "graph.refused"},
            )
            raise BatchTooLarge(what)
        return items

    def _untrusted(self, refused: int, total: int, what: str) -> None:
        """Items with a wrong clientState: one log line and one count for the whole batch."""
        if refused:
            self.metrics.inc("permanence_refused_total", reason="client_state")
            log.warning(
                "graph %s with a wrong clientState ignored: %d of %d",
                what,
                refused,
                total,
                extra={"event": "graph.refused"},
            )

    async def notifications(self, body: Any) -> int:
        """Queue a sync for each trusted notification; returns how many were accepted."""
        items = self._batch(body, "notification")
        accepted = refused = 0
        workers: dict[str, str | None] = {}
        for item in items:
            if not isinstance(item, dict) or not self._trusted(item):
                refused += 1
                continue
            subscription = str(item.get("subscriptionId", ""))
            if subscription not in workers:  # one look-up and one queued sync per subscription
                workers[subscription] = worker_id = await self._worker_of_subscription(subscription)
                if worker_id is not None:
                    await self._queue(CalendarResync(worker_id, replies=True))
            if workers[subscription] is None:
                continue
            accepted += 1
        self._untrusted(refused, len(items), "notification")
        self.metrics.inc("permanence_graph_notifications_total", float(accepted))
        return accepted

    async def lifecycle(self, body: Any) -> int:
        items = self._batch(body, "lifecycle notification")
        handled = refused = 0
        for item in items:
            if not isinstance(item, dict) or not self._trusted(item):
                refused += 1
                continue
            worker_id = await self._worker_of_subscription(str(item.get("subscriptionId", "")))
            event = str(item.get("lifecycleEvent", "")).lower()
            if worker_id is None:
                continue
            if event == "reauthorizationrequired":  # delivery pauses until answered, whatever time is left
                await self._queue(GraphSubscription(worker_id, reauthorize=True))
            elif event == "subscriptionremoved":
                await self._queue(GraphSubscription(worker_id, force=True))
                await self._queue(CalendarResync(worker_id, full=True))
            elif event == "missed":
                await self._queue(CalendarResync(worker_id, full=True))
            else:
                continue
            handled += 1
        self._untrusted(refused, len(items), "lifecycle notification")
        return handled

    async def handle_outbox(self, message: CalendarResync | GraphSubscription) -> None:
        if isinstance(message, CalendarResync):
            await self.sync_worker(message.worker_id, full=message.full, replies=message.replies)
        elif message.reauthorize:
            await self.reauthorize(message.worker_id)
        else:
            await self.ensure_subscriptions(force=message.force)

    async def reauthorize(self, worker_id: str) -> None:
        """Answer `reauthorizationRequired` at once; a subscription Graph no longer knows is
        created again. Failures raise, so the outbox retries."""
        key = f"subscription:{worker_id}"
        async with self.store.unit_of_work(read_only=True) as uow:
            saved = await uow.sync_state.get(key) or {}
        if not saved.get("id") or not self.webhooks_enabled:
            await self.ensure_subscriptions(force=True)
            return
        try:
            await self.provider.reauthorize(self.mailbox(worker_id), saved["id"])
        except CalendarError as err:
            if err.code != "not_found":
                raise
            await self.ensure_subscriptions(force=True)
