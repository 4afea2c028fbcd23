"""`permanence plan show|check|reload`: the permanence plan, its check, and reloading it in the running service."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import date, datetime
from pathlib import Path

from booking.absence import Absence, absence_at
from booking.budget import day_budget
from booking.document import Deployment
from booking.holidays import FrenchHolidays
from booking.plan import ExplicitDay, PlanDay, expand_plan
from bot import texts
from bot.application import Application
from bot.cli.common import iso, operator, with_application, with_store
from bot.clock import service_clock
from bot.settings import Settings
from storage.store import Store


def _worker_year(
    settings: Settings, deployment: Deployment, worker_id: str, start: date, end: date
) -> tuple[tuple[ExplicitDay, ...], list[Absence]]:
    """The days the worker added from the chat (or Outlook) and her absences, from the store; none
    when there is no database yet (a plan being prepared before the service first ran)."""
    from bot.bootstrap import open_application  # imports storage: only when there is a store

    if not settings.database_url and not (settings.data_dir / "permanence.db").exists():
        return (), []

    async def run() -> tuple[tuple[ExplicitDay, ...], list[Absence]]:
        store, app = await open_application(settings, deployment=deployment)
        try:
            return await app.offers.worker_year(worker_id=worker_id, start=start, end=end)
        finally:
            await store.dispose()

    return asyncio.run(run())


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
                    "start": iso(d.start),
                    "end": iso(d.end),
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


def plan_check(args: argparse.Namespace, settings: Settings) -> int:
    from bot.checks.plan_check import budget_warnings, check_plan_text

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

    async def run(store: Store, now: datetime) -> list[str]:
        return await orphaned_by(store, deployment, now, texts.PARIS)

    references = with_store(settings, run)
    if not references:
        print("aucun rendez-vous orphelin")
        return 0
    print(f"{len(references)} rendez-vous sans créneau dans ce planning :")
    for reference in references:
        print(f"  {reference}")
    return 1


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
    from bot.application import plan_identity

    async def run(app: Application, now: datetime) -> list[plan_identity.Change]:
        return await plan_identity.approve(app.context.store, app.context.deployment, now, operator=operator())

    found = with_application(settings, run)
    for change in found:
        print(f"  {change}")
    print(f"approuvé : {len(found)} changements d'intervenants ou de remplacements ; lancez 'permanence plan reload'")
    return 0
