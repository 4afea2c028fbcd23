"""The `permanence` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

from booking.absence import Absence, absence_at
from booking.budget import day_budget
from booking.document import Deployment
from booking.errors import PlanError
from booking.holidays import FrenchHolidays
from booking.plan import ExplicitDay, PlanDay, expand_plan
from bot import admin_cli, audit_cli, ops_cli, rights_cli, texts
from bot.audit_cli import operator
from bot.cli_french import FrenchParser
from bot.clock import check_test_clock, service_clock
from bot.runtime import StartupError
from bot.settings import Settings
from storage.store import Store

Handler = Callable[[argparse.Namespace, Settings], int]
T = TypeVar("T")


def _with_store(settings: Settings, work: Callable[[Store, datetime], Awaitable[T]]) -> T:
    """Run `work` (a use case of `bot.application`) on the configured store."""
    from bot.runtime import open_store

    async def run() -> T:
        store = await open_store(settings)
        try:
            return await work(store, service_clock(settings)())
        finally:
            await store.dispose()

    return asyncio.run(run())


def _date_arg(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"date invalide (AAAA-MM-JJ attendu) : {value!r}") from err


def _datetime_arg(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"date et heure invalides (ISO 8601 attendu) : {value!r}") from err
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=texts.PARIS)
    return moment


# What a count is of, as the operator reads it (purge, dossiers).
COUNTED = {
    "appointments": "rendez-vous",
    "urgent_requests": "demandes urgentes",
    "agents": "agents",
    "conversation_state": "états de conversation",
    "outbox": "lignes de la file d'envoi",
    "idempotency_keys": "clés d'idempotence",
    "audit": "entrées d'audit",
    "absences": "absences",
    "calendar": "entrées d'agenda",
    "history": "historiques",
}


def _iso(moment: datetime) -> str:
    return moment.astimezone(texts.PARIS).isoformat()


def plan_show(args: argparse.Namespace, settings: Settings) -> int:
    deployment = settings.load_deployment()
    worker_id = args.worker or deployment.directory.zones[0].worker_id
    if worker_id not in deployment.plans:
        print(f"permanence plan show : aucun planning pour {worker_id!r}", file=sys.stderr)
        return 2
    plan = deployment.plans[worker_id]
    holidays = FrenchHolidays(deployment.subdivision)
    first, last = date(args.year, 1, 1), date(args.year + 1, 1, 1)
    added, absences = _worker_year(settings, deployment, worker_id, first, last)
    calendar = expand_plan(plan, first, last, holidays, added)
    today = service_clock(settings)().astimezone(texts.PARIS).date()
    directory = deployment.directory

    def away(day: PlanDay) -> tuple[bool, str | None]:
        """Whether she is away that day, and who was named to act for her."""
        absence = absence_at(worker_id, day.start, absences)
        return absence is not None, absence.replacement_id if absence else None

    def said(day: PlanDay) -> str:
        absent, replacement = away(day)
        kind = texts.DAY_KIND[day.kind]
        if day.date in added_dates:
            kind += " (ajoutée dans le calendrier)"
        if not absent:
            return kind
        if replacement:
            return f"{kind} — absente, remplacée par {directory.worker(replacement).name}"
        return f"{kind} — absente"

    added_dates = {a.date for a in added}
    budget = day_budget(plan, calendar, args.year, today)
    if args.json:
        document = {
            "year": args.year,
            "worker": worker_id,
            "days": [
                {
                    "date": d.date.isoformat(),
                    "kind": d.kind.value,
                    "start": _iso(d.start),
                    "end": _iso(d.end),
                    "added": d.date in added_dates,
                    "absent": away(d)[0],
                    "replacement": away(d)[1],
                }
                for d in calendar.days
            ],
            "skipped": [
                {"date": s.date.isoformat(), "kind": s.kind.value, "reason": s.reason.value, "label": s.label}
                for s in calendar.skipped
            ],
            "count": budget.planned,
            "budget": {
                "contracted": budget.contracted,
                "ordered": budget.ordered,
                "total": budget.total,
                "planned": budget.planned,
                "used": budget.used,
                "remaining": budget.remaining,
                "by_kind": {k.value: v for k, v in sorted(budget.by_kind.items())},
            },
        }
        print(json.dumps(document, ensure_ascii=False, indent=2))
        return 0
    print(f"Planning {args.year} — {deployment.directory.worker(worker_id).name}")
    for d in calendar.days:
        print(f"  {texts.day(d.date):<32} {texts.hour(d.start)} – {texts.hour(d.end)}  {said(d)}")
    if calendar.skipped:
        print("Jours non tenus :")
        for s in calendar.skipped:
            print(f"  {texts.day(s.date):<32} {texts.SKIP_REASON[s.reason]} ({s.label})")
    print(
        f"{budget.planned} jours prévus pour un budget de {budget.total} "
        f"({budget.contracted} contractuels + {budget.ordered} commandés) ; "
        f"{budget.used} déjà passés ; solde {budget.remaining:+d}."
    )
    return 0


def _worker_year(
    settings: Settings, deployment: Deployment, worker_id: str, start: date, end: date
) -> tuple[tuple[ExplicitDay, ...], list[Absence]]:
    """The days the worker added from the chat (or Outlook) and her absences, from the store; none
    when there is no database yet (a plan being prepared before the service first ran)."""
    if not settings.database_url and not (settings.data_dir / "permanence.db").exists():
        return (), []
    from bot.bootstrap import open_application  # imports storage: only when there is a store

    async def run() -> tuple[tuple[ExplicitDay, ...], list[Absence]]:
        store, app = await open_application(settings, deployment=deployment)
        try:
            return await app.offers.worker_year(worker_id=worker_id, start=start, end=end)
        finally:
            await store.dispose()

    return asyncio.run(run())


def slots(args: argparse.Namespace, settings: Settings) -> int:
    from bot.availability import load_offer  # imports storage: keep `plan show` light

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
                "start": _iso(s.start),
                "end": _iso(s.end),
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


def db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from bot.runtime import open_store

    async def upgrade() -> str | None:
        store = await open_store(settings, upgrade=True)
        try:
            return await store.current_revision()
        finally:
            await store.dispose()

    print(f"schéma de la base à la révision {asyncio.run(upgrade())}")
    return 0


def keys_rotate(args: argparse.Namespace, settings: Settings) -> int:
    from bot.runtime import rotate_keys

    current, changed = asyncio.run(rotate_keys(settings, now=service_clock(settings)(), operator=operator()))
    print(f"{changed} {'valeur rechiffrée' if changed <= 1 else 'valeurs rechiffrées'} sous la clé {current}")
    return 0


def manifest_build(args: argparse.Namespace, settings: Settings) -> int:
    from importlib.metadata import version as installed_version

    from bot.manifest import ManifestError, build

    version = args.version or installed_version("permanence")
    try:
        path = build(settings, version, Path(args.output))
    except ManifestError as err:
        print(f"permanence manifest build : {err}", file=sys.stderr)
        return 2
    print(
        f"paquet de l'application Teams écrit dans {path} "
        "(à charger dans le centre d'administration Teams > Gérer les applications)"
    )
    return 0


REPORT_TABLES = {
    "topic": "Par sujet",
    "site": "Par site",
    "mode": "Par modalité",
    "day": "Par type de journée",
    "status": "Par statut (tous les rendez-vous de la période)",
    "urgent_site": "Demandes urgentes, par site",
}
STATUS_LABELS = {"confirmed": "tenu ou à venir", "requested": "en attente", "cancelled": "annulé", "declined": "refusé"}


def report(args: argparse.Namespace, settings: Settings) -> int:
    from booking.reports import published_cells, year_reports
    from bot.application.reports import report_rows

    deployment = settings.load_deployment()
    if args.quarter is not None and not 1 <= args.quarter <= 4:
        print("permanence report : --quarter doit être compris entre 1 et 4", file=sys.stderr)
        return 2
    first_month = 1 if args.quarter is None else 3 * args.quarter - 2
    start = datetime(args.year, first_month, 1, tzinfo=texts.PARIS)
    end = (
        datetime(args.year + 1, 1, 1, tzinfo=texts.PARIS)
        if args.quarter in (None, 4)
        else datetime(args.year, first_month + 3, 1, tzinfo=texts.PARIS)
    )

    period = f"{args.year}" + (f"-Q{args.quarter}" if args.quarter else "")
    if end > service_clock(settings)() and not args.provisional:
        # Counts of a period not over move with each booking: two runs would show a colleague's.
        print(
            f"permanence report: la période {period} n'est pas terminée ; --provisional pour un rapport "
            f"provisoire / the period {period} is not over: add --provisional for a provisional report",
            file=sys.stderr,
        )
        return 2
    published_key = f"report.published:{args.year}"

    # Every report of a year is computed from the whole year and suppressed with the others.
    year_start, year_end = (
        datetime(args.year, 1, 1, tzinfo=texts.PARIS),
        datetime(args.year + 1, 1, 1, tzinfo=texts.PARIS),
    )

    async def rows(store: Store, now: datetime) -> tuple[list[Any], list[Any], dict[str, Any]]:
        found = await report_rows(store, start=year_start, end=year_end, period=period, now=now, operator=operator())
        async with store.unit_of_work(read_only=True) as uow:
            earlier = await uow.sync_state.get(published_key) or {}
        return (*found, earlier)

    appointments, urgent, earlier = _with_store(settings, rows)
    directory = deployment.directory
    result = year_reports(
        appointments=appointments,
        urgent=urgent,
        year=args.year,
        timezone=texts.PARIS,
        threshold=args.threshold,
        topics=[t.id for t in directory.topics],
        sites=[s.id for s in directory.sites],
        earlier=earlier,
    )[f"Q{args.quarter}" if args.quarter else "year"]
    # Kept for every later report of the year: hidden once, hidden for good; shown, known.
    cells = published_cells(result, f"Q{args.quarter}" if args.quarter else "year")
    merged = {k: earlier[k] if k in earlier and earlier[k] is None else v for k, v in cells.items()}

    async def keep(store: Store, now: datetime) -> None:
        async with store.unit_of_work() as uow:
            await uow.sync_state.put(published_key, {**earlier, **merged}, now)
            await uow.commit()

    _with_store(settings, keep)
    plan = deployment.plans[directory.zones[0].worker_id]
    calendar = expand_plan(
        plan, date(args.year, 1, 1), date(args.year + 1, 1, 1), FrenchHolidays(deployment.subdivision)
    )
    budget = day_budget(plan, calendar, args.year, min(end.date(), service_clock(settings)().date()))
    labels = {
        **{t.id: t.label for t in directory.topics},
        "non_precise": "Non précisé",
        **{s.id: s.name for s in directory.sites},
        **texts.MODE_LABELS,
        **texts.DAY_KIND,
        **STATUS_LABELS,
    }
    shown = texts.HIDDEN_COUNT
    if args.json:
        document = {
            "period": {"start": start.isoformat(), "end": end.isoformat()},
            "provisional": end > service_clock(settings)(),
            "threshold": result.threshold,
            "appointments_held": result.held if result.held is not None else shown,
            "tables": {
                name: {
                    "total": t.total if t.total is not None else shown,
                    "cells": {c.key: c.shown() for c in t.cells},
                }
                for name, t in result.tables.items()
            },
            "median_lead_days": result.median_lead_days,
            "urgent_requests": result.urgent_requests if result.urgent_requests is not None else shown,
            "median_callback_hours": result.median_callback_hours,
            "days": {"budget": budget.total, "planned_in_year": budget.planned, "used": budget.used},
        }
        print(json.dumps(document, ensure_ascii=False, indent=2))
        return 0
    title = f"{args.quarter}e trimestre {args.year}" if args.quarter else f"année {args.year}"
    if end > service_clock(settings)():
        title += " (PROVISOIRE : la période n'est pas terminée)"
    print(f"Rapport d'activité du service social du travail — {title}")
    print(
        f"Effectifs inférieurs à {result.threshold} masqués, ainsi que tout effectif qui se déduirait des "
        "totaux ou des autres rapports de la même année ; aucune donnée nominative."
    )
    print(f"Rendez-vous tenus ou à venir : {result.held if result.held is not None else shown}")
    # Rows in the order the chat shows them (the plan's sites and topics, the modes, ...),
    # « Non précisé » and anything unknown last.
    order = {key: index for index, key in enumerate(labels)}
    order["non_precise"] = len(order)
    for name, heading in REPORT_TABLES.items():
        table = result.tables[name]
        print(f"{heading} :")
        for cell in sorted(table.cells, key=lambda c: (order.get(c.key, len(order) + 1), c.key)):
            print(f"  {labels.get(cell.key, cell.key):<74} {cell.shown():>6}")
    lead = f"{result.median_lead_days} jours" if result.median_lead_days is not None else shown
    callback = f"{result.median_callback_hours} h" if result.median_callback_hours is not None else shown
    print(f"Délai médian entre la réservation et le rendez-vous : {lead}")
    print(f"Délai médian de rappel des demandes urgentes : {callback}")
    print(f"Journées de présence : {budget.used} passées, {budget.planned} prévues sur l'année, budget {budget.total}.")
    return 0


def purge(args: argparse.Namespace, settings: Settings) -> int:
    from bot.application.retention import purge as purge_store

    async def run(store: Store, now: datetime) -> dict[str, int]:
        return await purge_store(
            store, settings.retention(now), now, dry_run=args.dry_run, actor="admin", operator=operator()
        )

    counts = _with_store(settings, run)
    verb = "seraient supprimés" if args.dry_run else "supprimés"
    print(f"{verb} : " + ", ".join(f"{n} {COUNTED.get(what, what)}" for what, n in counts.items()))
    return 0


def _passphrase(confirm: bool) -> str:
    import getpass
    import os

    given = os.environ.get("PERMANENCE_DOSSIERS_PASSPHRASE", "")
    if given:
        return given
    if not sys.stdin.isatty():
        raise StartupError(
            "définissez PERMANENCE_DOSSIERS_PASSPHRASE (pas de terminal pour demander la phrase secrète)"
        )
    first = getpass.getpass("Phrase secrète (à transmettre à part du fichier) : ")
    if confirm and getpass.getpass("Encore une fois : ") != first:
        raise StartupError("les deux phrases secrètes diffèrent")
    return first


def dossiers_export(args: argparse.Namespace, settings: Settings) -> int:
    from bot.application.handover import export_files
    from storage.dossiers import SealError, seal

    passphrase = _passphrase(confirm=True)

    scope = "open" if args.open_only else "all"
    payload_note: dict[str, Any] = {}

    async def run(store: Store, now: datetime) -> bytes:
        payload = await export_files(store, open_only=args.open_only, now=now, operator=operator())
        payload_note["agents_without_object_id"] = payload["agents_without_object_id"]
        return seal(payload, passphrase, scope=scope, now=now)

    try:
        data = _with_store(settings, run)
    except SealError as err:
        print(f"permanence dossiers export : {err}", file=sys.stderr)
        return 2
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.touch(mode=0o600)
    output.write_bytes(data)
    print(f"export scellé écrit dans {output} ({len(data)} octets) ; transmettez la phrase secrète à part")
    print(_unlinked_note(payload_note))
    return 0


def _unseal(command: str, file: str) -> tuple[Any, dict[str, Any]] | None:
    """The sealed export's header and payload, or None after saying why it cannot be opened."""
    from storage.dossiers import SealError, unseal

    try:
        return unseal(Path(file).read_bytes(), _passphrase(confirm=False))
    except (SealError, OSError) as err:
        print(f"permanence dossiers {command} : {err}", file=sys.stderr)
        return None


def dossiers_verify(args: argparse.Namespace, settings: Settings) -> int:
    opened = _unseal("verify", args.file)
    if opened is None:
        return 2
    info, payload = opened
    counts = ", ".join(f"{n} {COUNTED.get(k, k)}" for k, n in info.counts.items())
    print(f"sceau intact : export du {info.created_at} ({info.scope}), {counts} ; sha256 {info.digest}")
    print(_unlinked_note(payload))
    return 0


def _unlinked_note(payload: dict[str, Any]) -> str:
    missing = int(payload.get("agents_without_object_id", 0))
    if not missing:
        return "chaque agent porte son identifiant Entra : l'import les reconnaîtra"
    return (
        f"{missing} {'agent enregistré' if missing <= 1 else 'agents enregistrés'} avant que l'identifiant Entra "
        "soit conservé ne peuvent pas être reconnus : leurs dossiers sont importés, et ils seront vus comme de "
        "nouveaux agents lorsqu'ils écriront"
    )


def dossiers_import(args: argparse.Namespace, settings: Settings) -> int:
    from bot.application.handover import import_files
    from storage.dossiers import SealError

    opened = _unseal("import", args.file)
    if opened is None:
        return 2
    _, payload = opened

    async def run(store: Store, now: datetime) -> dict[str, int]:
        return await import_files(store, payload, assign_to=args.assign_to, now=now, operator=operator())

    try:
        counts = _with_store(settings, run)
    except SealError as err:
        print(f"permanence dossiers import : {err}", file=sys.stderr)
        return 2
    print("importés : " + ", ".join(f"{n} {COUNTED.get(k, k)}" for k, n in counts.items()))
    return 0


def serve(args: argparse.Namespace, settings: Settings) -> int:
    from bot.app import run

    return run(settings)


def build_parser() -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = FrenchParser(
        prog="permanence",
        description="Rendez-vous confidentiels avec l'assistante sociale du travail : l'outil d'exploitation.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMANDE", title="commandes")

    p = commands.add_parser("serve", help="lance le bot (serveur HTTP)")
    p.set_defaults(handler=serve)

    plan = commands.add_parser("plan", help="le planning des permanences").add_subparsers(dest="sub", required=True)
    p = plan.add_parser(
        "show",
        help="chaque jour de présence d'une année (jours fériés écartés, journées ajoutées, absences) et le budget",
    )
    p.add_argument("--year", type=int, help="année civile, par exemple 2027 (par défaut : l'année en cours)")
    p.add_argument("--worker", help="identifiant de l'assistante sociale dans le planning (par défaut : la titulaire)")
    p.add_argument("--json", action="store_true", help="sortie JSON, pour un programme")
    p.set_defaults(handler=plan_show)

    p = commands.add_parser("slots", help="créneaux réservables du calendrier intégré")
    p.add_argument("--from", dest="start", type=_date_arg, required=True, help="premier jour (AAAA-MM-JJ)")
    p.add_argument("--days", type=int, default=14, help="nombre de jours affichés à partir de --from (14)")
    p.add_argument("--topic", help="identifiant du sujet dans le planning (par exemple retraite)")
    p.add_argument("--site", help="identifiant du site de l'agent (par défaut : le siège)")
    p.add_argument("--as-of", type=_datetime_arg, help="calcule comme à cet instant (ISO 8601)")
    p.add_argument("--json", action="store_true", help="sortie JSON, pour un programme")
    p.set_defaults(handler=slots)

    db = commands.add_parser("db", help="base de données").add_subparsers(dest="sub", required=True)
    db.add_parser("upgrade", help="applique les migrations").set_defaults(handler=db_upgrade)
    manifest = commands.add_parser("manifest", help="paquet de l'application Teams").add_subparsers(
        dest="sub", required=True
    )
    p = manifest.add_parser(
        "build", help="construit le paquet de l'application Teams (zip) depuis manifest/ et les réglages"
    )
    p.add_argument("--version", help="version de l'application, par exemple 1.0.0 (par défaut : celle du paquet)")
    p.add_argument(
        "--output",
        default="build/permanence-teams-app.zip",
        help="fichier zip à écrire (par défaut : build/permanence-teams-app.zip)",
    )
    p.set_defaults(handler=manifest_build)
    p = commands.add_parser(
        "report", help="rapport d'activité agrégé (trimestriel ou annuel), petits effectifs masqués"
    )
    p.add_argument("--year", type=int, help="année civile, par exemple 2027 (par défaut : l'année en cours)")
    p.add_argument("--quarter", type=int, help="trimestre, de 1 à 4 (par défaut : toute l'année)")
    p.add_argument(
        "--threshold",
        type=int,
        default=5,
        help="masque les effectifs inférieurs à ce seuil (au moins 2 ; par défaut 5)",
    )
    p.add_argument("--json", action="store_true", help="sortie JSON, pour un programme")
    p.add_argument("--provisional", action="store_true", help="rapport d'une période non terminée (marqué provisoire)")
    p.set_defaults(handler=report)
    dossiers = commands.add_parser(
        "dossiers", help="dossiers des agents : export scellé, vérification, import"
    ).add_subparsers(dest="sub", required=True)
    p = dossiers.add_parser("export", help="export scellé et chiffré des dossiers pour une successeure")
    p.add_argument("--output", required=True, help="fichier scellé à écrire (créé en mode 0600)")
    p.add_argument(
        "--open-only", action="store_true", help="seulement les rendez-vous à venir et les demandes urgentes en cours"
    )
    p.set_defaults(handler=dossiers_export)
    p = dossiers.add_parser("verify", help="vérifie le sceau et le contenu d'un export scellé")
    p.add_argument("file", help="le fichier scellé (écrit par « dossiers export »)")
    p.set_defaults(handler=dossiers_verify)
    p = dossiers.add_parser("import", help="importe un export scellé (sans effet si déjà importé)")
    p.add_argument("file", help="le fichier scellé (écrit par « dossiers export »)")
    p.add_argument("--assign-to", help="identifiant de la successeure qui reprend tous les dossiers")
    p.set_defaults(handler=dossiers_import)
    p = commands.add_parser(
        "purge", help="supprime ce que les durées de conservation n'autorisent plus (fait aussi chaque jour par serve)"
    )
    p.add_argument("--dry-run", action="store_true", help="compte seulement, sans rien supprimer")
    p.set_defaults(handler=purge)
    keys = commands.add_parser("keys", help="clés de chiffrement").add_subparsers(dest="sub", required=True)
    keys.add_parser("rotate", help="rechiffre tout sous la clé la plus récente").set_defaults(handler=keys_rotate)
    keys.add_parser("status", help="nombre de valeurs par clé encore utilisée").set_defaults(
        handler=audit_cli.keys_status
    )
    audit_cli.register(commands)
    rights_cli.register(commands)  # agent export|erase
    ops_cli.register(commands, plan=plan)  # outbox, plan check, backup
    admin_cli.register(commands, plan=plan)  # doctor, absences, plan reload
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader left early (`permanence plan show | head -1`): what it read is what it
        # wanted, not an error. Python would also fail flushing stdout at exit: point it at
        # /dev/null first.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 0


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
        check_test_clock(settings)
        if getattr(args, "year", False) is None:  # this year, on the service's clock
            args.year = service_clock(settings)().astimezone(texts.PARIS).year
        handler: Handler = args.handler
        return handler(args, settings)
    except StartupError as err:
        print(f"permanence : {err}", file=sys.stderr)
        return 2
    except PlanError as err:
        print(f"permanence : planning invalide : {err}", file=sys.stderr)
        return 2
    except ValueError as err:  # pydantic's ValidationError is a ValueError
        print(f"permanence : réglages invalides : {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
