"""The deployable units: the systemd service verified by systemd itself, the container recipe read."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "permanence.service"
INSTALLED = "/opt/permanence/.venv/bin/permanence"


def directives() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_the_unit_is_hardened_and_migrates_before_serving():
    unit = directives()
    for key, value in {
        "User": "permanence",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "ReadWritePaths": "/var/lib/permanence",
        "EnvironmentFile": "/etc/permanence/permanence.env",
        "ExecStartPre": f"{INSTALLED} db upgrade",
        "ExecStart": f"{INSTALLED} serve",
        "Restart": "on-failure",
        "CapabilityBoundingSet": "",
        "UMask": "0077",
    }.items():
        assert value in unit.get(key, []), key
    assert "Environment" in unit and "PERMANENCE_DATA_DIR=/var/lib/permanence" in unit["Environment"]
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text(encoding="utf-8"))
    assert set(parser.sections()) == {"Unit", "Service", "Install"}


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verify_accepts_the_unit_without_a_warning(tmp_path):
    # verify checks that the programs exist: point it at this checkout's installed command.
    command = Path(sys.executable).parent / "permanence"
    assert command.exists(), "run scripts/setup first"
    unit = tmp_path / "permanence.service"
    unit.write_text(UNIT.read_text(encoding="utf-8").replace(INSTALLED, str(command)), encoding="utf-8")
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr  # an unknown value is only a warning: none allowed

    broken = tmp_path / "broken.service"
    broken.write_text(unit.read_text(encoding="utf-8").replace("ProtectSystem=strict", "ProtectSystem=bogus"))
    complaint = subprocess.run(
        ["systemd-analyze", "verify", str(broken)], capture_output=True, text=True, timeout=60, check=False
    ).stderr
    assert "bogus" in complaint  # the check above can fail


def test_the_container_recipe_installs_from_the_lock_file_and_runs_unprivileged():
    recipe = (ROOT / "deploy" / "Containerfile").read_text(encoding="utf-8")
    assert "--require-hashes -r requirements/lock.txt" in recipe
    assert "--no-deps" in recipe
    assert "\nUSER " in recipe and "USER root" not in recipe
    assert "permanence db upgrade" in recipe and "HEALTHCHECK" in recipe
