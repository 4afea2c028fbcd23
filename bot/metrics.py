"""Prometheus metrics on `prometheus_client`, one registry per application (no personal data, no ids in labels).

Each `Metrics` owns its own `CollectorRegistry`: tests build several applications in one process,
and nothing is registered globally. Gauges are read from the database when `/metrics` is scraped.

Metrics are for operators, and none may tie a person to a moment (issue 22): no `_created`
series (the instant a labelled series first moved), and what moves with one person's action (an
urgent notice, a reminder or any message to a person, a calendar write for her booking) is held
back and exposed as daily totals: a series changes once a day, after the day is over.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)

log = logging.getLogger(__name__)

disable_created_metrics()  # type: ignore[no-untyped-call] # process-wide in prometheus_client: no `_created` series anywhere

# Families that move with one person's action, exposed as daily totals.
DAILY = frozenset(
    {
        "permanence_urgent_notices_total",
        "permanence_urgent_unreachable_total",
        "permanence_calendar_writes_total",
    }
)
# Families labelled by outbox kind: daily, except for the kinds no person's action triggers.
DAILY_BY_KIND = frozenset(
    {"permanence_outbox_done_total", "permanence_outbox_failures_total", "permanence_outbox_lag_seconds"}
)
OPERATIONAL_KINDS = frozenset({"calendar.sync", "graph.subscription"})


def held_daily(name: str, labels: dict[str, str]) -> bool:
    return name in DAILY or (name in DAILY_BY_KIND and labels.get("kind") not in OPERATIONAL_KINDS)


def _wall_clock() -> datetime:
    return datetime.now(UTC)


# The classic text format that every Prometheus scraper reads (what `generate_latest` writes).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True, kw_only=True, slots=True)
class HistogramSpec:
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = Histogram.DEFAULT_BUCKETS


# Histograms are declared here, with buckets that fit what they measure.
HISTOGRAMS: dict[str, HistogramSpec] = {
    "permanence_turn_seconds": HistogramSpec(
        help="Time to handle one Bot Framework activity (authentication excluded)",
        labels=("type",),
        buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    ),
    "permanence_graph_request_seconds": HistogramSpec(
        help="Time of one Microsoft Graph call (each attempt), by operation",
        labels=("operation",),
        buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 60.0),
    ),
    "permanence_outbox_lag_seconds": HistogramSpec(
        help="Delay between an outbox row's due time and its delivery",
        labels=("kind",),
        buckets=(0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 24 * 3600.0),
    ),
}

# Help texts of the counters the service increments (an unknown name still works, with a generic help).
COUNTER_HELP: dict[str, str] = {
    "permanence_turns_total": "Bot Framework activities handled, by activity type",
    "permanence_turn_errors_total": "Turns that failed with an unexpected error",
    "permanence_pool_exhausted_total": "Turns told to retry for want of a free database connection",
    "permanence_refused_total": "Requests refused, by reason (tenant, auth, client_state)",
    "permanence_outbox_done_total": "Outbox rows delivered, by kind",
    "permanence_outbox_failures_total": "Outbox delivery failures, by kind and error code",
    "permanence_calendar_writes_total": "Calendar events written, by operation",
    "permanence_calendar_syncs_total": "Calendar synchronisations, full or incremental",
    "permanence_graph_requests_total": "Microsoft Graph requests made, by operation",
    "permanence_graph_errors_total": "Microsoft Graph errors, by error code",
    "permanence_graph_notifications_total": "Graph change notifications accepted",
    "permanence_urgent_notices_total": "Urgent notices to handlers, by channel (teams, mail) and outcome",
    "permanence_urgent_unreachable_total": "Urgent handlers unreachable on every channel (next person at once)",
}


class Metrics:
    def __init__(self, *, process: bool = True, clock: Callable[[], datetime] = _wall_clock) -> None:
        """`clock`: the service's (a day ends by it)."""
        self.registry = CollectorRegistry()
        if process:
            ProcessCollector(registry=self.registry)  # CPU, memory, open files of this process (Linux)
        self._counters: dict[str, Counter] = {}
        self._histograms: dict[str, Histogram] = {}
        self._gauges: dict[str, tuple[Gauge, Callable[[], Awaitable[float]]]] = {}
        self._clock = clock
        self._day: date | None = None
        self._held: list[tuple[bool, str, float, dict[str, str]]] = []  # (is a count, name, value, labels)

    def _roll(self) -> None:
        """At the first call of a new day, the days before are released into their series."""
        today = self._clock().astimezone(UTC).date()
        if self._day == today:
            return
        held, self._held, self._day = self._held, [], today
        for counting, name, value, labels in held:
            (self._inc if counting else self._observe)(name, value, labels)

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        self._roll()
        if held_daily(name, labels):
            self._held.append((True, name, amount, labels))
        else:
            self._inc(name, amount, labels)

    def _inc(self, name: str, amount: float, labels: dict[str, str]) -> None:
        counter = self._counters.get(name)
        if counter is None:
            counter = Counter(
                name, COUNTER_HELP.get(name, name.replace("_", " ")), labelnames=sorted(labels), registry=self.registry
            )
            self._counters[name] = counter
        (counter.labels(**labels) if labels else counter).inc(amount)

    def observe(self, name: str, seconds: float, **labels: str) -> None:
        """Record a duration in one of the declared `HISTOGRAMS`."""
        HISTOGRAMS[name]
        self._roll()
        if held_daily(name, labels):
            self._held.append((False, name, seconds, labels))
        else:
            self._observe(name, seconds, labels)

    def _observe(self, name: str, seconds: float, labels: dict[str, str]) -> None:
        histogram = self._histograms.get(name)
        if histogram is None:
            spec = HISTOGRAMS[name]
            histogram = Histogram(name, spec.help, labelnames=spec.labels, buckets=spec.buckets, registry=self.registry)
            self._histograms[name] = histogram
        (histogram.labels(**labels) if labels else histogram).observe(max(0.0, seconds))

    def gauge(self, name: str, help_text: str, read: Callable[[], Awaitable[float]]) -> None:
        """A gauge whose value is read (asynchronously) at each scrape."""
        self._gauges[name] = (Gauge(name, help_text, registry=self.registry), read)

    async def render(self) -> str:
        self._roll()
        for name, (gauge, read) in self._gauges.items():
            try:
                gauge.set(await read())
            except Exception as err:  # noqa: BLE001 - a failing gauge must not hide the others
                log.warning("gauge %s unreadable: %s", name, type(err).__name__)
                gauge.set(math.nan)
        return str(generate_latest(self.registry).decode("utf-8"))
