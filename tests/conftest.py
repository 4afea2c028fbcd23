"""Every test keeps its embedded key file in its own temporary folder (never the home folder)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERMANENCE_KEY_FILE", str(tmp_path / "config" / "keys.json"))
