"""`permanence absences list|declare|cancel`: the workers' absences."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timedelta
from typing import Any

from booking.absence import AbsenceSource
from booking.records import NotFound
from bot import texts
from bot.application import Application
from bot.cli import plan as plan_commands
from bot.cli import service
from bot.cli.common import date_arg, datetime_arg, operator, with_application
from bot.settings import Settings

MAX_REASON = 200
# Why an absence is refused, as the operator reads it.
INVALID = {
    "the absence ends before it starts": "l'absence se termine avant de commencer",
    "the absence is over already": "l'absence est déjà terminée",
}

SOURCES = {
    AbsenceSource.DECLARED: "déclarée ici",
    AbsenceSource.AUTOMATIC_REPLIES: "réponses automatiques Outlook",
    AbsenceSource.OOF_EVENT: "événement Outlook",
}


def _last_day(moment: datetime) -> str:
    """The last day an absence covers (its end is the midnight after it), Paris time."""
    if moment.year >= 9000:
        return "jusqu'à nouvel ordre"
    return (moment.astimezone(texts.PARIS) - timedelta(microseconds=1)).date().isoformat()


def absences_list(args: argparse.Namespace, settings: Settings) -> int:
    from bot.application.absences import ListedAbsence

    async def run(app: Application, now: datetime) -> list[ListedAbsence]:
        return await app.absences.listing(now, reasons=args.reasons, operator=operator())

    listed = with_application(settings, run)
    rows = [
        {
            "id": item.stored.id,
            "worker": item.stored.absence.worker_id,
            "from": item.stored.absence.start.astimezone(texts.PARIS).date().isoformat(),
            "to": _last_day(item.stored.absence.end),
            "source": item.stored.absence.source.value,
            "declared_here": item.declared_here,
            "replacement": item.stored.absence.replacement_id,
            **({"reason": item.reason} if args.reasons and item.declared_here else {}),
        }
        for item in listed
    ]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    if not rows:
        print("aucune absence en cours ou à venir")
        return 0
    print(f"{'identifiant':<36}  {'absente':<14} {'du':<10}  {'au':<20}  {'source':<29} remplaçante")
    for row, item in zip(rows, listed, strict=True):
        source = SOURCES[item.stored.absence.source]
        reason = f"  ({row['reason']})" if row.get("reason") else ""
        print(
            f"{row['id']:<36}  {row['worker']:<14} {row['from']:<10}  {row['to']:<20}  {source:<29} "
            f"{row['replacement'] or '-'}{reason}"
        )
    return 0


def absences_declare(args: argparse.Namespace, settings: Settings) -> int:
    from booking.records import StoredAbsence
    from bot.application.absences import InvalidAbsence
    from bot.application.context import AccessDenied

    command = "permanence absences declare"
    if len(args.reason) > MAX_REASON:
        print(f"{command} : --reason est limité à {MAX_REASON} caractères", file=sys.stderr)
        return 2

    async def run(app: Application, now: datetime) -> StoredAbsence | str:
        directory = app.context.directory
        try:
            worker = directory.worker(args.worker)
        except KeyError:
            known = ", ".join(w.id for w in directory.workers)
            return f"assistante sociale inconnue {args.worker!r} (connues : {known})"
        try:
            return await app.absences.declare(
                now=now,
                worker=worker,
                start=args.start,
                end=args.end,
                replacement_id=args.replacement,
                reason=args.reason,
                by="admin",
                operator=operator(),
            )
        except InvalidAbsence as err:
            said = INVALID.get(str(err), str(err))
            return f"{said} (--from {args.start.isoformat()} --to {args.end.isoformat()}, les deux jours inclus)"
        except AccessDenied:
            return f"{args.replacement!r} ne remplace pas {args.worker!r} dans le planning"

    result = with_application(settings, run)
    if isinstance(result, str):
        print(f"{command} : {result}", file=sys.stderr)
        return 2
    print(
        f"absence {result.id} déclarée : {args.worker} absente du {args.start.isoformat()} au "
        f"{args.end.isoformat()} inclus (tracé dans l'audit ; annulation : « permanence absences cancel ID »)"
    )
    return 0


def absences_cancel(args: argparse.Namespace, settings: Settings) -> int:
    from bot.application.absences import NotDeclaredHere

    async def run(app: Application, now: datetime) -> object:
        return await app.absences.cancel(args.id, now, operator=operator())

    try:
        with_application(settings, run)
    except NotFound:
        print(
            f"permanence absences cancel : aucune absence {args.id} (voir « permanence absences list »)",
            file=sys.stderr,
        )
        return 1
    except NotDeclaredHere as err:
        print(
            f"permanence absences cancel : l'absence {args.id} vient d'Outlook ({SOURCES[err.source]}), "
            "elle n'a pas été déclarée ici : modifiez-la dans son Outlook ; la prochaine synchronisation suivra",
            file=sys.stderr,
        )
        return 1
    print(f"absence {args.id} annulée (tracé dans l'audit)")
    return 0


def register(commands: Any, *, plan: Any = None) -> None:
    """Add `doctor`, `absences` and (to the `plan` subcommands) `reload` to `permanence`."""
    p = commands.add_parser(
        "doctor",
        help=(
            "vérifie réglages, base, clés, planning, Graph, la joignabilité de chaque assistante sociale "
            "et la file d'envoi (code de sortie 1 en cas de problème)"
        ),
    )
    p.add_argument("--json", action="store_true", help="sortie JSON, pour un programme")
    p.add_argument("--as-of", type=datetime_arg, help="vérifie comme à cet instant (ISO 8601)")
    p.set_defaults(handler=service.doctor)

    absences = commands.add_parser("absences", help="absences des assistantes sociales").add_subparsers(
        dest="sub", required=True
    )
    p = absences.add_parser("list", help="absences en cours et à venir, déclarées ici ou lues dans Outlook")
    p.add_argument("--json", action="store_true", help="sortie JSON, pour un programme")
    p.add_argument(
        "--reasons", action="store_true", help="affiche aussi les motifs (chaque lecture est tracée dans l'audit)"
    )
    p.set_defaults(handler=absences_list)
    p = absences.add_parser("declare", help="déclare une absence (premier et dernier jour inclus)")
    p.add_argument(
        "--worker", required=True, help="identifiant de l'assistante sociale dans le planning (par exemple ass)"
    )
    p.add_argument("--from", dest="start", type=date_arg, required=True, help="premier jour d'absence (AAAA-MM-JJ)")
    p.add_argument("--to", dest="end", type=date_arg, required=True, help="dernier jour d'absence (AAAA-MM-JJ)")
    p.add_argument("--replacement", help="identifiant de la remplaçante (parmi ses remplaçantes)")
    p.add_argument(
        "--reason", default="", help=f"une courte note, conservée chiffrée (au plus {MAX_REASON} caractères)"
    )
    p.set_defaults(handler=absences_declare)
    p = absences.add_parser("cancel", help="annule une absence déclarée ici (pas une absence lue dans Outlook)")
    p.add_argument("id", help="identifiant de l'absence (voir « absences list »)")
    p.set_defaults(handler=absences_cancel)

    if plan is not None:
        p = plan.add_parser(
            "reload",
            help=(
                "fait relire son fichier de planning au service en marche "
                "(l'ancien est gardé s'il est invalide ; code de sortie 1 alors)"
            ),
        )
        p.add_argument("--url", help="adresse du service (par défaut : http://127.0.0.1:PERMANENCE_PORT)")
        p.add_argument(
            "--timeout", type=float, default=30.0, help="attente maximale de la réponse du service, en secondes (30)"
        )
        p.set_defaults(handler=plan_commands.plan_reload)
        p = plan.add_parser(
            "approve",
            help="approuve les intervenants et remplacements du fichier de plan (audité), avant un rechargement",
        )
        p.set_defaults(handler=plan_commands.plan_approve)
