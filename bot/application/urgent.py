"""Urgent requests: filed by an agent, routed to the worker or her acting replacement with a
call-back deadline in working hours, taken by a handler, escalated when nobody took them.

Reaching the handler (issue 13): the outbox tries Teams, then the neutral e-mail; `reached`
records the first channel that worked (the agent is then told who will call her back) and
`unreachable` moves the request to the next person of the chain at once. The agent is told
when the chain ends at the provider's hotline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from booking.model import Worker
from booking.records import ConcurrentChange, NotFound, UrgentRequest
from booking.urgency import UrgentRoute, triage
from bot.application.access import AccessPolicy, UrgentDetails, actor, own_urgent_grant
from bot.application.context import AccessDenied, Context, once, settle
from bot.application.messages import UrgentAckCheck, queue
from bot.application.ports import UnitOfWork


@dataclass(frozen=True, kw_only=True, slots=True)
class UrgentFiled:
    request: UrgentRequest
    handler: Worker | None  # None: the provider's hotline
    deadline: datetime | None
    repeat: bool = False  # added to her request already in hand: nobody was notified again


# A request by an agent who has one not yet taken, or one filed this recently, is added to it:
# the chain already reached (or is reaching) someone; notifying it again would bury the others.
REPEAT_WINDOW = timedelta(minutes=30)


@dataclass(frozen=True, kw_only=True, slots=True)
class OpenUrgent:
    request: UrgentRequest
    details: UrgentDetails

    @property
    def deadline(self) -> datetime | None:
        return self.request.route[self.request.step][1]


async def tell_waiting(context: Context, uow: UnitOfWork, worker: Worker, now: datetime) -> int:
    """`worker` has just become reachable: each open request left to the hotline because nobody
    could be reached, and which she may take, is announced to her. Returns how many."""
    told = 0
    for request in await uow.urgent.open_requests():
        if request.handler_id is None and worker.id in {handler for handler, _ in request.route}:
            await context.tell_worker(uow, worker.id, "urgent_waiting", now, urgent_id=request.id)
            told += 1
    return told


class UrgentRequests:
    def __init__(self, context: Context, access: AccessPolicy) -> None:
        self.context = context
        self.access = access

    async def file(
        self,
        *,
        now: datetime,
        agent_id: str,
        description: str,
        phone: str,
        availability: str,
        key: str | None = None,
        danger: bool = False,
    ) -> UrgentFiled:
        """File an urgent request for the agent's site (head office when she never chose one);
        her phone is remembered for next time. `danger`: she chose « Je suis en danger
        maintenant » (never guessed from her words): the shorter deadline, the first in lists."""
        context = self.context
        async with context.store.unit_of_work() as uow:
            await once(uow, key, "urgent", now)
            await uow.urgent.serialize_agent(agent_id)
            in_hand = [
                r
                for r in await uow.urgent.of_agent(agent_id)
                if r.status == "open" or now - r.received_at < REPEAT_WINDOW
            ]
            # A repeat adds to the request in hand, unless it declares a danger the first did not:
            # then it is a new request, on the shorter deadline (and later repeats join it).
            if in_hand and (
                not danger or await uow.urgent.danger(in_hand[-1].id, grant=own_urgent_grant(agent_id, in_hand[-1].id))
            ):
                return await self._add_to(uow, in_hand[-1], agent_id, description, phone, availability, key, now)
            site_id, _ = await uow.agents.profile(agent_id)
            site_id = site_id if site_id in {s.id for s in context.directory.sites} else None
            site_id = site_id or context.directory.head_office.id
            await uow.agents.set_phone(agent_id, phone.strip(), now)
            route = triage(
                now=now,
                site_id=site_id,
                directory=context.directory,
                absences=await uow.absences.overlapping(now - timedelta(days=400), now + timedelta(days=1)),
                policy=context.deployment.urgent,
                holidays=context.holidays,
                danger=danger,
            )
            request = await uow.urgent.add(
                agent_id=agent_id,
                site_id=site_id,
                route=[(s.worker_id, s.deadline) for s in route.steps],
                description=description.strip(),
                phone=phone.strip(),
                availability=availability.strip(),
                now=now,
                danger=danger,
            )
            # Nobody is tried who cannot be reached at all (no Teams chat, no e-mail): the agent
            # gets one answer now, instead of « we are telling her » followed by « call the hotline ».
            step = await self._first_reachable(uow, route)
            first = route.steps[step]
            if step:
                request = await uow.urgent.escalate(request.id, step, first.worker_id, version=request.version)
            await context.tell_worker(uow, first.worker_id, "urgent", now, urgent_id=request.id, step=str(step))
            await uow.audit.record(
                actor="agent", action="urgent.file", subject_type="urgent", subject_id=request.id, now=now
            )
            await settle(uow, key, request.id)
            await uow.commit()
        handler = context.directory.worker(first.worker_id) if first.worker_id else None
        return UrgentFiled(request=request, handler=handler, deadline=first.deadline)

    async def _add_to(
        self,
        uow: UnitOfWork,
        request: UrgentRequest,
        agent_id: str,
        description: str,
        phone: str,
        availability: str,
        key: str | None,
        now: datetime,
    ) -> UrgentFiled:
        """A repeat: what she wrote is added to her request in hand; no one is notified again."""
        await uow.urgent.add_to(
            request.id,
            description=description.strip(),
            phone=phone.strip(),
            availability=availability.strip(),
            grant=own_urgent_grant(agent_id, request.id),
        )
        if phone.strip():
            await uow.agents.set_phone(agent_id, phone.strip(), now)
        await uow.audit.record(
            actor="agent", action="urgent.repeat", subject_type="urgent", subject_id=request.id, now=now
        )
        await settle(uow, key, request.id)
        await uow.commit()
        handler_id, deadline = request.route[request.step]
        handler_id = request.acknowledged_by or handler_id
        known = {w.id: w for w in self.context.directory.workers}
        return UrgentFiled(request=request, handler=known.get(handler_id or ""), deadline=deadline, repeat=True)

    async def _first_reachable(self, uow: UnitOfWork, route: UrgentRoute) -> int:
        """The first step of `route` whose person can be reached on some channel (the last
        step, the hotline, when nobody can)."""
        for index, step in enumerate(route.steps[:-1]):
            if step.worker_id is not None and await self.reachable(uow, step.worker_id):
                return index
        return len(route.steps) - 1

    async def reachable(self, uow: UnitOfWork, worker_id: str) -> bool:
        """A Teams chat with her is known, or the neutral e-mail can be sent to her."""
        worker = self.context.directory.worker(worker_id)
        if worker.mailbox and self.context.urgent_mail:
            return True
        if not worker.object_id:
            return False
        person = await uow.agents.find(worker.object_id)
        return person is not None and await uow.agents.has_conversation(person)

    async def get_own(self, *, agent_id: str, request_id: str) -> UrgentRequest:
        """One of the agent's own requests (no confidential field)."""
        async with self.context.store.unit_of_work(read_only=True) as uow:
            try:
                request = await uow.urgent.get(request_id)
            except NotFound as err:
                raise AccessDenied from err
        if request.agent_id != agent_id:
            raise AccessDenied
        return request

    async def open_for(self, *, now: datetime, worker: Worker) -> list[OpenUrgent]:
        """The open requests routed to `worker` now, each read audited."""
        found = []
        async with self.context.store.unit_of_work() as uow:
            for request in await uow.urgent.open_requests():
                if await self.access.may_handle_urgent(uow, worker, request, now):
                    found.append(
                        OpenUrgent(request=request, details=await self.access.read_urgent(uow, worker, request, now))
                    )
            await uow.commit()
        # The most urgent first: a declared danger, then the earliest deadline.
        return sorted(found, key=lambda f: (not f.details.danger, f.deadline or f.request.received_at))

    async def take(self, *, now: datetime, worker: Worker, request_id: object, key: str | None = None) -> UrgentRequest:
        """« Je m'en occupe »: the handler takes the request; the agent is told."""
        async with self.context.store.unit_of_work() as uow:
            await once(uow, key, "urgent.take", now)
            if not isinstance(request_id, str):
                raise AccessDenied
            try:
                request = await uow.urgent.get(request_id)
            except NotFound as err:
                raise AccessDenied from err
            if not await self.access.may_handle_urgent(uow, worker, request, now):
                raise AccessDenied
            taken = await uow.urgent.acknowledge(request.id, worker.id, now)
            await self.context.tell_agent(
                uow, request.agent_id, "urgent_taken", now, urgent_id=request.id, worker_id=worker.id
            )
            await uow.audit.record(
                actor=actor(worker), action="urgent.acknowledge", subject_type="urgent", subject_id=request.id, now=now
            )
            await settle(uow, key, request.id)
            await uow.commit()
            return taken

    async def escalate_due(self, now: datetime) -> int:
        """Move unacknowledged urgent requests to the next step whose turn it is."""
        moved = 0
        async with self.context.store.unit_of_work() as uow:
            for request in await uow.urgent.open_requests():
                step = request.step
                while (
                    step < len(request.route) - 1
                    and (deadline := request.route[step][1]) is not None
                    and now >= deadline
                ):
                    step += 1
                if step != request.step:
                    await self._move(uow, request, step, now)
                    moved += 1
            await uow.commit()
        return moved

    async def _move(self, uow: UnitOfWork, request: UrgentRequest, step: int, now: datetime) -> None:
        """Hand the request to the person of `step` (the hotline: the agent is told to call it)."""
        handler = request.route[step][0]
        await uow.urgent.escalate(request.id, step, handler, version=request.version)
        await self.context.tell_worker(uow, handler, "urgent", now, urgent_id=request.id, step=str(step))
        if handler is None:
            await self.context.tell_agent(uow, request.agent_id, "urgent_hotline", now, urgent_id=request.id)
        await uow.audit.record(
            actor="system", action="urgent.escalate", subject_type="urgent", subject_id=request.id, now=now
        )

    # -- reaching the handler (called by the outbox) ------------------------------------------

    async def waiting_for(self, request_id: str, step: int | None) -> Worker | None:
        """The handler who must be reached for `step` (None: the current one), if the request is
        still open at that step with a person (not the hotline) in charge; else None."""
        async with self.context.store.unit_of_work(read_only=True) as uow:
            try:
                request = await uow.urgent.get(request_id)
            except NotFound:
                return None
        if request.status != "open" or (step is not None and request.step != step) or request.handler_id is None:
            return None
        return self.context.directory.worker(request.handler_id)

    async def reached(self, *, now: datetime, request_id: str, step: int | None, channel: str) -> bool:
        """The handler of `step` was reached on `channel` ("teams" or "mail"). The first time, the
        agent is told who will call her back; after Teams, her acknowledgement is awaited for
        `urgent_ack_after` before the e-mail is sent too. False when nothing was recorded."""
        async with self.context.store.unit_of_work() as uow:
            try:
                request = await uow.urgent.get(request_id)
            except NotFound:
                return False
            step = request.step if step is None else step
            if request.status != "open" or request.step != step:
                return False
            first = await uow.urgent.mark_reached(request.id, step)
            if first:
                await self.context.tell_agent(
                    uow, request.agent_id, "urgent_reached", now, urgent_id=request.id, step=str(step)
                )
            if channel == "teams":
                await queue(
                    uow.outbox,
                    UrgentAckCheck(request.id, str(step)),
                    now,
                    aggregate_id=request.id,
                    not_before=now + self.context.urgent_ack_after,
                )
            await uow.audit.record(
                actor="system",
                action=f"urgent.reached.{channel}",
                subject_type="urgent",
                subject_id=request.id,
                now=now,
            )
            await uow.commit()
        return first

    async def unreachable(self, *, now: datetime, request_id: str, step: int | None) -> bool:
        """Nobody could reach the handler of `step` on any channel: the next person of the chain
        takes over at once, without waiting for the deadline. False when it had moved on already."""
        async with self.context.store.unit_of_work() as uow:
            try:
                request = await uow.urgent.get(request_id)
            except NotFound:
                return False
            step = request.step if step is None else step
            if request.status != "open" or request.step != step or step >= len(request.route) - 1:
                return False
            try:
                await self._move(uow, request, step + 1, now)
            except ConcurrentChange:
                return False  # another replica (or the deadline job) moved it first
            await uow.commit()
        return True

    def handled_by_titular(self, request: UrgentRequest, worker_id: str | None) -> bool:
        """Whether `worker_id` is the titular of the request's site (else she acts as a replacement)."""
        titular = self.context.directory.titular_for_site(request.site_id, self.context.local_date(request.received_at))
        return titular.id == worker_id
