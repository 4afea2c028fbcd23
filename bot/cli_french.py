"""The command line's own words in French: help, usage and argument errors (argparse speaks
English). The operators are Cned's IT and HR; log lines stay English."""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any, NoReturn

# argparse's error messages, as French says them (the value it names is kept as it is).
_ERRORS = (
    (re.compile(r"^the following arguments are required: (.*)$"), "arguments obligatoires manquants : {0}"),
    (re.compile(r"^unrecognized arguments: (.*)$"), "arguments non reconnus : {0}"),
    (
        re.compile(r"^argument (.*?): invalid choice: (.*?) \(choose from (.*)\)$"),
        "{0} : choix inconnu : {1} (choix : {2})",
    ),
    (re.compile(r"^argument (.*?): invalid (\w+) value: (.*)$"), "{0} : valeur invalide : {2}"),
    (re.compile(r"^argument (.*?): expected one argument$"), "{0} : une valeur est attendue"),
    (re.compile(r"^argument (.*?): not allowed with argument (.*)$"), "{0} : incompatible avec {1}"),
    (re.compile(r"^one of the arguments (.*) is required$"), "l'un de ces arguments est obligatoire : {0}"),
    (re.compile(r"^argument (.*?): (.*)$"), "{0} : {1}"),
)


def french_error(message: str) -> str:
    for pattern, said in _ERRORS:
        if match := pattern.match(message):
            return said.format(*match.groups())
    return message


class FrenchFormatter(argparse.HelpFormatter):
    def add_usage(self, usage: Any, actions: Any, groups: Any, prefix: str | None = None) -> None:
        super().add_usage(usage, actions, groups, prefix="utilisation : " if prefix is None else prefix)


class FrenchParser(argparse.ArgumentParser):
    """An argument parser whose help and errors are in French (its sub-commands too)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", FrenchFormatter)
        kwargs["add_help"] = False
        super().__init__(*args, **kwargs)
        self._positionals.title = "arguments"
        self._optionals.title = "options"
        self.add_argument("-h", "--help", action="help", default=argparse.SUPPRESS, help="affiche cette aide")

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog} : erreur : {french_error(message)}\n")
