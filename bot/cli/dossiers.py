"""`permanence dossiers export|verify|import`: the sealed hand-over of the case files to a successor."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.cli.common import operator, with_store
from bot.runtime import StartupError
from bot.settings import Settings
from storage.store import Store


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
    from storage.dossier_file import SealError, seal

    passphrase = _passphrase(confirm=True)

    scope = "open" if args.open_only else "all"
    payload_note: dict[str, Any] = {}

    async def run(store: Store, now: datetime) -> bytes:
        payload = await export_files(store, open_only=args.open_only, now=now, operator=operator())
        payload_note["agents_without_object_id"] = payload["agents_without_object_id"]
        return seal(payload, passphrase, scope=scope, now=now)

    try:
        data = with_store(settings, run)
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
    from storage.dossier_file import SealError, unseal

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
    from storage.dossier_file import SealError

    opened = _unseal("import", args.file)
    if opened is None:
        return 2
    _, payload = opened

    async def run(store: Store, now: datetime) -> dict[str, int]:
        return await import_files(store, payload, assign_to=args.assign_to, now=now, operator=operator())

    try:
        counts = with_store(settings, run)
    except SealError as err:
        print(f"permanence dossiers import: {err}", file=sys.stderr)
        return 2
    print("imported: " + ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in counts.items()))
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `dossiers export|verify|import` to `permanence`."""
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
