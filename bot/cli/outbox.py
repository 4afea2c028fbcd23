"""`permanence outbox list|retry|drop`: calendar writes and messages waiting to be delivered."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime

from booking.records import Conflict, NotFound, OutboxEntry
from bot import texts
from bot.cli.common import with_store
from bot.settings import Settings
from storage.store import Store


def _entry(entry: OutboxEntry) -> dict[str, object]:
    return {
        "id": entry.id,
        "kind": entry.kind,
        "state": entry.state,
        "attempts": entry.attempts,
        "due_at": entry.due_at.isoformat(),
        "last_error": entry.last_error,
    }


def outbox_list(args: argparse.Namespace, settings: Settings) -> int:
    from bot.application.operations import outbox_entries

    async def run(store: Store, now: datetime) -> list[OutboxEntry]:
        return await outbox_entries(store, now, state=args.state, limit=args.limit)

    entries = with_store(settings, run)
    if args.json:
        print(json.dumps([_entry(e) for e in entries], indent=2))
        return 0
    if not entries:
        print(f"no outbox row ({args.state})")
        return 0
    print(f"{'id':>8}  {'kind':<24} {'state':<10} {'attempts':>8}  {'due (Paris)':<25} last error")
    for e in entries:
        due = e.due_at.astimezone(texts.PARIS).isoformat(timespec="seconds")
        print(f"{e.id:>8}  {e.kind:<24} {e.state:<10} {e.attempts:>8}  {due:<25} {e.last_error or '-'}")
    return 0


def _one_row(command: str, args: argparse.Namespace, settings: Settings) -> int:
    from bot.application.operations import outbox_drop, outbox_retry

    async def run(store: Store, now: datetime) -> int:
        if command == "retry":
            return await outbox_retry(store, now, None if args.all_dead else args.id)
        await outbox_drop(store, now, args.id, force=args.force)
        return 1

    try:
        count = with_store(settings, run)
    except NotFound:
        print(f"permanence outbox {command}: no outbox row {args.id}", file=sys.stderr)
        return 1
    except Conflict:
        why = {
            "retry": "it is done, or being delivered right now",
            "drop": "it is not dead (use --force for a pending row), or being delivered right now",
        }[command]
        print(f"permanence outbox {command}: row {args.id} refused: {why}", file=sys.stderr)
        return 1
    if command == "retry" and args.all_dead:
        print(f"{count} dead rows due again now")
    else:
        print(f"row {args.id} {'due again now' if command == 'retry' else 'dropped'}")
    return 0


def outbox_retry(args: argparse.Namespace, settings: Settings) -> int:
    if (args.id is None) == (not args.all_dead):
        print("permanence outbox retry: give one row id, or --all-dead", file=sys.stderr)
        return 2
    return _one_row("retry", args, settings)


def outbox_drop(args: argparse.Namespace, settings: Settings) -> int:
    return _one_row("drop", args, settings)


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Add `outbox list|retry|drop` to `permanence`."""
    outbox = commands.add_parser("outbox", help="calendar writes and messages waiting to be delivered")
    sub = outbox.add_subparsers(dest="sub", required=True)
    p = sub.add_parser("list", help="rows not done yet: kind, state, attempts, due time, last error (no payload)")
    p.add_argument("--state", choices=("due", "late", "dead", "all"), default="all")
    p.add_argument("--limit", type=int, default=500)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=outbox_list)
    p = sub.add_parser("retry", help="make a dead (or waiting) row due now, with a fresh back-off")
    p.add_argument("id", type=int, nargs="?")
    p.add_argument("--all-dead", action="store_true", help="every dead row")
    p.set_defaults(handler=outbox_retry)
    p = sub.add_parser("drop", help="delete a dead row (what it would have done is lost)")
    p.add_argument("id", type=int)
    p.add_argument("--force", action="store_true", help="a pending row too")
    p.set_defaults(handler=outbox_drop)
