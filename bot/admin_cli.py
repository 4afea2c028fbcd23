"""Day-one operator commands: `permanence doctor`, `permanence absences list|declare|cancel` and
`permanence plan reload`.

`register` adds them to the parser of `bot.cli`; each handler takes (args, settings) and returns
the exit code: 0 done (or all fine), 1 a problem found or a request refused, 2 a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from booking.absence import AbsenceSource
from bot import texts
from bot.application import Application
from bot.application.diagnostics import Check, Status
from bot.clock import service_clock
from bot.settings import Settings

T = TypeVar("T")
MAX_REASON = 200
STATUSES = {"ok": "ok", "warning": "avertissement", "problem": "problème", "n/a": "sans objet"}
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


def _with_application(settings: Settings, work: Callable[[Application, datetime], Awaitable[T]]) -> T:
    """Run `work` on the use cases wired to the configured store and plan."""
    from bot.bootstrap import open_application

    async def run() -> T:
        store, app = await open_application(settings)
        try:
            await app.sync_workers()  # the plan's workers, as the service mirrors them at start
            return await work(app, service_clock(settings)())
        finally:
            await store.dispose()

    return asyncio.run(run())


def _datetime_arg(value: str) -> datetime:
    from bot.cli import _datetime_arg as parse

    return parse(value)


def _table(checks: list[Check]) -> list[str]:
    rows = [
        (c.area, c.subject or "-", STATUSES.get(c.status.value, c.status.value), c.detail or c.code) for c in checks
    ]
    widths = [max(len(r[i]) for r in [("domaine", "objet", "état", ""), *rows]) for i in range(3)]
    lines = [f"{'domaine':<{widths[0]}}  {'objet':<{widths[1]}}  {'état':<{widths[2]}}  détail"]
    lines += [f"{a:<{widths[0]}}  {s:<{widths[1]}}  {st:<{widths[2]}}  {d}" for a, s, st, d in rows]
    return lines


def doctor(args: argparse.Namespace, settings: Settings) -> int:
    from bot.doctor import examine

    checks = asyncio.run(examine(settings, now=args.as_of or service_clock(settings)()))
    problems = sum(1 for c in checks if c.status is Status.PROBLEM)
    warnings = sum(1 for c in checks if c.status is Status.WARNING)
    if args.json:
        document = {
            "ok": problems == 0,
            "problems": problems,
            "warnings": warnings,
            "checks": [
                {"area": c.area, "subject": c.subject, "status": c.status.value, "code": c.code, "detail": c.detail}
                for c in checks
            ],
        }
        print(json.dumps(document, ensure_ascii=False, indent=2))
    else:
        for line in _table(checks):
            print(line)
        print(
            f"{problems} {'problème' if problems <= 1 else 'problèmes'}, "
            f"{warnings} {'avertissement' if warnings <= 1 else 'avertissements'}"
        )
    return 1 if problems else 0


def _date_arg(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"date invalide (AAAA-MM-JJ attendu) : {value!r}") from err


def _last_day(moment: datetime) -> str:
    """The last day an absence covers (its end is the midnight after it), Paris time."""
    if moment.year >= 9000:
        return "jusqu'à nouvel ordre"
    return (moment.astimezone(texts.PARIS) - timedelta(microseconds=1)).date().isoformat()


def absences_list(args: argparse.Namespace, settings: Settings) -> int:
    from bot.application.absences import ListedAbsence
    from bot.audit_cli import operator

    async def run(app: Application, now: datetime) -> list[ListedAbsence]:
        return await app.absences.listing(now, reasons=args.reasons, operator=operator())

    listed = _with_application(settings, run)
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
    from bot.audit_cli import operator

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

    result = _with_application(settings, run)
    if isinstance(result, str):
        print(f"{command} : {result}", file=sys.stderr)
        return 2
    print(
        f"absence {result.id} déclarée : {args.worker} absente du {args.start.isoformat()} au "
        f"{args.end.isoformat()} inclus (tracé dans l'audit ; annulation : « permanence absences cancel ID »)"
    )
    return 0


def absences_cancel(args: argparse.Namespace, settings: Settings) -> int:
    from booking.records import NotFound
    from bot.application.absences import NotDeclaredHere
    from bot.audit_cli import operator

    async def run(app: Application, now: datetime) -> object:
        return await app.absences.cancel(args.id, now, operator=operator())

    try:
        _with_application(settings, run)
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


def _service_url(settings: Settings) -> str:
    host = settings.host if settings.host_is_loopback() else "127.0.0.1"  # listening everywhere includes it
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.port}"


def plan_reload(args: argparse.Namespace, settings: Settings) -> int:
    """Ask the running service to re-read its plan file; print what it found."""
    import urllib.error
    import urllib.request

    url = (args.url or _service_url(settings)).rstrip("/") + "/admin/plan/reload"
    request = urllib.request.Request(url, data=b"", method="POST")  # noqa: S310 - our own service, http on loopback
    command = "permanence plan reload"
    try:
        with urllib.request.urlopen(request, timeout=args.timeout) as response:  # noqa: S310
            document = json.loads(response.read())
    except urllib.error.HTTPError as err:
        if err.code != 422:
            print(
                f"{command} : le service a refusé ({err.code}) : lancez cette commande sur la machine du service",
                file=sys.stderr,
            )
            return 1
        document = json.loads(err.read())
    except (urllib.error.URLError, OSError) as err:
        print(
            f"{command} : aucun service à {url} ({getattr(err, 'reason', err)}) ; est-il lancé ? "
            "Avec systemd, « systemctl reload permanence » (SIGHUP) fait la même chose",
            file=sys.stderr,
        )
        return 2
    if not document["applied"]:
        for line in document["problems"]:
            print(line, file=sys.stderr)
        print(f"{command} : {document['source']} refusé ; le service garde son planning actuel", file=sys.stderr)
        return 1
    for warning in document["warnings"]:
        print(f"attention : {warning}")
    print(f"planning relu depuis {document['source']}")
    if document["orphans"]:
        print(f"{len(document['orphans'])} rendez-vous sans créneau dans ce planning :")
        for reference in document["orphans"]:
            print(f"  {reference}")
        print("déplacez-les ou annulez-les avec les agents")
    return 0


def plan_approve(args: argparse.Namespace, settings: Settings) -> int:
    """The operator approves the workers and replacements of the configured plan file (audited);
    `permanence plan reload` (or a restart) then applies it."""
    from bot import plan_identity
    from bot.audit_cli import operator

    async def run(app: Application, now: datetime) -> list[plan_identity.Change]:
        return await plan_identity.approve(app.context.store, app.context.deployment, now, operator=operator())

    found = _with_application(settings, run)
    for change in found:
        print(f"  {change}")
    print(f"approuvé : {len(found)} changements d'intervenants ou de remplacements ; lancez 'permanence plan reload'")
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
    p.add_argument("--as-of", type=_datetime_arg, help="vérifie comme à cet instant (ISO 8601)")
    p.set_defaults(handler=doctor)

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
    p.add_argument("--from", dest="start", type=_date_arg, required=True, help="premier jour d'absence (AAAA-MM-JJ)")
    p.add_argument("--to", dest="end", type=_date_arg, required=True, help="dernier jour d'absence (AAAA-MM-JJ)")
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
        p.set_defaults(handler=plan_reload)
        p = plan.add_parser(
            "approve",
            help="approuve les intervenants et remplacements du fichier de plan (audité), avant un rechargement",
        )
        p.set_defaults(handler=plan_approve)
