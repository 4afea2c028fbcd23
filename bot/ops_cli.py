"""Operator commands: `permanence outbox list|retry|drop`, `plan check` and `backup`.

`register` adds them to the parser of `bot.cli`; each handler takes (args, settings) and returns
the exit code: 0 done, 1 a problem found or a row refused, 2 a usage or configuration error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime
from pathlib import Path

from booking.document import Deployment
from booking.records import Conflict, NotFound, OutboxEntry
from bot import texts
from bot.clock import service_clock
from bot.settings import Settings
from storage.store import Store

# What each state of `outbox list` means, as the operator reads it (JSON keeps the codes).
STATES = {
    "scheduled": "programmée",
    "due": "à traiter",
    "late": "en retard",
    "dead": "abandonnée",
    "all": "toutes",
}


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
    from bot.cli import _with_store

    async def run(store: Store, now: datetime) -> list[OutboxEntry]:
        return await outbox_entries(store, now, state=args.state, limit=args.limit)

    entries = _with_store(settings, run)
    if args.json:
        print(json.dumps([_entry(e) for e in entries], indent=2))
        return 0
    if not entries:
        print(f"aucune ligne dans la file d'envoi ({STATES.get(args.state, args.state)})")
        return 0
    print(f"{'n°':>8}  {'type':<24} {'état':<12} {'essais':>6}  {'échéance (Paris)':<25} dernière erreur")
    for e in entries:
        due = e.due_at.astimezone(texts.PARIS).isoformat(timespec="seconds")
        state = STATES.get(e.state, e.state)
        print(f"{e.id:>8}  {e.kind:<24} {state:<12} {e.attempts:>6}  {due:<25} {e.last_error or '-'}")
    return 0


def _one_row(command: str, args: argparse.Namespace, settings: Settings) -> int:
    from bot.application.operations import outbox_drop, outbox_retry
    from bot.cli import _with_store

    async def run(store: Store, now: datetime) -> int:
        if command == "retry":
            return await outbox_retry(store, now, None if args.all_dead else args.id)
        await outbox_drop(store, now, args.id, force=args.force)
        return 1

    try:
        count = _with_store(settings, run)
    except NotFound:
        print(f"permanence outbox {command} : aucune ligne n° {args.id}", file=sys.stderr)
        return 1
    except Conflict:
        why = {
            "retry": "elle est déjà traitée, ou en cours d'envoi",
            "drop": "elle n'est pas abandonnée (--force pour une ligne en attente), ou elle est en cours d'envoi",
        }[command]
        print(f"permanence outbox {command} : ligne n° {args.id} refusée : {why}", file=sys.stderr)
        return 1
    if command == "retry" and args.all_dead:
        print(
            f"{count} {'ligne abandonnée remise' if count <= 1 else 'lignes abandonnées remises'} à traiter maintenant"
        )
    else:
        print(f"ligne n° {args.id} {'remise à traiter maintenant' if command == 'retry' else 'supprimée'}")
    return 0


def outbox_retry(args: argparse.Namespace, settings: Settings) -> int:
    if (args.id is None) == (not args.all_dead):
        print("permanence outbox retry : indiquez un numéro de ligne, ou --all-dead", file=sys.stderr)
        return 2
    return _one_row("retry", args, settings)


def outbox_drop(args: argparse.Namespace, settings: Settings) -> int:
    return _one_row("drop", args, settings)


def plan_check(args: argparse.Namespace, settings: Settings) -> int:
    from bot.plan_check import budget_warnings, check_plan_text

    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        print(f"{path} : illisible ({type(err).__name__})", file=sys.stderr)
        return 2
    deployment, problems = check_plan_text(text)
    for problem in problems:
        for line in problem.lines(str(path)):
            print(line, file=sys.stderr)
    if deployment is None:
        print(f"{len(problems)} {'problème' if len(problems) <= 1 else 'problèmes'}", file=sys.stderr)
        return 1
    year = service_clock(settings)().astimezone(texts.PARIS).year
    for warning in budget_warnings(deployment, (year, year + 1)):
        print(f"attention : {warning}")
    print(f"{path} : planning valide")
    if args.against_database:
        return _orphans(deployment, settings)
    return 0


def _orphans(deployment: Deployment, settings: Settings) -> int:
    from bot.application.operations import orphaned_by
    from bot.cli import _with_store

    async def run(store: Store, now: datetime) -> list[str]:
        return await orphaned_by(store, deployment, now, texts.PARIS)

    references = _with_store(settings, run)
    if not references:
        print("aucun rendez-vous orphelin")
        return 0
    print(f"{len(references)} rendez-vous sans créneau dans ce planning :")
    for reference in references:
        print(f"  {reference}")
    return 1


def backup(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy.engine import make_url

    from bot.ops import BackupError, backup_sqlite
    from storage.db import is_sqlite

    url = settings.effective_database_url
    if not is_sqlite(url):
        print(
            "permanence backup : la base est PostgreSQL ; sauvegardez-la avec ses propres outils, par exemple\n"
            '  pg_dump --format=custom --file=permanence.dump "$DATABASE"   (restauration : pg_restore --clean)\n'
            "et gardez PERMANENCE_ENCRYPTION_KEY et PERMANENCE_LOOKUP_KEY dans un coffre à secrets, "
            "à part de la copie.",
            file=sys.stderr,
        )
        return 2
    database = Path(make_url(url).database or "")
    try:
        size = asyncio.run(backup_sqlite(database, Path(args.output)))
    except (BackupError, OSError) as err:
        print(f"permanence backup : {err}", file=sys.stderr)
        return 1
    from bot.runtime import key_file

    keys = key_file(settings)
    print(f"copie écrite dans {args.output} ({size} octets, mode 0600)")
    if not settings.encryption_key.get_secret_value():
        print(f"les clés n'y sont pas : gardez {keys} en lieu sûr, à part de la copie (sans elles, rien n'est lisible)")
    return 0


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    *,
    plan: argparse._SubParsersAction[argparse.ArgumentParser] | None = None,
) -> None:
    """Add the operator commands to `permanence` (`plan`: the existing `plan` subcommands)."""
    outbox = commands.add_parser("outbox", help="écritures d'agenda et messages en attente d'envoi")
    sub = outbox.add_subparsers(dest="sub", required=True)
    p = sub.add_parser(
        "list",
        help="lignes pas encore traitées : type, état, tentatives, échéance, dernière erreur (jamais leur contenu)",
    )
    p.add_argument(
        "--state",
        choices=("due", "late", "dead", "all"),
        default="all",
        help="due : à traiter ; late : en retard ; dead : abandonnées ; all : toutes (par défaut)",
    )
    p.add_argument("--limit", type=int, default=500, help="nombre maximal de lignes affichées (500)")
    p.add_argument("--json", action="store_true", help="sortie JSON, pour un programme")
    p.set_defaults(handler=outbox_list)
    p = sub.add_parser(
        "retry", help="rend une ligne abandonnée (ou en attente) à traiter maintenant, tentatives remises à zéro"
    )
    p.add_argument("id", type=int, nargs="?", help="numéro de la ligne (voir « outbox list »)")
    p.add_argument("--all-dead", action="store_true", help="toutes les lignes abandonnées")
    p.set_defaults(handler=outbox_retry)
    p = sub.add_parser("drop", help="supprime une ligne abandonnée (ce qu'elle devait faire est perdu)")
    p.add_argument("id", type=int, help="numéro de la ligne (voir « outbox list »)")
    p.add_argument("--force", action="store_true", help="même une ligne en attente")
    p.set_defaults(handler=outbox_drop)

    if plan is not None:
        p = plan.add_parser(
            "check", help="valide un fichier de planning (code de sortie 1 en cas de problème, avec la ligne)"
        )
        p.add_argument("file", help="le fichier de planning (TOML) à valider")
        p.add_argument(
            "--against-database",
            action="store_true",
            help="liste aussi les rendez-vous pris que ce planning laisserait hors permanence (références seulement)",
        )
        p.set_defaults(handler=plan_check)

    p = commands.add_parser("backup", help="copie à chaud de la base SQLite intégrée (fichier en mode 0600)")
    p.add_argument("--output", required=True, help="fichier de la copie (créé en mode 0600)")
    p.set_defaults(handler=backup)
