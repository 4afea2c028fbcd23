"""`permanence slots`: bookable slots of the embedded calendar."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, date, datetime
from typing import Any

from booking.availability import Offer
from booking.document import Deployment
from booking.model import Topic
from bot import texts
from bot.bootstrap import open_application
from bot.cli.common import date_arg, datetime_arg, iso
from bot.clock import service_clock
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


def slots(args: argparse.Namespace, settings: Settings) -> int:
    deployment = settings.load_deployment()
    directory = deployment.directory
    topic = None
    if args.topic:
        try:
            topic = directory.topic(args.topic)
        except KeyError:
            known = ", ".join(t.id for t in directory.topics)
            print(f"permanence slots: unknown topic {args.topic!r} (known: {known})", file=sys.stderr)
            return 2
    site_id = args.site or directory.head_office.id
    if site_id not in {s.id for s in directory.sites}:
        print(f"permanence slots: unknown site {site_id!r}", file=sys.stderr)
        return 2
    if not 1 <= args.days <= 366:
        print("permanence slots: --days must be between 1 and 366", file=sys.stderr)
        return 2
    now = args.as_of or service_clock(settings)()
    offer = asyncio.run(
        load_offer(settings, deployment, now=now, site_id=site_id, topic=topic, start=args.start, days=args.days)
    )
    horizon_end = now + deployment.plans[offer.titular.id].horizon
    if datetime.combine(args.start, datetime.min.time(), tzinfo=texts.PARIS).astimezone(UTC) >= horizon_end:
        print(
            f"note: the period starts after the booking horizon ({texts.day(horizon_end)}); "
            "use --as-of to see it as an agent will later.",
            file=sys.stderr,
        )
    if args.json:
        rows: list[dict[str, Any]] = [
            {
                "start": iso(s.start),
                "end": iso(s.end),
                "worker": s.worker_id,
                "kind": s.kind.value,
                "site": s.site_id,
            }
            for s in offer.slots
        ]
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    if offer.notice is not None and offer.notice.return_at is None:
        print("Absente jusqu'à nouvel ordre.")
    elif offer.notice is not None and offer.notice.return_at is not None:
        print(f"Absente jusqu'au {texts.day_and_hour(offer.notice.return_at)}.")
    current = None
    for s in offer.slots:
        label = texts.day(s.start)
        if label != current:
            print(label)
            current = label
        print(f"  {texts.hour(s.start)} – {texts.hour(s.end)}  {texts.DAY_KIND[s.kind]}  ({s.worker_id})")
    if not offer.slots:
        print("Aucun créneau libre sur cette période.")
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `slots` to `permanence`."""
    p = commands.add_parser("slots", help="bookable slots of the embedded calendar")
    p.add_argument("--from", dest="start", type=date_arg, required=True, help="first day (YYYY-MM-DD)")
    p.add_argument("--days", type=int, default=14)
    p.add_argument("--topic", help="topic id from the plan (e.g. retraite)")
    p.add_argument("--site", help="the agent's site id (default: head office)")
    p.add_argument("--as-of", type=datetime_arg, help="compute as if it were this moment (ISO 8601)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=slots)
