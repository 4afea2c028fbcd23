"""The application layer: every use case of Permanence, one concern per module, in the project's
own types. It depends on the pure domain (`booking`), on protocols for persistence
(`ports.py`, implemented by `storage/`) and on the calendar-provider interface (`graph.provider`);
never on botbuilder, aiohttp or the command line (a test enforces it).

    access.py          who may read or act on who/why, and the audit of each read
    offers.py          slots offered to an agent; checking a chosen slot
    bookings.py        book, see, move, cancel (agents)
    urgent.py          file, route, take, escalate urgent requests
    worker_views.py    agenda, pending requests and their decision (workers)
    absences.py        declared absences
    local_calendar.py  block a time / add a day in the embedded calendar
    outlook.py         apply what Outlook says (busy, days, out of office, her moves)
    calendar_sync.py   delta sync, webhooks and subscriptions around `outlook.py`
    outbox.py          the outbox dispatcher: calendar writes and proactive messages
    people.py          recognising agents and workers, what agents told us before
    rights.py          an agent's own data: what is kept and until when, erasure (GDPR 15, 17)
    shown_cards.py     the cards on screen that act on appointments (updated when they change)
    retention.py, reports.py, handover.py   the administrative use cases
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from booking.document import Deployment
from booking.records import RetentionPeriods
from bot.application.absences import Absences
from bot.application.access import AccessPolicy
from bot.application.bookings import Bookings
from bot.application.context import Context
from bot.application.local_calendar import LocalCalendarEdits
from bot.application.offers import Offers
from bot.application.outlook import OutlookChanges
from bot.application.people import People
from bot.application.ports import UnitsOfWork
from bot.application.rights import Rights
from bot.application.shown_cards import ShownCards
from bot.application.urgent import UrgentRequests
from bot.application.worker_views import WorkerViews
from graph.provider import ImmediateCalendar


class Application:
    """The use cases, wired to one store and one deployment."""

    def __init__(
        self,
        store: UnitsOfWork,
        deployment: Deployment,
        *,
        reminders: Sequence[tuple[str, timedelta]] = (),
        urgent_ack_after: timedelta = timedelta(minutes=15),
        retention: RetentionPeriods | None = None,
        immediate_calendar: ImmediateCalendar | None = None,
    ) -> None:
        self.context = Context(
            store=store,
            deployment=deployment,
            reminders=tuple(reminders),
            urgent_ack_after=urgent_ack_after,
            retention=retention or RetentionPeriods(),
            immediate_calendar=immediate_calendar,
        )
        self.access = AccessPolicy(self.context)
        self.people = People(self.context)
        self.offers = Offers(self.context)
        self.bookings = Bookings(self.context, self.offers)
        self.urgent = UrgentRequests(self.context, self.access)
        self.worker_views = WorkerViews(self.context, self.access)
        self.absences = Absences(self.context)
        self.local_calendar = LocalCalendarEdits(self.context)
        self.outlook = OutlookChanges(self.context)
        self.rights = Rights(self.context, self.access)
        self.shown_cards = ShownCards(self.context)

    @property
    def deployment(self) -> Deployment:
        return self.context.deployment

    async def sync_workers(self) -> None:
        """Mirror the plan's workers in the store (at start-up and after a plan change)."""
        async with self.context.store.unit_of_work() as uow:
            await uow.workers.sync(self.context.directory.workers)
            await uow.commit()
