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
from bot.cli.common import iso
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
    from bot.bootstrap import open_application  # imports the SDKs: only when slots are asked for

    store, app = await open_application(settings, deployment=deployment)
    try:
        return await app.offers.offer(
            now=now, site_id=site_id, topic_id=topic.id if topic else None, start=start, days=days
        )
    finally:
        await store.dispose()


def slots(args: argparse.Namespace, settings: Settings) -> int:
    from bot.cli.slots import load_offer  # imports storage: keep `plan show` light

    deployment = settings.load_deployment()
    directory = deployment.directory
    topic = None
    if args.topic:
        try:
            topic = directory.topic(args.topic)
        except KeyError:
            known = ", ".join(t.id for t in directory.topics)
            print(f"permanence slots : sujet inconnu {args.topic!r} (connus : {known})", file=sys.stderr)
            return 2
    site_id = args.site or directory.head_office.id
    if site_id not in {s.id for s in directory.sites}:
        print(f"permanence slots : site inconnu {site_id!r}", file=sys.stderr)
        return 2
    if not 1 <= args.days <= 366:
        print("permanence slots : --days doit être compris entre 1 et 366", file=sys.stderr)
        return 2
    now = args.as_of or service_clock(settings)()
    offer = asyncio.run(
        load_offer(settings, deployment, now=now, site_id=site_id, topic=topic, start=args.start, days=args.days)
    )
    horizon_end = now + deployment.plans[offer.titular.id].horizon
    if datetime.combine(args.start, datetime.min.time(), tzinfo=texts.PARIS).astimezone(UTC) >= horizon_end:
        print(
            f"note : la période commence après l'horizon de réservation ({texts.day(horizon_end)}) ; "
            "--as-of la montre comme un agent la verra plus tard.",
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
