"""Running and checking the service: `permanence serve`, `db upgrade`, `manifest build`, `backup` and `doctor`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from bot.application.diagnostics import Check, Status
from bot.clock import service_clock
from bot.settings import Settings

STATUSES = {"ok": "ok", "warning": "avertissement", "problem": "problème", "n/a": "sans objet"}


def serve(args: argparse.Namespace, settings: Settings) -> int:
    from bot.web.app import run

    return run(settings)


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


def manifest_build(args: argparse.Namespace, settings: Settings) -> int:
    from importlib.metadata import version as installed_version

    from bot.teams.manifest import ManifestError, build

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


def backup(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy.engine import make_url

    from storage.backup import BackupError, backup_sqlite
    from storage.db import is_sqlite

    url = settings.effective_database_url
    if not is_sqlite(url):
        print(
            "permanence backup : la base est PostgreSQL ; sauvegardez-la avec ses propres outils, par exemple\n"
            '  pg_dump --format=custom --file=permanence.dump "$DATABASE"   (restauration : pg_restore --clean)\n'
            "et gardez PERMANENCE_ENCRYPTION_KEY et PERMANENCE_LOOKUP_KEY dans un coffre à secrets, "
            "à part de la copie.",
            file=sys.stderr,
        )
        return 2
    database = Path(make_url(url).database or "")
    try:
        size = asyncio.run(backup_sqlite(database, Path(args.output)))
    except (BackupError, OSError) as err:
        print(f"permanence backup : {err}", file=sys.stderr)
        return 1
    from bot.runtime import key_file

    keys = key_file(settings)
    print(f"copie écrite dans {args.output} ({size} octets, mode 0600)")
    if not settings.encryption_key.get_secret_value():
        print(f"les clés n'y sont pas : gardez {keys} en lieu sûr, à part de la copie (sans elles, rien n'est lisible)")
    return 0


def _table(checks: list[Check]) -> list[str]:
    rows = [
        (c.area, c.subject or "-", STATUSES.get(c.status.value, c.status.value), c.detail or c.code) for c in checks
    ]
    widths = [max(len(r[i]) for r in [("domaine", "objet", "état", ""), *rows]) for i in range(3)]
    lines = [f"{'domaine':<{widths[0]}}  {'objet':<{widths[1]}}  {'état':<{widths[2]}}  détail"]
    lines += [f"{a:<{widths[0]}}  {s:<{widths[1]}}  {st:<{widths[2]}}  {d}" for a, s, st, d in rows]
    return lines


def doctor(args: argparse.Namespace, settings: Settings) -> int:
    from bot.checks.doctor import examine

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
