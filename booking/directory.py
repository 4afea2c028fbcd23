"""Who serves whom: sites, workers, zones, replacements and permanent replacements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from booking.model import Site, Topic, Worker, Zone


@dataclass(frozen=True, kw_only=True, slots=True)
class PermanentReplacement:
    """From `effective`, `successor` takes over the post (and the case files) of `predecessor`."""

    predecessor_id: str
    successor_id: str
    effective: date


@dataclass(frozen=True, kw_only=True, slots=True)
class Directory:
    sites: tuple[Site, ...]
    workers: tuple[Worker, ...]
    zones: tuple[Zone, ...]
    topics: tuple[Topic, ...]
    replacements: dict[str, tuple[str, ...]] = field(default_factory=dict)  # titular -> by priority
    permanent: tuple[PermanentReplacement, ...] = ()

    def __post_init__(self) -> None:
        worker_ids = {w.id for w in self.workers}
        site_ids = {s.id for s in self.sites}
        for zone in self.zones:
            if zone.worker_id not in worker_ids:
                raise ValueError(f"zone {zone.id} names an unknown worker")
            if not zone.site_ids <= site_ids:
                raise ValueError(f"zone {zone.id} names an unknown site")
        for titular, chain in self.replacements.items():
            if titular not in worker_ids or not set(chain) <= worker_ids:
                raise ValueError("a replacement chain names an unknown worker")
        for change in self.permanent:
            if {change.predecessor_id, change.successor_id} - worker_ids:
                raise ValueError("a permanent replacement names an unknown worker")
        if len({s.id for s in self.sites}) != len(self.sites):
            raise ValueError("site ids must be unique")
        if len(worker_ids) != len(self.workers):
            raise ValueError("worker ids must be unique")

    def site(self, site_id: str) -> Site:
        for site in self.sites:
            if site.id == site_id:
                return site
        raise KeyError(site_id)

    def worker(self, worker_id: str) -> Worker:
        for worker in self.workers:
            if worker.id == worker_id:
                return worker
        raise KeyError(worker_id)

    def topic(self, topic_id: str) -> Topic:
        for topic in self.topics:
            if topic.id == topic_id:
                return topic
        raise KeyError(topic_id)

    @property
    def head_office(self) -> Site:
        for site in self.sites:
            if site.head_office:
                return site
        raise LookupError("no head office configured")

    def _current_holder(self, worker_id: str, on: date) -> str:
        seen = {worker_id}
        changed = True
        while changed:
            changed = False
            for change in sorted(self.permanent, key=lambda c: c.effective):
                if change.predecessor_id == worker_id and change.effective <= on:
                    worker_id = change.successor_id
                    if worker_id in seen:
                        raise ValueError("permanent replacements form a cycle")
                    seen.add(worker_id)
                    changed = True
        return worker_id

    def titular_for_site(self, site_id: str, on: date) -> Worker:
        """The worker whose zone holds the site, after any permanent replacement."""
        for zone in sorted(self.zones, key=lambda z: z.id):
            if site_id in zone.site_ids:
                return self.worker(self._current_holder(zone.worker_id, on))
        raise LookupError(f"no worker serves site {site_id}")

    def replacement_chain(self, titular_id: str) -> Sequence[Worker]:
        return [self.worker(w) for w in self.replacements.get(titular_id, ())]

    def acts_for(self, worker_id: str) -> list[str]:
        """The titulars this worker may replace."""
        return sorted(t for t, chain in self.replacements.items() if worker_id in chain)
