"""`permanence audit verify|show`: the audit trail, for the data protection officer."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from bot import texts
from bot.settings import Settings
from storage.repositories.audit import CUT, REWRITTEN, UNKEYED, UNVOUCHED, AuditEntry, ChainReport


async def _verify(settings: Settings, anchor_file: Path) -> tuple[ChainReport, int, int]:
    """(the report, anchors compared, anchor lines whose signature failed)."""
    from bot.runtime import open_store
    from storage.audit_anchor import read_anchors

    store = await open_store(settings)
    try:
        anchors, bad = await asyncio.to_thread(read_anchors, anchor_file, store.keyring)
        async with store.unit_of_work(read_only=True) as uow:
            return await uow.audit.verify(anchors), len(anchors), bad
    finally:
        await store.dispose()


# Why the chain does not verify, as the operator reads it (the store says it in English).
REASONS = {
    "the retention checkpoint was altered": "le point de reprise de la conservation a été modifié",
    "an entry without a MAC was added after the chain started": (
        "une entrée sans MAC a été ajoutée après le début de la chaîne"
    ),
    "an entry is missing or was moved": "une entrée manque ou a été déplacée",
    "an entry was altered or moved": "une entrée a été modifiée ou déplacée",
    CUT: "des entrées de la fin ont été supprimées (un ancrage gardé hors de la base nomme une position plus loin)",
    REWRITTEN: "la chaîne a été réécrite à partir d'ici (un ancrage gardé hors de la base nomme une autre entrée)",
    UNVOUCHED: "des entrées sans position que la chaîne ne couvre pas (il n'y en avait pas, ou d'autres, avant elle)",
    UNKEYED: "les dernières entrées ne sont pas scellées avec la clé propre de la chaîne",
}


def audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    anchor_file = args.anchors or settings.effective_audit_anchor_file
    report, anchored, forged = asyncio.run(_verify(settings, anchor_file))
    if forged:
        print(f"{forged} lignes d'ancrage de {anchor_file} ont une signature fausse : ignorées", file=sys.stderr)
    legacy = f" ; {report.legacy} entrées antérieures à la chaîne (non protégées)" if report.legacy else ""
    purged = (
        f", positions jusqu'à {report.checkpoint_seq} supprimées par la conservation" if report.checkpoint_seq else ""
    )
    if not report.ok:
        print(
            f"journal d'audit MODIFIÉ à la position {report.first_bad} : "
            f"{REASONS.get(report.reason or '', report.reason)} "
            f"({report.checked} entrées vérifiées avant elle{purged})",
            file=sys.stderr,
        )
        return 1
    print(f"journal d'audit intact : {report.checked} entrées chaînées{purged}{legacy}")
    print(f"tête : position {report.head_seq}, mac {report.head_mac} ; {anchored} ancrages comparés ({anchor_file})")
    return 1 if forged else 0


def _since(value: str) -> datetime:
    try:
        day = date.fromisoformat(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"date invalide (AAAA-MM-JJ attendu) : {value!r}") from err
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
            "at": e.at.astimezone(texts.PARIS).isoformat(timespec="seconds"),  # with its offset
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
            f"{position:>6}  {row['at']}  {row['actor']:<22} {row['action']:<24} "
            f"{row['subject_type']}:{row['subject_id']}{by}"
        )
    if not rows:
        print("aucune entrée d'audit" + (" depuis cette date" if args.since else ""))
    return 0


def register(subparsers: Any) -> None:
    """Add `audit verify` and `audit show` to the `permanence` command line."""
    audit = subparsers.add_parser("audit", help="le journal d'audit (toute modification est détectée)").add_subparsers(
        dest="sub", required=True
    )
    p = audit.add_parser("verify", help="vérifie la chaîne du journal d'audit ; code de sortie 1 s'il a été modifié")
    p.add_argument("--anchors", type=Path, help="le fichier d'ancrages gardé hors de la base (par défaut : le réglage)")
    p.set_defaults(handler=audit_verify)
    p = audit.add_parser(
        "show", help="liste les entrées du journal d'audit (pour la déléguée à la protection des données)"
    )
    p.add_argument("--since", type=_since, help="à partir de ce jour (AAAA-MM-JJ, heure de Paris)")
    p.add_argument("--json", action="store_true", help="sortie JSON, pour un programme")
    p.set_defaults(handler=audit_show)
