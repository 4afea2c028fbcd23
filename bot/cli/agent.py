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
from bot.cli.common import operator
from bot.clock import service_clock
from bot.settings import Settings

UNKNOWN = "aucun agent connu sous cet identifiant Entra (jamais venu sur le service, ou déjà effacé)"
TAMPERED = (
    "le profil trouvé pour cet identifiant Entra ne porte pas son identifiant scellé (modifié dans la base) : "
    "rien n'est affiché ni effacé ; restaurez-le depuis une sauvegarde (voir docs/architecture.md)"
)


Labels = dict[str, dict[str, str]]  # "site" | "topic" -> id -> what the chat calls it


def _labels(settings: Settings) -> Labels:
    """What the chat calls each site and topic (an id the plan no longer has stays as it is)."""
    try:
        directory = settings.load_deployment().directory
    except Exception:  # noqa: BLE001 - the export never fails for want of a plan: ids then
        return {}
    return {"site": {s.id: s.name for s in directory.sites}, "topic": {t.id: t.label for t in directory.topics}}


def _document(data: PersonalData, labels: Labels | None = None) -> dict[str, Any]:
    labels = labels or {}

    def label(kind: str, key: str | None) -> str | None:
        return labels.get(kind, {}).get(key, key) if key else key

    def iso(moment: datetime) -> str:
        return moment.astimezone(texts.PARIS).isoformat()

    agent = data.agent
    return {
        "profile": {
            "name": agent.name,
            "email": agent.email,
            "phone": agent.phone,
            "site": agent.site_id,
            "site_name": label("site", agent.site_id),
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
                "site_name": label("site", a.site_id),
                "topic": a.topic_id,
                "topic_label": label("topic", a.topic_id),
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
        print(f"permanence agent export : {UNKNOWN}", file=sys.stderr)
        return 1
    except Tampered:
        print(f"permanence agent export : {TAMPERED}", file=sys.stderr)
        return 1
    document = _document(data, _labels(settings))
    if args.json:
        print(json.dumps(document, ensure_ascii=False, indent=2))
        return 0
    profile = document["profile"]
    print("Données conservées par Permanence")
    print(f"  Nom : {profile['name']}")
    print(f"  Adresse : {profile['email'] or '—'}")
    print(f"  Téléphone : {profile['phone'] or '—'}")
    print(f"  Site : {profile['site_name'] or '—'}")
    print(f"  Conservées jusqu'au {texts.day(data.profile_kept_until)}")
    print(f"Rendez-vous ({len(data.appointments)}) :")
    for a in data.appointments:
        status = texts.DATA_STATUS_LABELS.get(a.status.value, a.status.value)
        print(f"  {a.reference}  {texts.day_and_hour(a.start)}  {texts.MODE_LABELS[a.mode.value]}  {status}")
        appointment = next(d for d in document["appointments"] if d["reference"] == a.reference)
        print(f"      site : {appointment['site_name'] or '—'} ; sujet : {appointment['topic_label'] or '—'}")
        print(f"      message : {a.message or '—'}")
        print(f"      conservé jusqu'au {texts.day(a.kept_until)}" + ("" if a.erasable else " (à venir : conservé)"))
    print(f"Demandes urgentes ({len(data.urgent)}) :")
    for r in data.urgent:
        status = texts.DATA_STATUS_LABELS.get(r.status, r.status)
        print(f"  {r.reference}  {texts.day_and_hour(r.received_at)}  {status}")
        print(f"      situation : {r.description or '—'} ; téléphone : {r.phone or '—'}")
        print(f"      conservée jusqu'au {texts.day(r.kept_until)}" + ("" if r.erasable else " (en cours : conservée)"))
    print(texts.data_audit(data.audit_days))
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
        f"seraient effacés : {past} "
        f"{texts.plural(past, 'rendez-vous passé ou annulé', 'rendez-vous passés ou annulés')}, "
        f"{taken} {texts.plural(taken, 'demande urgente déjà prise', 'demandes urgentes déjà prises')} en charge"
        + (", et le profil de l'agent" if data.profile_erasable else "")
    )
    if not sys.stdin.isatty():
        print("rien n'est effacé : relancez avec --yes pour effacer", file=sys.stderr)
        return False
    return input("Effacer ? [o/N] ").strip().lower() in ("y", "yes", "o", "oui")


def agent_erase(args: argparse.Namespace, settings: Settings) -> int:
    try:
        if not args.yes:
            data = asyncio.run(_erase(settings, args.entra_id, dry_run=True))
            if not isinstance(data, PersonalData) or not _confirmed(data):
                return 1
        erasure = asyncio.run(_erase(settings, args.entra_id, dry_run=False))
    except NotFound:
        print(f"permanence agent erase : {UNKNOWN}", file=sys.stderr)
        return 1
    except Tampered:
        print(f"permanence agent erase : {TAMPERED}", file=sys.stderr)
        return 1
    if not isinstance(erasure, Erasure):
        return 1
    appointments, urgent = erasure.appointments, erasure.urgent
    print(
        f"effacés : {appointments} "
        f"{texts.plural(appointments, 'rendez-vous détaché et vidé', 'rendez-vous détachés et vidés')}, "
        f"{urgent} {texts.plural(urgent, 'demande urgente', 'demandes urgentes')} ; "
        + ("profil supprimé" if erasure.profile else "profil conservé")
    )
    if erasure.kept_appointments or erasure.kept_urgent:
        kept, still_open = erasure.kept_appointments, erasure.kept_urgent
        print(
            f"conservés : {kept} rendez-vous à venir (à annuler d'abord) et "
            f"{still_open} {texts.plural(still_open, 'demande urgente en cours', 'demandes urgentes en cours')}, "
            "avec le profil dont ils ont besoin"
        )
    print(
        "conservés par obligation : le journal d'audit (identifiants et actions seulement) ; "
        "les statistiques agrégées restent (lignes anonymes)"
    )
    return 0


def register(subparsers: Any) -> None:
    """Add `agent export` and `agent erase` to the `permanence` command line."""
    agent = subparsers.add_parser(
        "agent", help="les données d'un agent (droits d'accès et d'effacement RGPD), par identifiant Entra"
    ).add_subparsers(dest="sub", required=True)
    p = agent.add_parser(
        "export", help="tout ce qui est conservé sur l'agent, avec les dates de conservation (tracé dans l'audit)"
    )
    p.add_argument("--entra-id", required=True, help="l'identifiant d'objet Entra de l'agent")
    p.add_argument("--json", action="store_true", help="sortie JSON, pour un programme")
    p.set_defaults(handler=agent_export)
    p = agent.add_parser("erase", help="efface ce que la conservation n'exige pas (tracé dans l'audit)")
    p.add_argument("--entra-id", required=True, help="l'identifiant d'objet Entra de l'agent")
    p.add_argument("--yes", action="store_true", help="sans demander de confirmation")
    p.set_defaults(handler=agent_erase)
