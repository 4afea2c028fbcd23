"""The `permanence` command line: one module per command group, each adding its commands with
`register`; a handler takes (args, settings) and returns the exit code (0 done or all fine, 1 a
problem found or a request refused, 2 a usage or configuration error)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from booking.errors import PlanError
from bot import texts
from bot.cli import absences, agent, audit, outbox
from bot.cli.common import Handler, date_arg, datetime_arg
from bot.cli.dossiers import dossiers_export, dossiers_import, dossiers_verify
from bot.cli.french import FrenchParser
from bot.cli.keys import keys_rotate, keys_status
from bot.cli.plan import plan_show
from bot.cli.purge import purge
from bot.cli.report import report
from bot.cli.service import db_upgrade, manifest_build, serve
from bot.cli.slots import slots as slots_command
from bot.clock import check_test_clock, service_clock
from bot.runtime import StartupError
from bot.settings import Settings


def build_parser() -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = FrenchParser(
        prog="permanence",
        description="Rendez-vous confidentiels avec l'assistante sociale du travail : l'outil d'exploitation.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMANDE", title="commandes")

    p = commands.add_parser("serve", help="lance le bot (serveur HTTP)")
    p.set_defaults(handler=serve)

    plan = commands.add_parser("plan", help="le planning des permanences").add_subparsers(dest="sub", required=True)
    p = plan.add_parser(
        "show",
        help="chaque jour de présence d'une année (jours fériés écartés, journées ajoutées, absences) et le budget",
    )
    p.add_argument("--year", type=int, help="année civile, par exemple 2027 (par défaut : l'année en cours)")
    p.add_argument("--worker", help="identifiant de l'assistante sociale dans le planning (par défaut : la titulaire)")
    p.add_argument("--json", action="store_true", help="sortie JSON, pour un programme")
    p.set_defaults(handler=plan_show)

    p = commands.add_parser("slots", help="créneaux réservables du calendrier intégré")
    p.add_argument("--from", dest="start", type=date_arg, required=True, help="premier jour (AAAA-MM-JJ)")
    p.add_argument("--days", type=int, default=14, help="nombre de jours affichés à partir de --from (14)")
    p.add_argument("--topic", help="identifiant du sujet dans le planning (par exemple retraite)")
    p.add_argument("--site", help="identifiant du site de l'agent (par défaut : le siège)")
    p.add_argument("--as-of", type=datetime_arg, help="calcule comme à cet instant (ISO 8601)")
    p.add_argument("--json", action="store_true", help="sortie JSON, pour un programme")
    p.set_defaults(handler=slots_command)

    db = commands.add_parser("db", help="base de données").add_subparsers(dest="sub", required=True)
    db.add_parser("upgrade", help="applique les migrations").set_defaults(handler=db_upgrade)
    manifest = commands.add_parser("manifest", help="paquet de l'application Teams").add_subparsers(
        dest="sub", required=True
    )
    p = manifest.add_parser(
        "build", help="construit le paquet de l'application Teams (zip) depuis manifest/ et les réglages"
    )
    p.add_argument("--version", help="version de l'application, par exemple 1.0.0 (par défaut : celle du paquet)")
    p.add_argument(
        "--output",
        default="build/permanence-teams-app.zip",
        help="fichier zip à écrire (par défaut : build/permanence-teams-app.zip)",
    )
    p.set_defaults(handler=manifest_build)
    p = commands.add_parser(
        "report", help="rapport d'activité agrégé (trimestriel ou annuel), petits effectifs masqués"
    )
    p.add_argument("--year", type=int, help="année civile, par exemple 2027 (par défaut : l'année en cours)")
    p.add_argument("--quarter", type=int, help="trimestre, de 1 à 4 (par défaut : toute l'année)")
    p.add_argument(
        "--threshold",
        type=int,
        default=5,
        help="masque les effectifs inférieurs à ce seuil (au moins 2 ; par défaut 5)",
    )
    p.add_argument("--json", action="store_true", help="sortie JSON, pour un programme")
    p.add_argument("--provisional", action="store_true", help="rapport d'une période non terminée (marqué provisoire)")
    p.set_defaults(handler=report)
    dossiers = commands.add_parser(
        "dossiers", help="dossiers des agents : export scellé, vérification, import"
    ).add_subparsers(dest="sub", required=True)
    p = dossiers.add_parser("export", help="export scellé et chiffré des dossiers pour une successeure")
    p.add_argument("--output", required=True, help="fichier scellé à écrire (créé en mode 0600)")
    p.add_argument(
        "--open-only", action="store_true", help="seulement les rendez-vous à venir et les demandes urgentes en cours"
    )
    p.set_defaults(handler=dossiers_export)
    p = dossiers.add_parser("verify", help="vérifie le sceau et le contenu d'un export scellé")
    p.add_argument("file", help="le fichier scellé (écrit par « dossiers export »)")
    p.set_defaults(handler=dossiers_verify)
    p = dossiers.add_parser("import", help="importe un export scellé (sans effet si déjà importé)")
    p.add_argument("file", help="le fichier scellé (écrit par « dossiers export »)")
    p.add_argument("--assign-to", help="identifiant de la successeure qui reprend tous les dossiers")
    p.set_defaults(handler=dossiers_import)
    p = commands.add_parser(
        "purge", help="supprime ce que les durées de conservation n'autorisent plus (fait aussi chaque jour par serve)"
    )
    p.add_argument("--dry-run", action="store_true", help="compte seulement, sans rien supprimer")
    p.set_defaults(handler=purge)
    keys = commands.add_parser("keys", help="clés de chiffrement").add_subparsers(dest="sub", required=True)
    keys.add_parser("rotate", help="rechiffre tout sous la clé la plus récente").set_defaults(handler=keys_rotate)
    keys.add_parser("status", help="nombre de valeurs par clé encore utilisée").set_defaults(handler=keys_status)
    audit.register(commands)
    agent.register(commands)  # agent export|erase
    outbox.register(commands, plan=plan)  # outbox, plan check, backup
    absences.register(commands, plan=plan)  # doctor, absences, plan reload
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader left early (`permanence plan show | head -1`): what it read is what it
        # wanted, not an error. Python would also fail flushing stdout at exit: point it at
        # /dev/null first.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 0


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
        check_test_clock(settings)
        if getattr(args, "year", False) is None:  # this year, on the service's clock
            args.year = service_clock(settings)().astimezone(texts.PARIS).year
        handler: Handler = args.handler
        return handler(args, settings)
    except StartupError as err:
        print(f"permanence : {err}", file=sys.stderr)
        return 2
    except PlanError as err:
        print(f"permanence : planning invalide : {err}", file=sys.stderr)
        return 2
    except ValueError as err:  # pydantic's ValidationError is a ValueError
        print(f"permanence : réglages invalides : {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
