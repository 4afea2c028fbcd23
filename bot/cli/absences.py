"""`permanence absences list|declare|cancel`: the workers' absences."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timedelta

from booking.absence import AbsenceSource
from booking.records import NotFound
from bot import texts
from bot.application import Application
from bot.cli.common import date_arg, operator, with_application
from bot.settings import Settings

MAX_REASON = 200

SOURCES = {
    AbsenceSource.DECLARED: "declared here",
    AbsenceSource.AUTOMATIC_REPLIES: "Outlook automatic replies",
    AbsenceSource.OOF_EVENT: "Outlook event",
}


def _last_day(moment: datetime) -> str:
    """The last day an absence covers (its end is the midnight after it), Paris time."""
    if moment.year >= 9000:
        return "until further notice"
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
        print("no current or future absence")
        return 0
    print(f"{'id':<36}  {'worker':<14} {'from':<10}  {'to':<20}  {'source':<26} replacement")
    for row, item in zip(rows, listed, strict=True):
        source = SOURCES[item.stored.absence.source]
        reason = f"  ({row['reason']})" if row.get("reason") else ""
        print(
            f"{row['id']:<36}  {row['worker']:<14} {row['from']:<10}  {row['to']:<20}  {source:<26} "
            f"{row['replacement'] or '-'}{reason}"
        )
    return 0


def absences_declare(args: argparse.Namespace, settings: Settings) -> int:
    from booking.records import StoredAbsence
    from bot.application.absences import InvalidAbsence
    from bot.application.context import AccessDenied

    command = "permanence absences declare"
    if len(args.reason) > MAX_REASON:
        print(f"{command}: --reason is limited to {MAX_REASON} characters", file=sys.stderr)
        return 2

    async def run(app: Application, now: datetime) -> StoredAbsence | str:
        directory = app.context.directory
        try:
            worker = directory.worker(args.worker)
        except KeyError:
            return f"unknown worker {args.worker!r} (known: {', '.join(w.id for w in directory.workers)})"
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
            return f"{err} (--from {args.start.isoformat()} --to {args.end.isoformat()}, both days included)"
        except AccessDenied:
            return f"{args.replacement!r} does not replace {args.worker!r} in the plan"

    result = with_application(settings, run)
    if isinstance(result, str):
        print(f"{command}: {result}", file=sys.stderr)
        return 2
    print(
        f"absence {result.id} declared: {args.worker} away from {args.start.isoformat()} to {args.end.isoformat()} "
        "included (audited; cancel it with 'permanence absences cancel ID')"
    )
    return 0


def absences_cancel(args: argparse.Namespace, settings: Settings) -> int:
    from bot.application.absences import NotDeclaredHere

    async def run(app: Application, now: datetime) -> object:
        return await app.absences.cancel(args.id, now, operator=operator())

    try:
        with_application(settings, run)
    except NotFound:
        print(f"permanence absences cancel: no absence {args.id} (see 'permanence absences list')", file=sys.stderr)
        return 1
    except NotDeclaredHere as err:
        print(
            f"permanence absences cancel: absence {args.id} was read from Outlook ({SOURCES[err.source]}), "
            "not declared here: change it in her Outlook; the next synchronisation follows",
            file=sys.stderr,
        )
        return 1
    print(f"absence {args.id} cancelled (audited)")
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `absences list|declare|cancel` to `permanence`."""
    absences = commands.add_parser("absences", help="workers' absences").add_subparsers(dest="sub", required=True)
    p = absences.add_parser("list", help="current and future absences, declared here or read from Outlook")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--reasons", action="store_true", help="also show the reasons given (each read is audited)")
    p.set_defaults(handler=absences_list)
    p = absences.add_parser("declare", help="declare a worker's absence (first and last day included)")
    p.add_argument("--worker", required=True, help="worker id from the plan (e.g. ass)")
    p.add_argument("--from", dest="start", type=date_arg, required=True, help="first day away (YYYY-MM-DD)")
    p.add_argument("--to", dest="end", type=date_arg, required=True, help="last day away (YYYY-MM-DD)")
    p.add_argument("--replacement", help="worker id of who acts for her (from her replacement chain)")
    p.add_argument("--reason", default="", help=f"a short note, kept encrypted (at most {MAX_REASON} characters)")
    p.set_defaults(handler=absences_declare)
    p = absences.add_parser("cancel", help="cancel an absence declared here (not one read from Outlook)")
    p.add_argument("id")
    p.set_defaults(handler=absences_cancel)
