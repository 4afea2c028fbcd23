"""`permanence serve` as a process with only the given settings, expected to refuse to start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def serve(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    """`permanence serve` with only these settings; a service that starts instead of refusing
    is stopped by the timeout, which fails the test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PERMANENCE_", "Microsoft"))}
    env |= {
        "PYTHONPATH": str(ROOT),
        "PERMANENCE_DATA_DIR": str(tmp_path / "var"),
        "PERMANENCE_KEY_FILE": str(tmp_path / "config" / "keys.json"),
        "PERMANENCE_PORT": "9",  # never reached: the refusal comes first
        **variables,
    }
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
