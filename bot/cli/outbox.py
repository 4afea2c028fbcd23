"""`permanence outbox list|retry|drop`: calendar writes and messages waiting to be delivered."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime

from booking.records import Conflict, NotFound, OutboxEntry
from bot import texts
from bot.cli import plan as plan_commands
from bot.cli import service
from bot.cli.common import with_store
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

    async def run(store: Store, now: datetime) -> list[OutboxEntry]:
        return await outbox_entries(store, now, state=args.state, limit=args.limit)

    entries = with_store(settings, run)
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

    async def run(store: Store, now: datetime) -> int:
        if command == "retry":
            return await outbox_retry(store, now, None if args.all_dead else args.id)
        await outbox_drop(store, now, args.id, force=args.force)
        return 1

    try:
        count = with_store(settings, run)
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
        p.set_defaults(handler=plan_commands.plan_check)

    p = commands.add_parser("backup", help="copie à chaud de la base SQLite intégrée (fichier en mode 0600)")
    p.add_argument("--output", required=True, help="fichier de la copie (créé en mode 0600)")
    p.set_defaults(handler=service.backup)
