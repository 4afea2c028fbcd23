"""The `permanence` command line: one module per command group, each adding its commands with
`register`; a handler takes (args, settings) and returns the exit code (0 done or all fine, 1 a
problem found or a request refused, 2 a usage or configuration error)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from booking.errors import PlanError
from bot import texts
from bot.cli import absences, agent, audit, dossiers, keys, outbox, plan, purge, report, service, slots
from bot.cli.common import Handler
from bot.clock import check_test_clock, service_clock
from bot.runtime import StartupError
from bot.settings import Settings

GROUPS = (service, plan, slots, report, dossiers, purge, keys, audit, agent, outbox, absences)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="permanence", description="Confidential appointments with the workplace social worker."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
        check_test_clock(settings)
        if getattr(args, "year", False) is None:  # this year, on the service's clock
            args.year = service_clock(settings)().astimezone(texts.PARIS).year
        handler: Handler = args.handler
        return handler(args, settings)
    except StartupError as err:
        print(f"permanence: {err}", file=sys.stderr)
        return 2
    except PlanError as err:
        print(f"permanence: invalid plan: {err}", file=sys.stderr)
        return 2
    except ValueError as err:  # pydantic's ValidationError is a ValueError
        print(f"permanence: invalid settings: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
