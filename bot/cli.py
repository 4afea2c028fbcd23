"""The `permanence` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

from booking.budget import day_budget
from booking.errors import PlanError
from booking.holidays import FrenchHolidays
from booking.plan import expand_plan
from bot import admin_cli, audit_cli, ops_cli, rights_cli, texts
from bot.audit_cli import operator
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
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from err


def _datetime_arg(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date and time: {value!r}") from err
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=texts.PARIS)
    return moment


def _iso(moment: datetime) -> str:
    return moment.astimezone(texts.PARIS).isoformat()


def plan_show(args: argparse.Namespace, settings: Settings) -> int:
    deployment = settings.load_deployment()
    worker_id = args.worker or deployment.directory.zones[0].worker_id
    if worker_id not in deployment.plans:
        print(f"permanence plan show: no plan for worker {worker_id!r}", file=sys.stderr)
        return 2
    plan = deployment.plans[worker_id]
    holidays = FrenchHolidays(deployment.subdivision)
    calendar = expand_plan(plan, date(args.year, 1, 1), date(args.year + 1, 1, 1), holidays)
    today = service_clock(settings)().astimezone(texts.PARIS).date()
    budget = day_budget(plan, calendar, args.year, today)
    if args.json:
        document = {
            "year": args.year,
            "worker": worker_id,
            "days": [
                {"date": d.date.isoformat(), "kind": d.kind.value, "start": _iso(d.start), "end": _iso(d.end)}
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
        print(f"  {texts.day(d.date):<32} {texts.hour(d.start)} – {texts.hour(d.end)}  {texts.DAY_KIND[d.kind]}")
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
            print(f"permanence slots: unknown topic {args.topic!r} (known: {known})", file=sys.stderr)
            return 2
    site_id = args.site or directory.head_office.id
    if site_id not in {s.id for s in directory.sites}:
        print(f"permanence slots: unknown site {site_id!r}", file=sys.stderr)
        return 2
    if not 1 <= args.days <= 366:
        print("permanence slots: --days must be between 1 and 366", file=sys.stderr)
        return 2
    now = args.as_of or service_clock(settings)()
    offer = asyncio.run(
        load_offer(settings, deployment, now=now, site_id=site_id, topic=topic, start=args.start, days=args.days)
    )
    horizon_end = now + deployment.plans[offer.titular.id].horizon
    if datetime.combine(args.start, datetime.min.time(), tzinfo=texts.PARIS).astimezone(UTC) >= horizon_end:
        print(
            f"note: the period starts after the booking horizon ({texts.day(horizon_end)}); "
            "use --as-of to see it as an agent will later.",
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

    print(f"database schema at revision {asyncio.run(upgrade())}")
    return 0


def keys_rotate(args: argparse.Namespace, settings: Settings) -> int:
    from bot.runtime import rotate_keys

    current, changed = asyncio.run(rotate_keys(settings, now=service_clock(settings)(), operator=operator()))
    print(f"{changed} values re-encrypted under key {current}")
    return 0


def manifest_build(args: argparse.Namespace, settings: Settings) -> int:
    from importlib.metadata import version as installed_version

    from bot.manifest import ManifestError, build

    version = args.version or installed_version("permanence")
    try:
        path = build(settings, version, Path(args.output))
    except ManifestError as err:
        print(f"permanence manifest build: {err}", file=sys.stderr)
        return 2
    print(f"Teams app package written to {path} (upload it in Teams admin center > Manage apps)")
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
        print("permanence report: --quarter must be 1 to 4", file=sys.stderr)
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
    for name, heading in REPORT_TABLES.items():
        table = result.tables[name]
        print(f"{heading} :")
        for cell in table.cells:
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
    verb = "would delete" if args.dry_run else "deleted"
    print(f"{verb}: " + ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in counts.items()))
    return 0


def _passphrase(confirm: bool) -> str:
    import getpass
    import os

    given = os.environ.get("PERMANENCE_DOSSIERS_PASSPHRASE", "")
    if given:
        return given
    if not sys.stdin.isatty():
        raise StartupError("set PERMANENCE_DOSSIERS_PASSPHRASE (no terminal to ask for the passphrase)")
    first = getpass.getpass("Passphrase (hand it over separately from the file): ")
    if confirm and getpass.getpass("Again: ") != first:
        raise StartupError("the two passphrases differ")
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
        print(f"permanence dossiers export: {err}", file=sys.stderr)
        return 2
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.touch(mode=0o600)
    output.write_bytes(data)
    print(f"sealed export written to {output} ({len(data)} bytes); hand the passphrase over separately")
    print(_unlinked_note(payload_note))
    return 0


def _unseal(command: str, file: str) -> tuple[Any, dict[str, Any]] | None:
    """The sealed export's header and payload, or None after saying why it cannot be opened."""
    from storage.dossiers import SealError, unseal

    try:
        return unseal(Path(file).read_bytes(), _passphrase(confirm=False))
    except (SealError, OSError) as err:
        print(f"permanence dossiers {command}: {err}", file=sys.stderr)
        return None


def dossiers_verify(args: argparse.Namespace, settings: Settings) -> int:
    opened = _unseal("verify", args.file)
    if opened is None:
        return 2
    info, payload = opened
    counts = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in info.counts.items())
    print(f"seal intact: export of {info.created_at} ({info.scope}), {counts}; sha256 {info.digest}")
    print(_unlinked_note(payload))
    return 0


def _unlinked_note(payload: dict[str, Any]) -> str:
    missing = int(payload.get("agents_without_object_id", 0))
    if not missing:
        return "every agent carries her Entra id: the importer will recognise them"
    return (
        f"{missing} agent(s) recorded before their Entra id was kept could not be carried as recognisable: "
        "their files are imported, and they will be seen as new agents when they write"
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
        print(f"permanence dossiers import: {err}", file=sys.stderr)
        return 2
    print("imported: " + ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in counts.items()))
    return 0


def serve(args: argparse.Namespace, settings: Settings) -> int:
    from bot.app import run

    return run(settings)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="permanence", description="Confidential appointments with the workplace social worker."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("serve", help="run the bot (HTTP server)")
    p.set_defaults(handler=serve)

    plan = commands.add_parser("plan", help="the permanence plan").add_subparsers(dest="sub", required=True)
    p = plan.add_parser("show", help="every day of presence of a year, holidays skipped, and the budget")
    p.add_argument("--year", type=int, help="default: this year")
    p.add_argument("--worker", help="worker id from the plan (default: the titular)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=plan_show)

    p = commands.add_parser("slots", help="bookable slots of the embedded calendar")
    p.add_argument("--from", dest="start", type=_date_arg, required=True, help="first day (YYYY-MM-DD)")
    p.add_argument("--days", type=int, default=14)
    p.add_argument("--topic", help="topic id from the plan (e.g. retraite)")
    p.add_argument("--site", help="the agent's site id (default: head office)")
    p.add_argument("--as-of", type=_datetime_arg, help="compute as if it were this moment (ISO 8601)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=slots)

    db = commands.add_parser("db", help="database").add_subparsers(dest="sub", required=True)
    db.add_parser("upgrade", help="apply migrations").set_defaults(handler=db_upgrade)
    manifest = commands.add_parser("manifest", help="Teams app package").add_subparsers(dest="sub", required=True)
    p = manifest.add_parser("build", help="build the Teams app package (zip) from manifest/ and settings")
    p.add_argument("--version", help="app version, e.g. 1.0.0 (default: the package's)")
    p.add_argument("--output", default="build/permanence-teams-app.zip")
    p.set_defaults(handler=manifest_build)
    p = commands.add_parser("report", help="aggregate activity report (quarterly or yearly), small counts hidden")
    p.add_argument("--year", type=int, help="default: this year")
    p.add_argument("--quarter", type=int, help="1 to 4 (default: the whole year)")
    p.add_argument("--threshold", type=int, default=5, help="hide counts below this (at least 2)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--provisional", action="store_true", help="report a period that is not over (marked provisional)")
    p.set_defaults(handler=report)
    dossiers = commands.add_parser("dossiers", help="case files").add_subparsers(dest="sub", required=True)
    p = dossiers.add_parser("export", help="sealed, encrypted export of the case files for a successor")
    p.add_argument("--output", required=True)
    p.add_argument("--open-only", action="store_true", help="only upcoming appointments and open urgent requests")
    p.set_defaults(handler=dossiers_export)
    p = dossiers.add_parser("verify", help="check a sealed export's seal and contents")
    p.add_argument("file")
    p.set_defaults(handler=dossiers_verify)
    p = dossiers.add_parser("import", help="import a sealed export (idempotent)")
    p.add_argument("file")
    p.add_argument("--assign-to", help="worker id of the successor who takes every file over")
    p.set_defaults(handler=dossiers_import)
    p = commands.add_parser("purge", help="delete what retention no longer allows (also run daily by serve)")
    p.add_argument("--dry-run", action="store_true", help="count only")
    p.set_defaults(handler=purge)
    keys = commands.add_parser("keys", help="encryption keys").add_subparsers(dest="sub", required=True)
    keys.add_parser("rotate", help="re-encrypt under the newest key").set_defaults(handler=keys_rotate)
    keys.add_parser("status", help="values per key id still in use").set_defaults(handler=audit_cli.keys_status)
    audit_cli.register(commands)
    rights_cli.register(commands)  # agent export|erase
    ops_cli.register(commands, plan=plan)  # outbox, plan check, backup
    admin_cli.register(commands, plan=plan)  # doctor, absences, plan reload
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
        check_test_clock(settings)
        if getattr(args, "year", False) is None:  # this year, on the service's clock
            args.year = service_clock(settings)().astimezone(texts.PARIS).year
        handler: Handler = args.handler
        return handler(args, settings)
    except StartupError as err:
        print(f"permanence: {err}", file=sys.stderr)
        return 2
    except PlanError as err:
        print(f"permanence: invalid plan: {err}", file=sys.stderr)
        return 2
    except ValueError as err:  # pydantic's ValidationError is a ValueError
        print(f"permanence: invalid settings: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
