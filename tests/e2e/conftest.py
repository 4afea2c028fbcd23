"""End-to-end harness: the bot served for real (`permanence serve`, fresh SQLite, local
calendar), the Microsoft 365 Agents Playground in front of it (one process per user, each
with its own configuration file), and headless Chromium driven by Playwright.

Without Chromium or the Playground these tests skip with the reason, except under CI,
where they fail: CI installs both.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from storage.crypto import Keyring
from storage.store import Store
from tests.dates import served_environment

METRICS_TOKEN = "e2e-metrics-token"  # the served bot shows /metrics on its port with it
ROOT = Path(__file__).resolve().parents[2]
PLAYGROUND = ROOT / "node_modules" / ".bin" / "agentsplayground"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTEFACTS = ROOT / "test-artifacts" / "e2e"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--lang=fr-FR",
]
PARIS = ZoneInfo("Europe/Paris")
TENANT = "00000000-0000-0000-0000-0000000000e1"
MEETING_URL = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_permanence%40thread.v2/0"

WORKER = {"name": "Assistante sociale", "oid": "00000000-0000-0000-0000-0000000000a0"}
REPLACEMENT = {"name": "Remplaçante", "oid": "00000000-0000-0000-0000-0000000000b0"}

# The Playground's schema asks for at least five other users (used by roster APIs only).
COLLEAGUES = [
    {
        "id": f"user-colleague-{i}",
        "name": f"Collègue {i}",
        "userPrincipleName": f"collegue{i}@cned.example",
        "aadObjectId": f"00000000-0000-0000-0000-00000000009{i}",
        "givenName": "Collègue",
        "surname": str(i),
        "email": f"collegue{i}@cned.example",
    }
    for i in range(5)
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def requirements() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    if not PLAYGROUND.exists():
        return "the Agents Playground is not installed (npm ci)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    return None


@pytest.fixture(autouse=True)
def _needs_browser() -> None:
    missing = requirements()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{missing}: CI must run the end-to-end tests")
        pytest.skip(missing)


async def wait_http(url: str, seconds: float = 40) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(int(seconds * 10)):
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with session.get(url) as response:
                    if response.status < 500:
                        return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


@dataclass
class Chat:
    """One person's Playground page."""

    page: Any
    name: str
    shots: Path

    @property
    def compose(self) -> Any:
        return self.page.locator('[data-lexical-editor="true"]')

    def card(self) -> Any:
        return self.page.locator(".ac-adaptiveCard").last

    async def say(self, text: str) -> None:
        await self.compose.click()
        await self.compose.fill(text)
        await self.compose.press("Enter")

    async def see(self, text: str, within_ms: float = 15_000) -> None:
        await self.page.get_by_text(text, exact=False).last.wait_for(timeout=within_ms)

    async def click(self, button: str, *, exact: bool = True, nth: int = -1) -> None:
        buttons = self.card().get_by_role("button", name=button, exact=exact)
        await (buttons.last if nth == -1 else buttons.nth(nth)).click()

    async def choose(self, label: str) -> None:
        await self.card().get_by_text(label, exact=False).first.click()

    async def pick_in_combobox(self, placeholder: str, option: str) -> None:
        await self.card().get_by_placeholder(placeholder).click()
        await self.page.get_by_role("option", name=option).click()

    async def fill(self, label: str, value: str) -> None:
        await self.card().get_by_label(label, exact=False).first.fill(value)

    async def slot_buttons(self) -> list[str]:
        return [
            t.strip()
            for t in await self.card().get_by_role("button").all_inner_texts()
            if re.fullmatch(r"\d{1,2} h( \d{2})?", t.strip())
        ]

    async def wait_slots(self, seconds: float = 15) -> list[str]:
        """The slot buttons of the last card, once it has rendered them."""
        for _ in range(int(seconds * 10)):
            found = await self.slot_buttons()
            if found:
                return found
            await asyncio.sleep(0.1)
        raise AssertionError("no slot buttons in the last card")

    async def pick_date(self, index: int, day: Any) -> None:
        """Choose a date in the card's date picker through its calendar, as a person does."""
        # The card's own French placeholder (issue 26); the renderer's default if it has none.
        placeholder = re.compile(r"jj.mm.aaaa|Select a date")  # no slash: the selector is a regex literal
        await self.card().get_by_placeholder(placeholder).nth(index).click()
        dialog = self.page.locator("[role=dialog]").last
        label = f"{day.day}, {day.strftime('%B')}, {day.year}"  # the picker speaks English
        month = f"{day.strftime('%B')} {day.year}"
        for _ in range(13):
            # The grid shows the neighbouring months' days too, greyed and not clickable: turn
            # to the day's own month first.
            shown = await dialog.locator("table[role=grid]").first.get_attribute("aria-label") or ""
            target = dialog.locator(f'button[aria-label="{label}"]')
            if shown.startswith(month) and await target.count():
                await target.first.click()
                # The calendar pops over the card: it must be gone before the next field is
                # reached (on some months its six rows cover the next date input).
                try:
                    await dialog.wait_for(state="hidden", timeout=2000)
                except Exception:  # noqa: BLE001 - still open: close it as a person would
                    await self.page.keyboard.press("Escape")
                    await dialog.wait_for(state="hidden", timeout=5000)
                return
            await dialog.locator("button").nth(2).click()  # next month
        raise AssertionError(f"{label} not found in the date picker")

    async def day_labels(self, seconds: float = 15) -> list[str]:
        """The day headings of the last card's slots, once rendered."""
        days = ("Lundi", "Mardi", "Mercredi", "Jeudi", "Vendredi", "Samedi", "Dimanche")
        for _ in range(int(seconds * 10)):
            texts = await self.card().locator(".ac-textBlock").all_inner_texts()
            found = [t.strip() for t in texts if t.strip().startswith(days)]
            if found:
                return found
            await asyncio.sleep(0.1)
        raise AssertionError("no day headings in the last card")

    async def screenshot(self, name: str) -> None:
        self.shots.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)


@dataclass
class Stage:
    tmp: Path
    test_name: str
    now: datetime  # the pinned instant the bot and the browsers start at
    bot_port: int = 0
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    browser: Any = None
    chats: list[Chat] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        return self.tmp / "bot"

    @property
    def key_file(self) -> Path:
        return self.tmp / "config" / "keys.json"

    @property
    def today(self) -> date:
        """The pinned day in Paris: what the bot and the people's browsers call today."""
        return self.now.astimezone(PARIS).date()

    async def start_bot(self) -> None:
        self.bot_port = free_port()
        env = {
            **os.environ,
            "PERMANENCE_PORT": str(self.bot_port),
            "PERMANENCE_METRICS_TOKEN": METRICS_TOKEN,  # /metrics on the bot's port, with the token
            "PERMANENCE_DATA_DIR": str(self.data_dir),
            "PERMANENCE_KEY_FILE": str(self.key_file),
            "PERMANENCE_LOCAL_MEETING_URL": MEETING_URL,
            "PERMANENCE_IDENTITIES": json.dumps(
                {"ass": {"object_id": WORKER["oid"]}, "remplacante": {"object_id": REPLACEMENT["oid"]}}
            ),
            "PYTHONPATH": str(ROOT),
            **served_environment(self.now, self.tmp),
        }
        log = (self.tmp / "bot.log").open("wb")
        self.processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "serve"], cwd=self.tmp, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        )
        await wait_http(f"http://127.0.0.1:{self.bot_port}/healthz")

    async def open_chat(self, name: str, oid: str) -> Chat:
        """A Playground for this user, and a browser page on it."""
        port = free_port()
        home = self.tmp / f"playground-{port}"
        home.mkdir()
        user = {
            "id": f"user-{oid[-4:]}",
            "name": name,
            "userPrincipleName": f"{oid[-4:]}@cned.example",
            "aadObjectId": oid,
            "givenName": name.split()[0],
            "surname": name.split()[-1],
            "email": f"{oid[-4:]}@cned.example",
        }
        config = {
            "version": "0.1.1",
            "tenantId": TENANT,
            "bot": {"id": "00000000-0000-0000-0000-0000000000f0", "name": "Permanence sociale"},
            "currentUser": user,
            "users": COLLEAGUES,
            "personalChat": {"id": f"a:personal-{oid[-6:]}"},
            "groupChat": {"id": "group-chat", "name": "Groupe"},
            "team": {
                "id": "team",
                "name": "Équipe",
                "aadGroupId": "00000000-0000-0000-0000-0000000000d0",
                "channels": [{"id": "channel", "name": "Général"}],
            },
        }
        config_path = home / ".m365agentsplayground.yml"
        config_path.write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")  # JSON is YAML
        env = {**os.environ, "M365_AGENTS_PLAYGROUND_CONFIG_PATH": str(config_path), "BROWSER": "none"}
        log = (home / "playground.log").open("wb")
        self.processes.append(
            subprocess.Popen(
                [
                    str(PLAYGROUND),
                    "-e",
                    f"http://127.0.0.1:{self.bot_port}/api/messages",
                    "-c",
                    "msteams",
                    "-p",
                    str(port),
                    "--dt",
                ],
                cwd=home,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        try:
            await wait_http(f"http://127.0.0.1:{port}/")
        except RuntimeError:
            detail = "\n".join(p.read_text(errors="replace") for p in home.glob("devTools/*.log"))
            raise RuntimeError(f"the Playground did not start:\n{detail[-2000:]}") from None
        context = await self.browser.new_context(
            viewport={"width": 1280, "height": 1100}, locale="fr-FR", timezone_id="Europe/Paris"
        )
        # The person's browser lives at the bot's pinned instant too (its date pickers open on
        # that month); its time flows from there, timers included.
        await context.clock.install(time=self.now)
        page = await context.new_page()
        await page.goto(f"http://127.0.0.1:{port}/")
        chat = Chat(page=page, name=name, shots=ARTEFACTS / self.test_name)
        await chat.compose.wait_for(timeout=30_000)
        self.chats.append(chat)
        return chat

    def store(self) -> Store:
        keyring = Keyring.read_file(self.key_file)
        return Store(f"sqlite+aiosqlite:///{self.data_dir / 'permanence.db'}", keyring)


@pytest.fixture
async def stage(tmp_path: Path, request: pytest.FixtureRequest, pinned_now: datetime) -> AsyncIterator[Stage]:
    from playwright.async_api import async_playwright

    instance = Stage(tmp=tmp_path, test_name=request.node.name, now=pinned_now)
    async with async_playwright() as playwright:
        instance.browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            await instance.start_bot()
            yield instance
        finally:
            for index, chat in enumerate(instance.chats):
                with contextlib.suppress(Exception):
                    await chat.screenshot(f"final-{index}-{chat.name.replace(' ', '_')}")
            await instance.browser.close()
            for process in instance.processes:
                process.terminate()
            for process in instance.processes:
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
