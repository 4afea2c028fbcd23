"""`permanence plan check`: a plan file validated by TOML, the published JSON Schema and the parser,
each problem named in French and English with the line at fault."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from booking.budget import day_budget
from booking.document import Deployment, parse_deployment
from booking.errors import PlanError
from booking.holidays import FrenchHolidays
from booking.plan import expand_plan

Path = tuple[str | int, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class PlanProblem:
    line: int | None
    path: str  # e.g. plans.ass.weekly[0].hours, "" for the whole document
    french: str
    english: str

    def lines(self, file: str) -> list[str]:
        """What the operator reads (in French, as the whole command line speaks)."""
        where = f"{file}, ligne {self.line}" if self.line else file
        key = f" ({self.path})" if self.path else ""
        return [f"{where}{key} : {self.french}"]


@cache
def plan_schema() -> dict[str, Any]:
    """The JSON Schema of the plan file, shipped in the package (bot/resources/plan.schema.json)."""
    text = resources.files("bot").joinpath("resources/plan.schema.json").read_text(encoding="utf-8")
    return dict(json.loads(text))


def dotted(path: Iterable[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _split_key(key: str) -> list[str]:
    """`a."b.c".d` -> ["a", "b.c", "d"] (TOML dotted keys, quotes honoured)."""
    return [part.strip().strip("\"'") for part in re.findall(r'"[^"]*"|\'[^\']*\'|[^.]+', key)]


def _unquoted(text: str) -> str:
    """The text without its strings and comment (so that brackets in them are not counted)."""
    return re.sub(r'"(?:\\.|[^"\\])*"|\'[^\']*\'', '""', text).split("#", 1)[0]


def key_lines(text: str) -> dict[Path, int]:
    """The line (1-based) where each table, array-of-tables entry and key of a TOML text is written.

    A light scan, good enough to point at the faulty line: headers, `key = value` lines, and
    multi-line arrays skipped until their closing bracket. Keys inside inline tables map to
    the line of their enclosing key."""
    found: dict[Path, int] = {}
    counters: dict[Path, int] = {}
    table: Path = ()
    depth = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if depth > 0:
            plain = _unquoted(line)
            depth += plain.count("[") - plain.count("]")
            continue
        if not line or line.startswith("#"):
            continue
        header = re.match(r"^\[\[\s*(.+?)\s*\]\]", line) or re.match(r"^\[\s*(.+?)\s*\]", line)
        if header:
            keys: Path = tuple(_split_key(header.group(1)))
            if line.startswith("[["):
                index = counters.get(keys, 0)
                counters[keys] = index + 1
                keys = (*keys, index)
            table = keys
            found.setdefault(table, number)
            continue
        assignment = re.match(r"""^((?:"[^"]*"|'[^']*'|[A-Za-z0-9_\-. ])+?)\s*=(.*)$""", line)
        if assignment:
            path = (*table, *_split_key(assignment.group(1)))
            found.setdefault(path, number)
            plain = _unquoted(assignment.group(2))
            depth = max(0, plain.count("[") - plain.count("]"))
    return found


def locate(lines: dict[Path, int], path: Sequence[str | int]) -> int | None:
    """The line of `path`, or of its nearest written ancestor."""
    for end in range(len(path), 0, -1):
        if tuple(path[:end]) in lines:
            return lines[tuple(path[:end])]
    return None


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return value


def _french(error: ValidationError) -> tuple[str, list[str | int]]:
    """A French message for a schema error, and the path to point at (the extra key, when there is one)."""
    path = list(error.absolute_path)
    kind = error.validator
    if kind == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        return f"clé obligatoire manquante : « {', '.join(missing)} »", path
    if kind == "additionalProperties":
        known = set(error.schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in known)
        return f"clé inconnue : « {', '.join(extra)} » (faute de frappe ?)", [*path, extra[0]] if extra else path
    if kind == "type":
        names = {"string": "un texte", "integer": "un nombre entier", "boolean": "vrai ou faux (true/false)"}
        names |= {"array": "une liste", "object": "une table"}
        return f"type attendu : {names.get(str(error.validator_value), str(error.validator_value))}", path
    if kind == "enum":
        return f"valeur non reconnue ; valeurs possibles : {', '.join(map(str, error.validator_value))}", path
    if kind in ("pattern", "format"):
        if "date" in json.dumps(error.schema):
            return "date attendue au format AAAA-MM-JJ", path
        return "horaire attendu au format « 09:00-17:00 »", path
    if kind in ("minimum", "maximum", "minItems", "minLength", "minProperties"):
        return "valeur hors des limites permises", path
    return "valeur refusée", path


# The parser's messages (English), in French for the administrator who edits the file.
RULES_IN_FRENCH = (
    ("names an unknown site", "désigne un site inconnu"),
    ("names an unknown worker", "désigne une intervenante inconnue"),
    ("head office", "un site, et un seul, doit être le siège (head_office = true)"),
    ("has no plan", "la titulaire d'une zone n'a pas de plan"),
    ("must look like", "horaire attendu au format « 09:00-17:00 »"),
    ("must be a date", "date attendue au format AAAA-MM-JJ"),
    ("weekday", "jour de la semaine attendu, en anglais (par exemple « thursday »)"),
    ("slot length", "la durée d'un créneau doit être positive"),
    ("nth", "les vendredis retraite se numérotent de 1 à 5"),
)

_PATH = re.compile(r"^(?:document\.)?([A-Za-z_][\w-]*(?:\[\d+\])*(?:\.[\w-]+(?:\[\d+\])*)*)(?=[: ])")


def _error_path(message: str) -> list[str | int]:
    match = _PATH.match(message)
    if not match or ("." not in match.group(1) and "[" not in match.group(1)):
        return []
    path: list[str | int] = []
    for part in match.group(1).split("."):
        name, *indexes = re.split(r"\[(\d+)\]", part)
        path.append(name)
        path.extend(int(i) for i in indexes if i)
    return path


def _zone_path(data: dict[str, Any], message: str) -> list[str | int]:
    """`zone cned names an unknown worker` / `the titular of zone cned has no plan` -> zones[i]."""
    match = re.search(r"\bzone (\S+) (names an unknown (worker|site)|has no plan)", message)
    if not match:
        return []
    for index, zone in enumerate(data.get("zones", [])):
        if isinstance(zone, dict) and zone.get("id") == match.group(1):
            field = "sites" if match.group(3) == "site" else "worker"
            return ["zones", index, field]
    return []


def check_plan_text(text: str) -> tuple[Deployment | None, list[PlanProblem]]:
    """Validate a plan file's text: TOML syntax, then the schema, then the parser's own rules."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        at = re.search(r"\(at line (\d+), column (\d+)\)", str(err))
        line = int(at.group(1)) if at else None
        column = f" (colonne {at.group(2)})" if at else ""
        return None, [PlanProblem(line=line, path="", french=f"syntaxe TOML invalide{column}", english=str(err))]
    lines = key_lines(text)
    validator = Draft202012Validator(plan_schema(), format_checker=FormatChecker())
    problems = []
    for error in sorted(validator.iter_errors(_jsonable(data)), key=lambda e: list(map(str, e.absolute_path))):
        french, path = _french(error)
        problems.append(
            PlanProblem(
                line=locate(lines, path), path=dotted(error.absolute_path), french=french, english=error.message
            )
        )
    if problems:
        return None, problems
    try:
        return parse_deployment(data), []
    except PlanError as err:
        path = _error_path(str(err)) or _zone_path(data, str(err))
        problem = PlanProblem(
            line=locate(lines, path),
            path=dotted(path),
            french=next(
                (fr for en, fr in RULES_IN_FRENCH if en in str(err)),
                "le plan ne respecte pas une règle (détail en anglais)",
            ),
            english=str(err),
        )
        return None, [problem]


def budget_warnings(deployment: Deployment, years: Iterable[int]) -> list[str]:
    """Years whose planned days differ from the budget (contracted plus ordered days), in French."""
    holidays = FrenchHolidays(deployment.subdivision)
    warnings = []
    for worker_id, plan in deployment.plans.items():
        for year in years:
            if not plan.covers(year):
                warnings.append(f"{worker_id}, {year} : année non planifiée, aucun créneau ne sera proposé")
                continue
            calendar = expand_plan(plan, date(year, 1, 1), date(year + 1, 1, 1), holidays)
            budget = day_budget(plan, calendar, year, date(year, 1, 1))
            if budget.planned != budget.total:
                warnings.append(f"{worker_id}, {year} : {budget.planned} jours prévus pour un budget de {budget.total}")
    return warnings
