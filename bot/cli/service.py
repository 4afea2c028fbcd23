"""Running and checking the service: `permanence serve`, `db upgrade`, `manifest build`, `backup` and `doctor`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from bot.application.diagnostics import Check, Status
from bot.cli.common import datetime_arg
from bot.clock import service_clock
from bot.settings import Settings


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

    print(f"database schema at revision {asyncio.run(upgrade())}")
    return 0


def manifest_build(args: argparse.Namespace, settings: Settings) -> int:
    from importlib.metadata import version as installed_version

    from bot.teams.manifest import ManifestError, build

    version = args.version or installed_version("permanence")
    try:
        path = build(settings, version, Path(args.output))
    except ManifestError as err:
        print(f"permanence manifest build: {err}", file=sys.stderr)
        return 2
    print(f"Teams app package written to {path} (upload it in Teams admin center > Manage apps)")
    return 0


def backup(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy.engine import make_url

    from storage.backup import BackupError, backup_sqlite
    from storage.db import is_sqlite

    url = settings.effective_database_url
    if not is_sqlite(url):
        print(
            "permanence backup: the database is PostgreSQL; back it up with its own tools, e.g.\n"
            '  pg_dump --format=custom --file=permanence.dump "$DATABASE"   (restore: pg_restore --clean)\n'
            "and keep PERMANENCE_ENCRYPTION_KEY and PERMANENCE_LOOKUP_KEY in a secret store, apart from the dump.",
            file=sys.stderr,
        )
        return 2
    database = Path(make_url(url).database or "")
    try:
        size = asyncio.run(backup_sqlite(database, Path(args.output)))
    except (BackupError, OSError) as err:
        print(f"permanence backup: {err}", file=sys.stderr)
        return 1
    from bot.runtime import key_file

    keys = key_file(settings)
    print(f"backup written to {args.output} ({size} bytes, mode 0600)")
    if not settings.encryption_key.get_secret_value():
        print(f"the keys are not in it: keep {keys} safe, apart from the backup (without it nothing can be read)")
    return 0


def _table(checks: list[Check]) -> list[str]:
    rows = [(c.area, c.subject or "-", c.status.value, c.detail or c.code) for c in checks]
    widths = [max(len(r[i]) for r in [("area", "subject", "status", ""), *rows]) for i in range(3)]
    lines = [f"{'area':<{widths[0]}}  {'subject':<{widths[1]}}  {'status':<{widths[2]}}  detail"]
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
        print(f"{problems} problem(s), {warnings} warning(s)")
    return 1 if problems else 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `serve`, `db upgrade`, `manifest build`, `backup` and `doctor` to `permanence`."""
    p = commands.add_parser("serve", help="run the bot (HTTP server)")
    p.set_defaults(handler=serve)
    db = commands.add_parser("db", help="database").add_subparsers(dest="sub", required=True)
    db.add_parser("upgrade", help="apply migrations").set_defaults(handler=db_upgrade)
    manifest = commands.add_parser("manifest", help="Teams app package").add_subparsers(dest="sub", required=True)
    p = manifest.add_parser("build", help="build the Teams app package (zip) from manifest/ and settings")
    p.add_argument("--version", help="app version, e.g. 1.0.0 (default: the package's)")
    p.add_argument("--output", default="build/permanence-teams-app.zip")
    p.set_defaults(handler=manifest_build)
    p = commands.add_parser("backup", help="online copy of the embedded SQLite database (file mode 0600)")
    p.add_argument("--output", required=True)
    p.set_defaults(handler=backup)
    p = commands.add_parser(
        "doctor",
        help="check settings, database, keys, plan, Graph, each worker's reachability, outbox (exit 1 on a problem)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--as-of", type=datetime_arg, help="check as if it were this moment (ISO 8601)")
    p.set_defaults(handler=doctor)
