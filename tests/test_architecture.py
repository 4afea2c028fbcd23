"""The dependency arrows of the architecture are contracts (import-linter, configured in
pyproject.toml): they hold on the tree as it is, and each one fails when a violation is planted."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PLANTS = {
    # contract id: (file, line planted at its top)
    "application-framework-free": ("bot/application/bookings.py", "import botbuilder.core"),
    "storage-graph-apart": ("graph/local.py", "import storage.store"),
    "domain-pure": ("booking/rules.py", "import sqlalchemy"),
    "sdk-at-the-edge": ("storage/crypto.py", "import botbuilder.schema"),
    "storage-graph-independent": ("storage/db.py", "import bot.settings"),
    "channel-under-the-adapter": ("bot/channel/wire.py", "import bot.teams.cards"),
    "command-line-on-top": ("bot/web/jobs.py", "import bot.cli.common"),
}


def lint_copy(tmp_path: Path, plant: tuple[str, str] | None) -> subprocess.CompletedProcess[str]:
    for package in ("booking", "storage", "graph", "bot"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    if plant is not None:
        file, line = plant
        target = tmp_path / file
        text = target.read_text(encoding="utf-8")
        head, _, rest = text.partition("from __future__ import annotations\n")
        target.write_text(f"{head}from __future__ import annotations\n{line}  # planted\n{rest}", encoding="utf-8")
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_tree_keeps_every_contract(tmp_path: Path) -> None:
    result = lint_copy(tmp_path, None)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize("contract", sorted(PLANTS))
def test_a_planted_violation_breaks_its_contract(tmp_path: Path, contract: str) -> None:
    result = lint_copy(tmp_path, PLANTS[contract])
    assert result.returncode != 0
    names = {
        c["id"]: c["name"]
        for c in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    }
    assert f"{names[contract]} BROKEN" in result.stdout, result.stdout


GRANT_ISSUERS = {"booking/grants.py", "bot/application/access.py"}


def grant_issuers(root: Path) -> set[str]:
    """Production modules that name `issue_grant` (or the issuer's token): grants are handed out
    by the access policy alone, after it decided and audited the read."""
    found = set()
    for package in ("booking", "storage", "graph", "bot"):
        for path in (root / package).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
            names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
            names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
            if names & {"issue_grant", "_ISSUER"}:
                found.add(path.relative_to(root).as_posix())
    return found


def test_only_the_access_policy_issues_grants(tmp_path: Path) -> None:
    assert grant_issuers(ROOT) == GRANT_ISSUERS
    # A planted grant outside the policy is found.
    for package in ("booking", "storage", "graph", "bot"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    planted = tmp_path / "bot" / "application" / "bookings.py"
    plant = "\nfrom booking import grants\nGRANT = grants.issue_grant(grants.Purpose.OPERATOR)\n"
    planted.write_text(planted.read_text(encoding="utf-8") + plant, encoding="utf-8")
    assert grant_issuers(tmp_path) == GRANT_ISSUERS | {"bot/application/bookings.py"}
