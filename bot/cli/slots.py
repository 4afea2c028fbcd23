"""Slot offers for the command line, from the embedded store."""

from __future__ import annotations

from datetime import date, datetime

from booking.availability import Offer
from booking.document import Deployment
from booking.model import Topic
from bot.bootstrap import open_application
from bot.settings import Settings


async def load_offer(
    settings: Settings,
    deployment: Deployment,
    *,
    now: datetime,
    site_id: str,
    topic: Topic | None,
    start: date,
    days: int,
) -> Offer:
    store, app = await open_application(settings, deployment=deployment)
    try:
        return await app.offers.offer(
            now=now, site_id=site_id, topic_id=topic.id if topic else None, start=start, days=days
        )
    finally:
        await store.dispose()
