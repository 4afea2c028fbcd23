"""`permanence purge`: delete what retention no longer allows (`serve` also runs it daily)."""

from __future__ import annotations

import argparse
from datetime import datetime

from bot.cli.common import COUNTED, operator, with_store
from bot.settings import Settings
from storage.store import Store


def purge(args: argparse.Namespace, settings: Settings) -> int:
    from bot.application.retention import purge as purge_store

    async def run(store: Store, now: datetime) -> dict[str, int]:
        return await purge_store(
            store, settings.retention(now), now, dry_run=args.dry_run, actor="admin", operator=operator()
        )

    counts = with_store(settings, run)
    verb = "seraient supprimés" if args.dry_run else "supprimés"
    print(f"{verb} : " + ", ".join(f"{n} {COUNTED.get(what, what)}" for what, n in counts.items()))
    return 0
