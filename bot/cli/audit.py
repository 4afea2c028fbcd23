"""`permanence audit verify|show`: the audit trail, for the data protection officer."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, date, datetime
from typing import Any

from bot import texts
from bot.settings import Settings
from storage.repositories.audit import AuditEntry, ChainReport


async def _verify(settings: Settings) -> ChainReport:
    from bot.runtime import open_store

    store = await open_store(settings)
    try:
        async with store.unit_of_work(read_only=True) as uow:
            return await uow.audit.verify()
    finally:
        await store.dispose()


def audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    report = asyncio.run(_verify(settings))
    legacy = f"; {report.legacy} older entries from before the chain (not protected)" if report.legacy else ""
    purged = f", positions up to {report.checkpoint_seq} removed by retention" if report.checkpoint_seq else ""
    if not report.ok:
        print(
            f"audit trail TAMPERED at position {report.first_bad}: {report.reason} "
            f"({report.checked} entries verified before it{purged})",
            file=sys.stderr,
        )
        return 1
    print(f"audit trail intact: {report.checked} entries chained{purged}{legacy}")
    # Removing the last entries cannot show in the chain itself: note the head elsewhere.
    print(f"head: position {report.head_seq}, mac {report.head_mac}")
    return 0


def _since(value: str) -> datetime:
    try:
        day = date.fromisoformat(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from err
    return datetime(day.year, day.month, day.day, tzinfo=texts.PARIS).astimezone(UTC)


async def _entries(settings: Settings, since: datetime | None) -> list[AuditEntry]:
    from bot.runtime import open_store

    store = await open_store(settings)
    try:
        async with store.unit_of_work(read_only=True) as uow:
            return await uow.audit.entries(since=since)
    finally:
        await store.dispose()


def audit_show(args: argparse.Namespace, settings: Settings) -> int:
    entries = asyncio.run(_entries(settings, args.since))
    rows: list[dict[str, Any]] = [
        {
            "position": e.seq,
            "at": e.at.astimezone(texts.PARIS).isoformat(),
            "actor": e.actor,
            "action": e.action,
            "subject_type": e.subject_type,
            "subject_id": e.subject_id,
            "operator": e.operator,
        }
        for e in entries
    ]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    for row in rows:
        position = "-" if row["position"] is None else str(row["position"])
        by = f"  ({row['operator']})" if row["operator"] else ""
        print(
            f"{position:>6}  {row['at'][:19]}  {row['actor']:<22} {row['action']:<24} "
            f"{row['subject_type']}:{row['subject_id']}{by}"
        )
    if not rows:
        print("no audit entry" + (" since that date" if args.since else ""))
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `audit verify` and `audit show` to the `permanence` command line."""
    audit = subparsers.add_parser("audit", help="the audit trail (tamper-evident)").add_subparsers(
        dest="sub", required=True
    )
    p = audit.add_parser("verify", help="check the chain of audit entries; exit 1 if it was tampered with")
    p.set_defaults(handler=audit_verify)
    p = audit.add_parser("show", help="list the audit entries (for the data protection officer)")
    p.add_argument("--since", type=_since, help="from this day on (YYYY-MM-DD, Paris time)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=audit_show)
