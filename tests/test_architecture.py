"""The dependency arrows of the architecture are contracts (import-linter, configured in
pyproject.toml): they hold on the tree as it is, and each one fails when a violation is planted."""

from __future__ import annotations

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
