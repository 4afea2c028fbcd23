"""Graph call latency and outbox lag histograms, measured against the local Graph."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families

from tests.graph.conftest import MAILBOX, GraphWorld


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_graph_latency_and_outbox_lag_are_observed_on_delivery(world: GraphWorld):
    world.calendar.observe_request = lambda what, seconds: world.metrics.observe(
        "permanence_graph_request_seconds", seconds, operation=what
    )
    world.graph.planned.append(("POST", "/events", "503"))  # the second attempt succeeds after a back-off
    await world.book("oid-1")
    await world.drain()
    parsed = samples(await world.metrics.render())
    assert parsed[("permanence_graph_request_seconds_count", (("operation", "event.create"),))] == 2
    lag = ("permanence_outbox_lag_seconds_count", (("kind", "calendar.create"),))
    assert lag not in parsed  # a booking's calendar write: counted in the day's total, once it is over
    world.clock.advance(timedelta(days=1))
    parsed = samples(await world.metrics.render())
    assert parsed[lag] == 1
    assert len(world.graph.live_events(MAILBOX)) == 1
    text = await world.metrics.render()
    assert "oid-1" not in text and MAILBOX not in text
