"""Metrics on prometheus_client: parseable exposition, escaped labels, histograms, one registry per app."""

from __future__ import annotations

import math

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.metrics import Metrics


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_label_values_are_escaped_and_parse_back():
    metrics = Metrics()
    awkward = 'quote " backslash \\ newline \n end'
    metrics.inc("permanence_graph_errors_total", code=awkward)
    metrics.inc("permanence_graph_errors_total", 2, code=awkward)
    parsed = samples(await metrics.render())
    assert parsed[("permanence_graph_errors_total", (("code", awkward),))] == 3


async def test_histograms_count_and_bucket_observations():
    metrics = Metrics()
    for seconds in (0.02, 0.3, 7.0):
        metrics.observe("permanence_turn_seconds", seconds, type="message")
    parsed = samples(await metrics.render())
    labels = (("type", "message"),)
    assert parsed[("permanence_turn_seconds_count", labels)] == 3
    assert parsed[("permanence_turn_seconds_sum", labels)] == pytest.approx(7.32)
    assert parsed[("permanence_turn_seconds_bucket", (("le", "0.5"), ("type", "message")))] == 2
    assert parsed[("permanence_turn_seconds_bucket", (("le", "+Inf"), ("type", "message")))] == 3
    with pytest.raises(KeyError):
        metrics.observe("permanence_undeclared_seconds", 1.0)


async def test_each_instance_has_its_own_registry_and_process_metrics():
    first, second = Metrics(), Metrics()
    first.inc("permanence_turns_total", type="message")
    assert ("permanence_turns_total", (("type", "message"),)) not in samples(await second.render())
    names = {family.name for family in text_string_to_metric_families(await second.render())}
    assert "process_resident_memory_bytes" in names and "process_cpu_seconds" in names


async def test_a_failing_gauge_reads_nan_without_hiding_the_others():
    metrics = Metrics(process=False)

    async def broken() -> float:
        raise RuntimeError("database down")

    async def fine() -> float:
        return 4.0

    metrics.gauge("permanence_outbox_dead", "dead rows", broken)
    metrics.gauge("permanence_outbox_overdue", "late rows", fine)
    parsed = samples(await metrics.render())
    assert math.isnan(parsed[("permanence_outbox_dead", ())])
    assert parsed[("permanence_outbox_overdue", ())] == 4.0
