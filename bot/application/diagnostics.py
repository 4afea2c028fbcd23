"""What `permanence doctor` and `/readyz` find about the workers and the background work: each
worker's Teams reachability and mailbox, the Graph subscriptions, the outbox.

Workers are named by their key in the plan (`ass`, `remplacante`), never by name or Entra id;
`code` is short and safe for an unauthenticated probe, `detail` is for the operator.
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from booking.model import Worker
from booking.records import Tampered
from bot.application.context import Context
from graph.provider import CalendarError, CalendarProvider, Mailbox, MailboxAccess

# The service renews a subscription once less than a day is left, every hour: less than half a
# day left means renewals have been failing for hours.
SUBSCRIPTION_MARGIN = timedelta(hours=12)


class Status(enum.StrEnum):
    OK = "ok"
    WARNING = "warning"  # worth a look, not a failure
    PROBLEM = "problem"  # something fails or will: `doctor` exits 1
    NOT_APPLICABLE = "n/a"


@dataclass(frozen=True, kw_only=True, slots=True)
class Check:
    area: str  # settings, database, keys, plan, calendar, teams, mailbox, subscription, outbox
    subject: str  # what in the area: a worker's plan key, a year, "" for the whole area
    status: Status
    code: str  # short, no personal data (shown by /readyz): "ok", "no_conversation", "graph_403"…
    detail: str = ""  # for the operator: what was found and what to do

    @property
    def failed(self) -> bool:
        return self.status is Status.PROBLEM


def ok(area: str, subject: str = "", detail: str = "") -> Check:
    return Check(area=area, subject=subject, status=Status.OK, code="ok", detail=detail)


def problem(area: str, subject: str, code: str, detail: str) -> Check:
    return Check(area=area, subject=subject, status=Status.PROBLEM, code=code, detail=detail)


class Diagnostics:
    def __init__(self, context: Context, provider: CalendarProvider, *, webhooks: bool) -> None:
        self.context = context
        self.provider = provider
        self.webhooks = webhooks  # Graph change notifications configured (public URL and client state)

    @property
    def workers(self) -> tuple[Worker, ...]:
        return tuple(self.context.directory.workers)

    async def teams(self) -> list[Check]:
        """A worker is reachable in Teams once a conversation reference is stored for her (she
        wrote to the bot, or the app was installed for her); read without decrypting it."""
        checks = []
        async with self.context.store.unit_of_work(read_only=True) as uow:
            for worker in self.workers:
                if not worker.object_id:
                    checks.append(
                        problem(
                            "teams",
                            worker.id,
                            "no_object_id",
                            "pas d'identifiant Entra pour elle (PERMANENCE_IDENTITIES)",
                        )
                    )
                    continue
                try:
                    agent_id = await uow.agents.find(worker.object_id)
                except Tampered:
                    checks.append(
                        problem(
                            "teams",
                            worker.id,
                            "tampered",
                            "her profile does not hold her sealed Entra id (changed in the database): "
                            "nothing is sent to it; restore the profile from a backup",
                        )
                    )
                    continue
                if agent_id is None or not await uow.agents.has_conversation(agent_id):
                    checks.append(
                        problem(
                            "teams",
                            worker.id,
                            "no_conversation",
                            "pas encore de conversation Teams : les messages ne peuvent pas l'atteindre ; "
                            "installez l'application pour elle (centre d'administration Teams) "
                            "ou demandez-lui d'écrire une fois au bot",
                        )
                    )
                    continue
                checks.append(ok("teams", worker.id, "référence de conversation enregistrée"))
        return checks

    async def mailboxes(self, now: datetime) -> list[Check]:
        """Each worker's mailbox settings and calendar read through the provider, concurrently."""
        return list(await asyncio.gather(*(self._mailbox(worker, now) for worker in self.workers)))

    async def _mailbox(self, worker: Worker, now: datetime) -> Check:
        if self.provider.name == "local":
            return Check(area="mailbox", subject=worker.id, status=Status.NOT_APPLICABLE, code="local_calendar")
        if not worker.mailbox:
            return problem(
                "mailbox", worker.id, "no_mailbox", "pas de boîte aux lettres pour elle (PERMANENCE_IDENTITIES)"
            )
        try:
            access = await self.provider.check_mailbox(Mailbox(worker_id=worker.id, address=worker.mailbox), now)
        except CalendarError as err:
            hint = {
                403: "Graph refuse : une stratégie d'accès ou une permission manquante l'exclut",
                404: "Graph ne connaît pas cette boîte : vérifiez l'adresse dans PERMANENCE_IDENTITIES",
            }.get(err.status or 0, "Graph n'a pas pu être lu")
            code = f"graph_{err.status}" if err.status else err.code[:40]
            return problem("mailbox", worker.id, code, f"illisible ({err.code}) : {hint}")
        if access is MailboxAccess.NOT_APPLICABLE:
            return Check(area="mailbox", subject=worker.id, status=Status.NOT_APPLICABLE, code="no_mailbox_to_read")
        return ok("mailbox", worker.id, "réglages de la boîte et agenda lisibles")

    async def subscriptions(self, now: datetime) -> list[Check]:
        """The Graph subscription of each mailbox, as the service keeps it in the database."""
        if self.provider.name == "local" or not self.webhooks:
            why = (
                "agenda intégré"
                if self.provider.name == "local"
                else "webhooks désactivés : interrogation delta seulement"
            )
            return [Check(area="subscription", subject="", status=Status.NOT_APPLICABLE, code="off", detail=why)]
        checks = []
        async with self.context.store.unit_of_work(read_only=True) as uow:
            for worker in self.workers:
                if not worker.mailbox:
                    continue
                saved = await uow.sync_state.get(f"subscription:{worker.id}") or {}
                expires = datetime.fromisoformat(saved["expires"]) if saved.get("expires") else None
                if not saved.get("id") or expires is None:
                    checks.append(
                        problem(
                            "subscription",
                            worker.id,
                            "missing",
                            "pas d'abonnement Graph : le service le crée dans l'heure dès que Graph l'accepte",
                        )
                    )
                elif expires <= now:
                    checks.append(problem("subscription", worker.id, "expired", f"expiré le {expires.isoformat()}"))
                elif expires - now < SUBSCRIPTION_MARGIN:
                    checks.append(
                        problem(
                            "subscription",
                            worker.id,
                            "expiring",
                            f"expire le {expires.isoformat()} : les renouvellements échouent (voir les journaux)",
                        )
                    )
                else:
                    checks.append(ok("subscription", worker.id, f"jusqu'au {expires.isoformat()}"))
        return checks

    async def outbox(self, now: datetime) -> list[Check]:
        async with self.context.store.unit_of_work(read_only=True) as uow:
            health = await uow.outbox.health(now)
        detail = f"à traiter {health.due}, en retard {health.overdue}, abandonnées {health.dead}"
        if health.dead:
            return [problem("outbox", "", "dead", f"{detail} : voir « permanence outbox list --state dead »")]
        if health.overdue:
            return [
                problem("outbox", "", "overdue", f"{detail} : les envois sont en retard (le service tourne-t-il ?)")
            ]
        return [ok("outbox", "", detail)]
