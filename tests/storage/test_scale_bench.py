"""bench/scale.py at a tiny size, so that it does not rot: the load through the real schema and
encryption, and every measure, checked for what they did (never for how fast)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.graph.fake_graph import EXAMPLES

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import scale


async def test_the_scale_bench_runs_at_a_tiny_size(postgres_template, monkeypatch):
    if postgres_template is None:
        pytest.skip("PostgreSQL not reachable")
    if not EXAMPLES.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"Graph payload examples not found at {EXAMPLES}")
        pytest.skip("Graph payload examples not found")
    for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):  # the bench trusts its test certificate
        monkeypatch.delenv(name, raising=False)
    size = scale.Size(agents=300, appointments=3000, workers=4)
    figures = await scale.run(size, processes=1, offers=4, bookings=3, retention_days=60)
    load = figures["load"]
    assert load["agents"] == 300 and load["appointments"] == 3000 and 0 < load["upcoming"] <= 300
    assert figures["offer"]["slots"] > 0
    assert figures["booking"]["booked"] == 3
    assert figures["report"]["rows"] > 0 and figures["report"]["reports"] > 0
    sync = figures["idle_sync"]
    assert sync["mailboxes"] == 4 and sync["first_sync_requests"] >= 4
    assert 0 < sync["idle_requests_per_mailbox"] <= 2
    purged = figures["purge_first"]["appointments"]
    assert purged > 0 and figures["purge_daily"]["appointments"] < purged
    assert figures["left"] == 3000 + 3 - purged - figures["purge_daily"]["appointments"]
