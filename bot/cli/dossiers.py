"""`permanence dossiers export|verify|import`: the sealed hand-over of the case files to a successor."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.cli.common import COUNTED, operator, with_store
from bot.runtime import StartupError
from bot.settings import Settings
from storage.store import Store


def _passphrase(confirm: bool) -> str:

    given = os.environ.get("PERMANENCE_DOSSIERS_PASSPHRASE", "")
    if given:
        return given
    if not sys.stdin.isatty():
        raise StartupError(
            "définissez PERMANENCE_DOSSIERS_PASSPHRASE (pas de terminal pour demander la phrase secrète)"
        )
    first = getpass.getpass("Phrase secrète (à transmettre à part du fichier) : ")
    if confirm and getpass.getpass("Encore une fois : ") != first:
        raise StartupError("les deux phrases secrètes diffèrent")
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
        print(f"permanence dossiers export : {err}", file=sys.stderr)
        return 2
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.touch(mode=0o600)
    output.write_bytes(data)
    print(f"export scellé écrit dans {output} ({len(data)} octets) ; transmettez la phrase secrète à part")
    print(_unlinked_note(payload_note))
    return 0


def _unseal(command: str, file: str) -> tuple[Any, dict[str, Any]] | None:
    """The sealed export's header and payload, or None after saying why it cannot be opened."""
    from storage.dossier_file import SealError, unseal

    try:
        return unseal(Path(file).read_bytes(), _passphrase(confirm=False))
    except (SealError, OSError) as err:
        print(f"permanence dossiers {command} : {err}", file=sys.stderr)
        return None


def dossiers_verify(args: argparse.Namespace, settings: Settings) -> int:
    opened = _unseal("verify", args.file)
    if opened is None:
        return 2
    info, payload = opened
    counts = ", ".join(f"{n} {COUNTED.get(k, k)}" for k, n in info.counts.items())
    print(f"sceau intact : export du {info.created_at} ({info.scope}), {counts} ; sha256 {info.digest}")
    print(_unlinked_note(payload))
    return 0


def _unlinked_note(payload: dict[str, Any]) -> str:
    missing = int(payload.get("agents_without_object_id", 0))
    if not missing:
        return "chaque agent porte son identifiant Entra : l'import les reconnaîtra"
    return (
        f"{missing} {'agent enregistré' if missing <= 1 else 'agents enregistrés'} avant que l'identifiant Entra "
        "soit conservé ne peuvent pas être reconnus : leurs dossiers sont importés, et ils seront vus comme de "
        "nouveaux agents lorsqu'ils écriront"
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
        print(f"permanence dossiers import : {err}", file=sys.stderr)
        return 2
    print("importés : " + ", ".join(f"{n} {COUNTED.get(k, k)}" for k, n in counts.items()))
    return 0
