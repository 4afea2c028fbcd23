"""`permanence agent export|erase`: a person's own rights (GDPR art. 15 and 17) served by the data
protection officer, for the agent known by her Entra object id; audited with the operator."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime
from typing import Any

from booking.records import NotFound, Tampered
from bot import texts
from bot.application.rights import Erasure, PersonalData
from bot.audit_cli import operator
from bot.clock import service_clock
from bot.settings import Settings

UNKNOWN = "no agent is known by this Entra object id (never used the service, or already erased)"
TAMPERED = (
    "the profile found for this Entra object id does not hold her sealed id (changed in the database): "
    "nothing shown or erased; restore it from a backup (see docs/architecture.md)"
)


def _document(data: PersonalData) -> dict[str, Any]:
    def iso(moment: datetime) -> str:
        return moment.astimezone(texts.PARIS).isoformat()

    agent = data.agent
    return {
        "profile": {
            "name": agent.name,
            "email": agent.email,
            "phone": agent.phone,
            "site": agent.site_id,
            "conversation_kept": agent.has_conversation,
            "first_contact": iso(agent.created_at),
            "kept_until": iso(data.profile_kept_until),
            "erasable": data.profile_erasable,
        },
        "appointments": [
            {
                "reference": a.reference,
                "start": iso(a.start),
                "mode": a.mode.value,
                "status": a.status.value,
                "site": a.site_id,
                "topic": a.topic_id,
                "message": a.message,
                "kept_until": iso(a.kept_until),
                "erasable": a.erasable,
            }
            for a in data.appointments
        ],
        "urgent_requests": [
            {
                "reference": r.reference,
                "received": iso(r.received_at),
                "status": r.status,
                "situation": r.description,
                "phone": r.phone,
                "availability": r.availability,
                "kept_until": iso(r.kept_until),
                "erasable": r.erasable,
            }
            for r in data.urgent
        ],
        "audit_trail_days": data.audit_days,
    }


async def _export(settings: Settings, object_id: str) -> PersonalData:
    from bot.bootstrap import open_application

    store, app = await open_application(settings)
    try:
        agent_id = await app.rights.find(object_id)
        return await app.rights.personal_data(
            now=service_clock(settings)(), agent_id=agent_id, requester="admin", operator=operator()
        )
    finally:
        await store.dispose()


def agent_export(args: argparse.Namespace, settings: Settings) -> int:
    try:
        data = asyncio.run(_export(settings, args.entra_id))
    except NotFound:
        print(f"permanence agent export: {UNKNOWN}", file=sys.stderr)
        return 1
    except Tampered:
        print(f"permanence agent export: {TAMPERED}", file=sys.stderr)
        return 1
    document = _document(data)
    if args.json:
        print(json.dumps(document, ensure_ascii=False, indent=2))
        return 0
    profile = document["profile"]
    print("Données conservées par Permanence")
    print(f"  Nom : {profile['name']}")
    print(f"  Adresse : {profile['email'] or '—'}")
    print(f"  Téléphone : {profile['phone'] or '—'}")
    print(f"  Site : {profile['site'] or '—'}")
    print(f"  Conservées jusqu'au {texts.day(data.profile_kept_until)}")
    print(f"Rendez-vous ({len(data.appointments)}) :")
    for a in data.appointments:
        status = texts.DATA_STATUS_LABELS.get(a.status.value, a.status.value)
        print(f"  {a.reference}  {texts.day_and_hour(a.start)}  {texts.MODE_LABELS[a.mode.value]}  {status}")
        print(f"      sujet : {a.topic_id or '—'} ; message : {a.message or '—'}")
        print(f"      conservé jusqu'au {texts.day(a.kept_until)}" + ("" if a.erasable else " (à venir : conservé)"))
    print(f"Demandes urgentes ({len(data.urgent)}) :")
    for r in data.urgent:
        status = texts.DATA_STATUS_LABELS.get(r.status, r.status)
        print(f"  {r.reference}  {texts.day_and_hour(r.received_at)}  {status}")
        print(f"      situation : {r.description or '—'} ; téléphone : {r.phone or '—'}")
        print(f"      conservée jusqu'au {texts.day(r.kept_until)}" + ("" if r.erasable else " (en cours : conservée)"))
    print(texts.DATA_AUDIT.format(days=data.audit_days))
    return 0


async def _erase(settings: Settings, object_id: str, *, dry_run: bool) -> PersonalData | Erasure:
    """Dry run: what is kept (a read, audited); otherwise the erasure (audited)."""
    from bot.bootstrap import open_application

    store, app = await open_application(settings)
    try:
        agent_id = await app.rights.find(object_id)
        now = service_clock(settings)()
        if dry_run:
            return await app.rights.personal_data(now=now, agent_id=agent_id, requester="admin", operator=operator())
        return await app.rights.erase(
            now=now, agent_id=agent_id, requester="admin", operator=operator(), forget_conversation=True
        )
    finally:
        await store.dispose()


def _confirmed(data: PersonalData) -> bool:
    past = sum(a.erasable for a in data.appointments)
    taken = sum(r.erasable for r in data.urgent)
    print(
        f"would erase: {past} past or cancelled appointment(s), {taken} urgent request(s) already taken"
        + (", and the agent's profile" if data.profile_erasable else "")
    )
    if not sys.stdin.isatty():
        print("nothing erased: run again with --yes to erase", file=sys.stderr)
        return False
    return input("Erase? [y/N] ").strip().lower() in ("y", "yes", "o", "oui")


def agent_erase(args: argparse.Namespace, settings: Settings) -> int:
    try:
        if not args.yes:
            data = asyncio.run(_erase(settings, args.entra_id, dry_run=True))
            if not isinstance(data, PersonalData) or not _confirmed(data):
                return 1
        erasure = asyncio.run(_erase(settings, args.entra_id, dry_run=False))
    except NotFound:
        print(f"permanence agent erase: {UNKNOWN}", file=sys.stderr)
        return 1
    except Tampered:
        print(f"permanence agent erase: {TAMPERED}", file=sys.stderr)
        return 1
    if not isinstance(erasure, Erasure):
        return 1
    print(
        f"erased: {erasure.appointments} appointment(s) detached and emptied, {erasure.urgent} urgent request(s); "
        + ("profile deleted" if erasure.profile else "profile kept")
    )
    if erasure.kept_appointments or erasure.kept_urgent:
        print(
            f"kept: {erasure.kept_appointments} upcoming appointment(s) (cancel them first) and "
            f"{erasure.kept_urgent} open urgent request(s), with the profile they need"
        )
    print("kept by law: the audit trail (ids and actions only); the aggregate counts stay (anonymous rows)")
    return 0


def register(subparsers: Any) -> None:
    """Add `agent export` and `agent erase` to the `permanence` command line."""
    agent = subparsers.add_parser(
        "agent", help="an agent's own data (GDPR access and erasure), by Entra object id"
    ).add_subparsers(dest="sub", required=True)
    p = agent.add_parser("export", help="everything kept about the agent, with retention dates (audited)")
    p.add_argument("--entra-id", required=True, help="the agent's Entra object id")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=agent_export)
    p = agent.add_parser("erase", help="erase what retention does not require (audited)")
    p.add_argument("--entra-id", required=True, help="the agent's Entra object id")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(handler=agent_erase)
