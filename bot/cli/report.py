"""`permanence report`: the aggregate activity report, small counts hidden."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime
from typing import Any

from booking.budget import day_budget
from booking.holidays import FrenchHolidays
from booking.plan import expand_plan
from bot import texts
from bot.cli.common import operator, with_store
from bot.clock import service_clock
from bot.settings import Settings
from storage.store import Store

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

    appointments, urgent, earlier = with_store(settings, rows)
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

    with_store(settings, keep)
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
