"""What an operator met using the command line for the first time (issue 26): run as she runs it,
in a process of its own where the way it is started matters, else through `bot.cli.main`."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from tests.dates import pinned_environment

ROOT = Path(__file__).resolve().parents[2]


def environment(tmp_path: Path, now: datetime) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERMANENCE_")}
    return {**env, "PERMANENCE_DATA_DIR": str(tmp_path / "var"), **pinned_environment(now)}


# -- 12. A reader that leaves early is no error ---------------------------------------------------


def test_piping_to_a_reader_that_leaves_early_prints_no_traceback(tmp_path: Path, pinned_now: datetime):
    for command in (["plan", "show"], ["outbox", "list"], ["--help"]):
        read, write = os.pipe()
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", *command],
            stdout=write,
            stderr=subprocess.PIPE,
            env=environment(tmp_path, pinned_now),
            cwd=tmp_path,
        )
        os.close(write)
        os.close(read)  # like `| head -0`: gone before anything is written
        _, stderr = process.communicate(timeout=120)
        assert b"Traceback" not in stderr and b"BrokenPipeError" not in stderr, stderr.decode()
        assert process.returncode == 0, (command, stderr.decode())


# -- 9. The README's commands can be run as written ---------------------------------------------


def test_the_command_line_is_reachable_as_the_readme_says(tmp_path: Path, pinned_now: datetime):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Command line", 1)[1].split("\n## ", 1)[0]
    block = section.split("```\n", 2)[1]
    commands = [line for line in block.splitlines() if line.strip()]
    assert commands and all(line.startswith("scripts/permanence ") for line in commands), commands
    assert ".venv/bin/permanence" in section and ". .venv/bin/activate" in section
    env = environment(tmp_path, pinned_now)
    del env["PERMANENCE_DATA_DIR"]  # as she runs it: the checkout's ./var, from anywhere
    ran = subprocess.run(
        [ROOT / "scripts" / "permanence", "plan", "show"], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() and not (tmp_path / "var").exists()
