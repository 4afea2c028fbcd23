"""Two `permanence serve` replicas on one PostgreSQL database, with a recording channel."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import free_port


def start_replicas(env: dict[str, str], cwd: Path) -> tuple[list[int], list[subprocess.Popen[bytes]]]:
    """The deployment guide's steps: `permanence db upgrade`, then two `permanence serve` on free ports."""
    upgrade = subprocess.run(
        [sys.executable, "-m", "bot.cli", "db", "upgrade"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    assert upgrade.returncode == 0, upgrade.stderr
    ports = [free_port(), free_port()]
    replicas = []
    for port in ports:
        with (cwd / f"replica-{port}.log").open("wb") as log:  # what a replica said, if it failed to start
            replicas.append(
                subprocess.Popen(
                    [sys.executable, "-m", "bot.cli", "serve"],
                    cwd=cwd,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                    env={**env, "PERMANENCE_PORT": str(port)},
                )
            )
    return ports, replicas
