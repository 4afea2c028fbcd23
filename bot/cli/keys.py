"""`permanence keys rotate|status`: the encryption keys."""

from __future__ import annotations

import argparse
import asyncio

from bot.cli.common import operator
from bot.clock import service_clock
from bot.settings import Settings


def keys_rotate(args: argparse.Namespace, settings: Settings) -> int:
    from bot.runtime import rotate_keys

    current, changed = asyncio.run(rotate_keys(settings, now=service_clock(settings)(), operator=operator()))
    print(f"{changed} {'valeur rechiffrée' if changed <= 1 else 'valeurs rechiffrées'} sous la clé {current}")
    return 0


async def _usage(settings: Settings) -> tuple[str, list[str], dict[str, dict[str, int]]]:
    from bot.runtime import open_store

    store = await open_store(settings)
    try:
        return store.keyring.current, list(store.keyring.keys), await store.key_usage()
    finally:
        await store.dispose()


def keys_status(args: argparse.Namespace, settings: Settings) -> int:
    current, configured, usage = asyncio.run(_usage(settings))
    for key_id in [*configured, *sorted(set(usage) - set(configured))]:
        counts = usage.get(key_id, {"padded": 0, "unpadded": 0})
        total = counts["padded"] + counts["unpadded"]
        notes = []
        if key_id == current:
            notes.append("actuelle")
        if key_id not in configured:
            notes.append("NON CONFIGURÉE : ces valeurs sont illisibles")
        elif total == 0 and key_id != current:
            notes.append("inutilisée : peut être retirée")
        if counts["unpadded"]:
            notes.append(
                f"{counts['unpadded']} sous l'ancienne forme sans bourrage : lancez « permanence keys rotate »"
            )
        print(f"{key_id} : {total} valeurs" + (f" ({' ; '.join(notes)})" if notes else ""))
    return 0
