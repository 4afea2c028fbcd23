"""A harness for the Teams conversation: the real bot, service, store (SQLite), outbox and
local calendar, driven through botbuilder's TestAdapter with one adapter per person."""

from __future__ import annotations

import dataclasses
import itertools
import secrets
import tomllib
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from botbuilder.core.adapters import TestAdapter
from botbuilder.schema import Activity, ActivityTypes, ChannelAccount, ConversationAccount

from booking.document import Deployment, parse_deployment
from bot.bootstrap import Overrides, Runtime, bootstrap
from bot.settings import Settings
from bot.web.app import METRICS_PORT
from graph.local import LocalCalendar
from tests.bot.logwatch import LogWatch, watching
from tests.dates import bookable_plan_text

MEETING_URL = "https://teams.microsoft.com/l/meetup-join/permanence-test"
TENANT = "11111111-2222-3333-4444-555555555555"
WORKER_OID = "aaaaaaaa-0000-0000-0000-000000000001"
REPLACEMENT_OID = "aaaaaaaa-0000-0000-0000-000000000002"


_WATCH: list[LogWatch] = []  # the running test's log watch (see `log_watch`)


@pytest.fixture(autouse=True)
def log_watch() -> Iterator[LogWatch]:
    """Every bot test at DEBUG, through production's log handler: at teardown, no name, Entra
    object id, Teams user id, conversation id, message, situation or phone of its personas
    may be in the output (`tests/bot/logwatch.py`)."""
    with watching() as watch:
        _WATCH.append(watch)
        try:
            yield watch
        finally:
            _WATCH.remove(watch)
        watch.check()


def watched() -> LogWatch | None:
    return _WATCH[-1] if _WATCH else None


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def sample_deployment(text: str | None = None) -> Deployment:
    """The sample plan (or `text`), with the personas' identities."""
    if text is None:
        text = resources.files("bot").joinpath("resources/plan.sample.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    for worker in data["workers"]:
        worker["object_id"] = {"ass": WORKER_OID, "remplacante": REPLACEMENT_OID}[worker["id"]]
        worker["mailbox"] = f"{worker['id']}@cned.example"
    return parse_deployment(data)


def walk(node: Any) -> list[dict[str, Any]]:
    """Every dict inside a card, depth first."""
    found = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found += walk(value)
    elif isinstance(node, list):
        for value in node:
            found += walk(value)
    return found


def said(activity: Activity) -> str:
    """What a proactive message says (its preview is its summary and fallback text, not its body)."""
    (attachment,) = activity.attachments or []
    blocks = [n["text"] for n in walk(attachment.content) if n.get("type") == "TextBlock"]
    return "\n".join(blocks)


@dataclasses.dataclass
class Reply:
    activities: list[Activity]
    ids: list[str] = dataclasses.field(default_factory=list)  # what the channel called the sent ones

    @property
    def card_id(self) -> str:
        """The id of the last message sent (the card a next click is on)."""
        assert self.ids, "nothing sent"
        return self.ids[-1]

    @property
    def cards(self) -> list[dict[str, Any]]:
        return [a.content for act in self.activities for a in (act.attachments or [])]

    @property
    def card(self) -> dict[str, Any]:
        assert self.cards, f"no card in reply: {self.text}"
        return self.cards[-1]

    @property
    def text(self) -> str:
        parts = [a.text or "" for a in self.activities]
        parts += [n["text"] for c in self.cards for n in walk(c) if n.get("type") == "TextBlock"]
        parts += [
            f"{f['title']}: {f['value']}"
            for c in self.cards
            for n in walk(c)
            if n.get("type") == "FactSet"
            for f in n["facts"]
        ]
        return "\n".join(parts)

    def action(self, title: str) -> dict[str, Any]:
        for node in walk(self.card):
            if node.get("type") == "Action.Submit" and node.get("title") == title:
                return dict(node["data"])
        titles = [n.get("title") for n in walk(self.card) if n.get("type", "").startswith("Action.")]
        raise AssertionError(f"no action {title!r} in card; actions: {titles}")

    def actions(self, action: str) -> list[dict[str, Any]]:
        return [
            dict(n["data"])
            for n in walk(self.card)
            if n.get("type") == "Action.Submit" and n["data"].get("action") == action
        ]

    def choices(self, input_id: str) -> list[str]:
        for node in walk(self.card):
            if node.get("id") == input_id:
                return [c["value"] for c in node["choices"]]
        raise AssertionError(f"no input {input_id}")


def recorded_ids(adapter: TestAdapter) -> list[str]:
    """Records the ids the adapter gives the activities the bot sends (its ResourceResponses)."""
    ids: list[str] = []
    send = adapter.send_activities

    async def sending(context: Any, activities: list[Activity]) -> Any:
        responses = await send(context, activities)
        ids.extend(r.id for r in responses)
        return responses

    adapter.send_activities = sending
    return ids


class Person:
    """One Teams user in a personal chat with the bot."""

    def __init__(self, world: World, name: str, object_id: str, conversation_id: str | None = None) -> None:
        self.world = world
        self.name = name
        self.object_id = object_id
        self.conversation_id = conversation_id or f"a:{secrets.token_hex(6)}"
        if (watch := watched()) is not None:
            watch.person(
                name=name, object_id=object_id, teams_id=f"29:{object_id}", conversation_id=self.conversation_id
            )
        self.adapter = TestAdapter(
            template_or_conversation=Activity(
                channel_id="msteams",
                service_url="https://smba.trafficmanager.net/emea/",
                from_property=ChannelAccount(id=f"29:{object_id}", name=name, aad_object_id=object_id),
                recipient=ChannelAccount(id="28:bot", name="Permanence"),
                conversation=ConversationAccount(
                    id=self.conversation_id, conversation_type="personal", tenant_id=TENANT
                ),
                channel_data={"tenant": {"id": TENANT}},
            )
        )
        # TestAdapter numbers activities from 0 in each adapter; Teams ids are unique (a repeated
        # id is a redelivery), so each adapter starts somewhere else.
        self.adapter._next_id = secrets.randbelow(10**12)
        self._ids = itertools.count(1)
        self._sent_ids = recorded_ids(self.adapter)

    def twin(self) -> Person:
        """The same person in the same conversation, on another device (or a double click):
        its own adapter, so that replies of concurrent turns are told apart."""
        return Person(self.world, self.name, self.object_id, self.conversation_id)

    async def _run(self, activity: Activity) -> Reply:
        self.adapter.activity_buffer.clear()
        self.adapter.updated_activities.clear()
        self._sent_ids.clear()
        await self.adapter.process_activity(activity, self.world.bot.on_turn)
        return Reply(list(self.adapter.activity_buffer) + list(self.adapter.updated_activities), list(self._sent_ids))

    async def say(self, text: str) -> Reply:
        return await self._run(Activity(type=ActivityTypes.message, text=text))

    async def submit(self, data: Any, **inputs: Any) -> Reply:
        value = {**data, **inputs} if isinstance(data, dict) else data
        if (watch := watched()) is not None and isinstance(value, dict):
            watch.inputs(value)
        return await self._run(Activity(type=ActivityTypes.message, value=value, reply_to_id=f"card-{next(self._ids)}"))

    async def click(self, on: Reply, data: Any, **inputs: Any) -> Reply:
        """A submit from the card message `on` sent (Teams names it in `replyToId`)."""
        value = {**data, **inputs} if isinstance(data, dict) else data
        return await self._run(Activity(type=ActivityTypes.message, value=value, reply_to_id=on.card_id))

    async def install(self) -> Reply:
        return await self._run(
            Activity(type=ActivityTypes.conversation_update, members_added=[ChannelAccount(id="28:bot")])
        )


class OutboxCalendar:
    """The embedded calendar (with meeting links) written the way Outlook is: by the outbox,
    after the booking's transaction, instead of naming its events in it. The outbox's calendar
    writes, their exactly-once and the Teams link notice are exercised through it; `world`
    uses it, `embedded_world` the embedded calendar as it ships."""

    def __init__(self, inner: LocalCalendar) -> None:
        self._inner = inner
        self.name = inner.name

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class World:
    """The real composition (`bootstrap`) on a fresh SQLite file, with the clock, the calendar
    (local, with meeting links, written by the outbox) and the proactive channel (a
    TestAdapter) overridden."""

    def __init__(self, runtime: Runtime, clock: Clock, proactive: TestAdapter) -> None:
        self.runtime = runtime
        self.store = runtime.store
        self.deployment = runtime.deployment
        self.app = runtime.app
        self.bot = runtime.bot
        self.dispatcher = runtime.dispatcher
        self.clock = clock
        self.proactive = proactive
        self.proactive_ids = recorded_ids(proactive)

    def person(self, name: str, object_id: str | None = None) -> Person:
        return Person(self, name, object_id or f"bbbbbbbb-{secrets.token_hex(2)}-0000-0000-{secrets.token_hex(6)}")

    async def deliver(self) -> list[Activity]:
        """Run the outbox until idle; return the proactive messages sent since the last call
        (including those the bot's own turns delivered right after committing)."""
        while await self.dispatcher.run_once():
            pass
        sent = list(self.proactive.activity_buffer)
        self.proactive.activity_buffer.clear()
        return sent

    def sent_ids(self) -> list[str]:
        """The ids of the proactive messages sent since the last call."""
        ids = list(self.proactive_ids)
        self.proactive_ids.clear()
        return ids

    def updates(self) -> dict[str, dict[str, Any]]:
        """The cards the outbox rewrote in place since the last call: message id -> its new card."""
        found = {a.id: a.attachments[0].content for a in self.proactive.updated_activities if a.attachments}
        self.proactive.updated_activities.clear()
        return found


async def scrape(client: TestClient) -> tuple[str, str]:
    """(content type, page) of /metrics, from the operators' listener of the app `client` serves."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{client.app[METRICS_PORT]}/metrics") as response,
    ):
        assert response.status == 200
        return response.headers["Content-Type"], await response.text()


def test_settings(data_dir: Path, **values: Any) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=data_dir,
        local_meeting_url=MEETING_URL,
        **values,
    )


async def make_world(
    data_dir: Path, *, embedded: bool = False, now: datetime | None = None, deployment: Deployment | None = None
) -> World:
    # The journeys' pinned instant: Monday 1 March 2027, 9:00 in Paris (the any-date tests give theirs).
    clock = Clock(now or datetime(2027, 3, 1, 8, 0, tzinfo=UTC))
    proactive = TestAdapter()
    overrides = Overrides(clock=clock, channel=proactive, deployment=deployment or sample_deployment())
    if not embedded:
        overrides = dataclasses.replace(
            overrides, provider=lambda settings: OutboxCalendar(LocalCalendar(settings.local_meeting_url))
        )
    runtime = await bootstrap(test_settings(data_dir), overrides)
    return World(runtime, clock, proactive)


@pytest.fixture
async def world(tmp_path) -> AsyncIterator[World]:  # type: ignore[no-untyped-def]
    world = await make_world(tmp_path / "var")
    yield world
    await world.runtime.close()


@pytest.fixture
async def embedded_world(tmp_path) -> AsyncIterator[World]:  # type: ignore[no-untyped-def]
    """The embedded calendar as it ships: an appointment's event is named in its booking."""
    world = await make_world(tmp_path / "var", embedded=True)
    yield world
    await world.runtime.close()


@pytest.fixture
async def pinned_world(tmp_path, pinned_now: datetime) -> AsyncIterator[World]:  # type: ignore[no-untyped-def]
    """A world at the pinned instant, with the sample plan (its next year agreed when it opens
    nothing from then): what the date matrix runs the journeys in."""
    world = await make_world(
        tmp_path / "var", now=pinned_now, deployment=sample_deployment(bookable_plan_text(pinned_now))
    )
    yield world
    await world.runtime.close()
