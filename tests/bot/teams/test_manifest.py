"""The Teams app package: valid for its declared schema, refused with bad ids, icons, commands."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import jsonschema
import pytest
from PIL import Image

from bot.cli import main
from bot.settings import Settings
from bot.teams.bot import match_command
from bot.teams.manifest import ManifestError, build

ROOT = Path(__file__).resolve().parents[3]
SCHEMAS = ROOT / "node_modules" / "@microsoft" / "app-manifest" / "build" / "json-schemas" / "teams"
BOT_ID = "c0ffee00-1234-4abc-8def-000000000001"
APP_ID = "d00dfeed-1234-4abc-8def-000000000002"


def settings(**overrides: str) -> Settings:
    values = {"MicrosoftAppId": BOT_ID, "teams_app_id": APP_ID, "public_url": "https://permanence.cned.fr"}
    values.update(overrides)
    return Settings(_env_file=None, **values)


def schema(version: str, name: str) -> dict[str, object]:
    path = SCHEMAS / f"v{version}" / name
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} missing: CI installs @microsoft/app-manifest (npm ci)")
        pytest.skip(f"{path} missing: run npm ci")
    loaded: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture
def package(tmp_path) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    path = build(settings(), "1.2.3", tmp_path / "app.zip")
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_the_built_manifest_validates_against_the_official_schema_of_its_version(package):
    manifest = json.loads(package["manifest.json"])
    version = manifest["manifestVersion"]
    assert tuple(int(x) for x in version.split(".")) >= (1, 24)
    jsonschema.Draft4Validator(schema(version, "MicrosoftTeams.schema.json")).validate(manifest)
    assert manifest["id"] == APP_ID and manifest["bots"][0]["botId"] == BOT_ID
    assert manifest["version"] == "1.2.3" and manifest["validDomains"] == ["permanence.cned.fr"]
    assert manifest["bots"][0]["scopes"] == ["personal"]
    assert "secret professionnel" in manifest["description"]["full"]
    english = json.loads(package["en-us.json"])
    jsonschema.Draft4Validator(schema(version, "MicrosoftTeams.Localization.schema.json")).validate(english)
    assert "professional secrecy" in english["description.full"]


def test_icons_have_the_required_sizes_and_the_outline_is_white_on_transparent(package):
    colour = Image.open(io.BytesIO(package["color.png"]))
    assert colour.size == (192, 192)
    outline = Image.open(io.BytesIO(package["outline.png"])).convert("RGBA")
    assert outline.size == (32, 32)
    pixels = list(outline.get_flattened_data())
    assert {p[3] for p in pixels} <= {0, 255} and 0 in {p[3] for p in pixels}
    assert all(p[:3] == (255, 255, 255) for p in pixels if p[3])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"MicrosoftAppId": ""}, "MicrosoftAppId"),
        ({"teams_app_id": ""}, None),  # falls back to the bot id: allowed
        ({"public_url": ""}, "PERMANENCE_PUBLIC_URL"),
        ({"public_url": "http://permanence.cned.fr"}, "https"),
        ({"public_url": "https://localhost"}, "PERMANENCE_PUBLIC_URL"),
    ],
)
def test_missing_or_malformed_values_are_refused(tmp_path, overrides, message):
    if message is None:
        build(settings(**overrides), "1.0.0", tmp_path / "ok.zip")
        return
    with pytest.raises(ManifestError, match=message):
        build(settings(**overrides), "1.0.0", tmp_path / "app.zip")
    assert not (tmp_path / "app.zip").exists()


def test_a_malformed_id_is_refused_by_the_command_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MicrosoftAppId", "not-a-guid")
    assert main(["manifest", "build", "--output", str(tmp_path / "x.zip")]) == 2
    assert "GUID" in capsys.readouterr().err
    monkeypatch.setenv("MicrosoftAppId", BOT_ID)
    monkeypatch.setenv("PERMANENCE_PUBLIC_URL", "https://permanence.cned.fr")
    assert main(["manifest", "build", "--version", "2.0", "--output", str(tmp_path / "y.zip")]) == 2
    assert "1.2.3" in capsys.readouterr().err
    assert main(["manifest", "build", "--version", "2.0.0", "--output", str(tmp_path / "z.zip")]) == 0
    assert (tmp_path / "z.zip").exists()


def test_every_listed_command_is_understood_by_the_bot(package):
    manifest = json.loads(package["manifest.json"])
    english = json.loads(package["en-us.json"])
    commands = manifest["bots"][0]["commandLists"][0]["commands"]
    titles = [c["title"] for c in commands]
    titles += [english[f"bots[0].commandLists[0].commands[{i}].title"] for i in range(len(commands))]
    for title in titles:
        assert match_command(title, worker=False) is not None, title
