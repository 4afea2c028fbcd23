"""The plan reload over HTTP: the sample plan, the pinned instant and one reload."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources

from aiohttp.test_utils import TestClient

SAMPLE = resources.files("bot").joinpath("resources/plan.sample.toml").read_text(encoding="utf-8")

NOW = datetime(2027, 3, 1, 8, tzinfo=UTC)


async def reload(client: TestClient, **headers: str) -> tuple[int, dict[str, object]]:
    response = await client.post("/admin/plan/reload", headers=headers)
    return response.status, await response.json()
