"""`permanence plan show|check|reload`: the permanence plan, its check, and reloading it in the running service."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime
from pathlib import Path

from booking.budget import day_budget
from booking.document import Deployment
from booking.holidays import FrenchHolidays
from booking.plan import expand_plan
from bot import texts
from bot.cli.common import iso, with_store
from bot.clock import service_clock
from bot.settings import Settings
from storage.store import Store


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
                {"date": d.date.isoformat(), "kind": d.kind.value, "start": iso(d.start), "end": iso(d.end)}
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


def plan_check(args: argparse.Namespace, settings: Settings) -> int:
    from bot.checks.plan_check import budget_warnings, check_plan_text

    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        print(f"{path} : illisible / unreadable ({type(err).__name__})", file=sys.stderr)
        return 2
    deployment, problems = check_plan_text(text)
    for problem in problems:
        for line in problem.lines(str(path)):
            print(line, file=sys.stderr)
    if deployment is None:
        print(f"{len(problems)} problème(s) / problem(s)", file=sys.stderr)
        return 1
    year = service_clock(settings)().astimezone(texts.PARIS).year
    for warning in budget_warnings(deployment, (year, year + 1)):
        print(f"attention / warning: {warning}")
    print(f"{path} : plan valide / valid plan")
    if args.against_database:
        return _orphans(deployment, settings)
    return 0


def _orphans(deployment: Deployment, settings: Settings) -> int:
    from bot.application.operations import orphaned_by

    async def run(store: Store, now: datetime) -> list[str]:
        return await orphaned_by(store, deployment, now, texts.PARIS)

    references = with_store(settings, run)
    if not references:
        print("aucun rendez-vous orphelin / no orphaned appointment")
        return 0
    print(f"{len(references)} rendez-vous sans créneau dans ce plan / appointments this plan would orphan:")
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
            print(f"{command}: the service refused ({err.code}): run this on the service's machine", file=sys.stderr)
            return 1
        document = json.loads(err.read())
    except (urllib.error.URLError, OSError) as err:
        print(
            f"{command}: no service at {url} ({getattr(err, 'reason', err)}); is it running? "
            "With systemd: 'systemctl reload permanence' (SIGHUP) does the same",
            file=sys.stderr,
        )
        return 2
    if not document["applied"]:
        for line in document["problems"]:
            print(line, file=sys.stderr)
        print(f"{command}: {document['source']} refused; the service keeps its current plan", file=sys.stderr)
        return 1
    for warning in document["warnings"]:
        print(f"attention / warning: {warning}")
    print(f"plan reloaded from {document['source']}")
    if document["orphans"]:
        print(f"{len(document['orphans'])} rendez-vous sans créneau dans ce plan / appointments now outside the plan:")
        for reference in document["orphans"]:
            print(f"  {reference}")
        print("move or cancel them with the agents")
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `plan show|check|reload` to `permanence`."""
    plan = commands.add_parser("plan", help="the permanence plan").add_subparsers(dest="sub", required=True)
    p = plan.add_parser("show", help="every day of presence of a year, holidays skipped, and the budget")
    p.add_argument("--year", type=int, help="default: this year")
    p.add_argument("--worker", help="worker id from the plan (default: the titular)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=plan_show)
    p = plan.add_parser("check", help="validate a plan file (exit code 1 on a problem, with the line)")
    p.add_argument("file")
    p.add_argument(
        "--against-database",
        action="store_true",
        help="also list the booked appointments this plan would orphan (references only)",
    )
    p.set_defaults(handler=plan_check)
    p = plan.add_parser("reload", help="make the running service re-read its plan file (kept if invalid; exit 1 then)")
    p.add_argument("--url", help="the service's address (default: http://127.0.0.1:PERMANENCE_PORT)")
    p.add_argument("--timeout", type=float, default=30.0)
    p.set_defaults(handler=plan_reload)
