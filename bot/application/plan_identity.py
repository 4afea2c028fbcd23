"""Who is a worker, and who replaces whom, changes only with the operator's approval (issue 22).

Whoever can edit the plan file could otherwise make any Entra account a worker (she then reads
cases). The plan's identities (workers' ids, roles and Entra object ids, replacements, permanent
replacements) have a fingerprint; each plan applied is audited with it and with what changed
(plan ids and the workers' object ids only: no agent's data). A plan that adds or changes an
identity applies only if the operator approved that very fingerprint (`permanence plan
approve`, an audited entry of the chain, which the plan's editor and the DBA cannot forge);
otherwise the reload (or the start) is refused and the running plan stays. Removals apply freely.
The first plan a deployment ever applies is recorded as it is."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from booking.document import Deployment
from bot.application.messages import NotifyWorker, queue
from bot.application.ports import UnitOfWork, UnitsOfWork

APPLY = "plan.apply"
APPROVE = "plan.approve"
STATE_KEY = "plan.identities"  # the last applied identities, to tell what changed (not trusted)


def identities(deployment: Deployment) -> dict[str, list[list[str]]]:
    directory = deployment.directory
    return {
        "workers": sorted([w.id, w.role.value, w.object_id.lower()] for w in directory.workers),
        "replacements": sorted([titular, *chain] for titular, chain in directory.replacements.items()),
        "permanent": sorted([p.predecessor_id, p.successor_id, p.effective.isoformat()] for p in directory.permanent),
    }


def fingerprint(deployment: Deployment) -> str:
    return _fingerprint(identities(deployment))


def _fingerprint(value: dict[str, list[list[str]]]) -> str:
    data = json.dumps(value, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(data.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Change:
    action: str  # plan.worker_added/_removed, plan.identity_changed, plan.replacements_changed/_reduced
    worker_id: str
    detail: str  # an object id or the replacement chain: plan ids and workers' object ids only

    @property
    def needs_approval(self) -> bool:
        return self.action not in ("plan.worker_removed", "plan.replacements_reduced")

    def __str__(self) -> str:
        return f"{self.action} {self.worker_id} {self.detail}".strip()


def changes(old: dict[str, list[list[str]]] | None, new: dict[str, list[list[str]]]) -> list[Change]:
    old = old or {"workers": [], "replacements": [], "permanent": []}
    before = {w[0]: w for w in old.get("workers", [])}
    after = {w[0]: w for w in new["workers"]}
    found = [Change("plan.worker_added", i, f"oid:{after[i][2]}") for i in sorted(after.keys() - before.keys())]
    found += [Change("plan.worker_removed", i, f"oid:{before[i][2]}") for i in sorted(before.keys() - after.keys())]
    found += [
        Change("plan.identity_changed", i, f"oid:{after[i][2]} role:{after[i][1]}")
        for i in sorted(after.keys() & before.keys())
        if after[i] != before[i]
    ]
    chains = {r[0]: r[1:] for r in old.get("replacements", [])}
    for row in new["replacements"]:
        titular, chain = row[0], row[1:]
        if chain == chains.get(titular):
            continue
        reduced = _subsequence(chain, chains.get(titular, []))  # someone left the chain: nobody gained
        action = "plan.replacements_reduced" if reduced else "plan.replacements_changed"
        found.append(Change(action, titular, f"replacements:{'>'.join(chain)}"))
    old_permanent = {json.dumps(r) for r in old.get("permanent", [])}
    for row in new["permanent"]:
        if json.dumps(row) not in old_permanent:
            found.append(Change("plan.replacements_changed", row[0], f"permanent:{'>'.join(row[1:])}"))
    return found


def _subsequence(short: list[str], long: list[str]) -> bool:
    rest = iter(long)
    return all(any(x == y for y in rest) for x in short)


class PlanRefused(Exception):
    """The plan changes who is a worker without the operator's approval (the message says so)."""


def summary(deployment: Deployment, found: list[Change]) -> str:
    """What changed, for the workers' notice: their names as the plan gives them (no object id)."""
    names = {w.id: w.name for w in deployment.directory.workers}
    labels = {
        "plan.worker_added": "arrivée",
        "plan.worker_removed": "départ",
        "plan.identity_changed": "compte Teams modifié",
        "plan.replacements_changed": "remplacement modifié",
        "plan.replacements_reduced": "remplacement retiré",
    }
    return " ; ".join(f"{labels.get(c.action, c.action)} : {names.get(c.worker_id, c.worker_id)}" for c in found)


async def _record(
    uow: UnitOfWork, deployment: Deployment, found: list[Change], now: datetime, how: str, *, notify: bool
) -> None:
    for change in found:
        await uow.audit.record(
            actor="plan",
            action=change.action,
            subject_type="worker",
            subject_id=change.worker_id,
            operator=change.detail[:200],
            now=now,
        )
    await uow.audit.record(
        actor="plan", action=APPLY, subject_type="plan", subject_id=fingerprint(deployment), operator=how, now=now
    )
    await uow.sync_state.put(STATE_KEY, identities(deployment), now)
    if notify and found:  # every worker of the new plan is told who now reads cases with her
        said = summary(deployment, found)
        for worker in deployment.directory.workers:
            await queue(
                uow.outbox, NotifyWorker(worker.id, "plan_changed", {"summary": said}), now, aggregate_id=worker.id
            )


async def apply(store: UnitsOfWork, deployment: Deployment, now: datetime, *, how: str) -> list[Change]:
    """Check and audit a plan about to apply (`how`: start, reload); raise `PlanRefused` when it
    adds or changes an identity that the operator did not approve. Returns what changed."""
    print_ = fingerprint(deployment)
    async with store.unit_of_work() as uow:
        last = await uow.audit.latest_subject(APPLY)
        if last == print_:
            return []
        kept = await uow.sync_state.get(STATE_KEY)
        # The kept identities tell what changed only if they are the ones the chain last applied.
        trusted = kept is not None and _fingerprint(kept) == last
        found = changes(kept if trusted else None, identities(deployment))
        unapproved = not trusted or any(c.needs_approval for c in found)
        if last is not None and unapproved and await uow.audit.latest_subject(APPROVE, print_) is None:
            raise PlanRefused(
                "les intervenants du plan ont changé sans approbation : l'opérateur doit lancer "
                "« permanence plan approve » / the plan's workers or replacements changed without the "
                f"operator's approval (run 'permanence plan approve'): {'; '.join(map(str, found))}"
            )
        await _record(uow, deployment, found, now, how, notify=last is not None)
        await uow.commit()
    return found


async def pending(store: UnitsOfWork, deployment: Deployment) -> tuple[str, list[Change]]:
    """For `permanence doctor`: "applied" (the plan's identities are the running ones),
    "approved" (changed and approved, to reload), "unapproved" (a reload or a start would be
    refused) or "removals" (only workers or replacements taken out), with what changed."""
    print_ = fingerprint(deployment)
    async with store.unit_of_work(read_only=True) as uow:
        last = await uow.audit.latest_subject(APPLY)
        if last is None or last == print_:
            return "applied", []
        kept = await uow.sync_state.get(STATE_KEY)
        trusted = kept is not None and _fingerprint(kept) == last
        found = changes(kept if trusted else None, identities(deployment))
        if await uow.audit.latest_subject(APPROVE, print_) is not None:
            return "approved", found
    return ("unapproved" if not trusted or any(c.needs_approval for c in found) else "removals"), found


async def approve(store: UnitsOfWork, deployment: Deployment, now: datetime, *, operator: str) -> list[Change]:
    """The operator approves the identities of `deployment` (the configured plan file): audited."""
    async with store.unit_of_work() as uow:
        found = changes(await uow.sync_state.get(STATE_KEY), identities(deployment))
        await uow.audit.record(
            actor="admin",
            action=APPROVE,
            subject_type="plan",
            subject_id=fingerprint(deployment),
            operator=operator,
            now=now,
        )
        await uow.commit()
    return found
