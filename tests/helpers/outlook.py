"""Outlook data for the Graph tests: automatic replies and the slot offer they change."""

from __future__ import annotations

import copy

from tests.graph.conftest import GraphWorld
from tests.graph.fake_graph import example


def replies(status: str, *, start: str = "", end: str = "", zone: str = "UTC") -> dict[str, object]:
    """GET mailboxSettings as documented, with the automatic replies of the example for `status`."""
    settings = example("mailboxSettings.get.response.1.json")
    setting = copy.deepcopy(example("mailboxSettings.automaticRepliesSetting.get.response.1.json"))
    setting.pop("@odata.context")
    setting["status"] = status
    if start:
        setting["scheduledStartDateTime"] = {"dateTime": start, "timeZone": zone}
        setting["scheduledEndDateTime"] = {"dateTime": end, "timeZone": zone}
    settings["automaticRepliesSetting"] = setting
    return settings


async def offer_notice(world: GraphWorld):  # type: ignore[no-untyped-def]
    offer = await world.app.offers.offer(now=world.clock(), site_id="vanves", topic_id=None, days=21)
    return offer
