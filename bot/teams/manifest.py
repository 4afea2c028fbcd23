"""`permanence manifest build`: the Teams app package from the template in manifest/."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from urllib.parse import urlparse

from bot.settings import GUID, Settings

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "manifest"
FILES = ("manifest.json", "en-us.json", "color.png", "outline.png")
VERSION = re.compile(r"^\d{1,5}\.\d{1,5}\.\d{1,5}$")
DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


class ManifestError(Exception):
    """The package cannot be built as configured; the message says what to fix."""


def package_values(settings: Settings, version: str) -> dict[str, str]:
    bot_id = settings.app_id
    app_id = settings.teams_app_id or bot_id
    domain = (urlparse(settings.public_url).hostname or "") if settings.public_url else ""
    problems = []
    if not GUID.match(bot_id or ""):
        problems.append("MicrosoftAppId (the bot's Entra application id) must be set to a GUID")
    if not GUID.match(app_id or ""):
        problems.append("PERMANENCE_TEAMS_APP_ID must be a GUID")
    if not DOMAIN.match(domain.lower()):
        problems.append("PERMANENCE_PUBLIC_URL must be the bot's public https address, e.g. https://permanence.cned.fr")
    elif not settings.public_url.startswith("https://"):
        problems.append("PERMANENCE_PUBLIC_URL must use https")
    if not VERSION.match(version):
        problems.append("the version must look like 1.2.3")
    if problems:
        raise ManifestError("; ".join(problems))
    return {"TEAMS_APP_ID": app_id.lower(), "BOT_ID": bot_id.lower(), "DOMAIN": domain.lower(), "VERSION": version}


def render(values: dict[str, str], template_dir: Path = TEMPLATE_DIR) -> dict[str, object]:
    text = (template_dir / "manifest.json").read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    if "{{" in text:
        raise ManifestError("the manifest template has an unknown placeholder")
    manifest: dict[str, object] = json.loads(text)
    return manifest


def build(settings: Settings, version: str, output: Path, template_dir: Path = TEMPLATE_DIR) -> Path:
    values = package_values(settings, version)
    manifest = render(values, template_dir)
    missing = [f for f in FILES[1:] if not (template_dir / f).exists()]
    if missing:
        raise ManifestError(f"missing in {template_dir}: {', '.join(missing)}")
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as package:
        package.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2))
        for name in FILES[1:]:
            package.write(template_dir / name, arcname=name)
    return output
