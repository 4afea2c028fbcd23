"""Issue 13, the product side against the local Graph through the real msgraph-sdk: the app
installed for each worker at start-up, the neutral e-mail when Teams cannot reach the handler,
and the next person at once when nobody can be reached. The bot is the real composition
(`bootstrap`), with Graph as its calendar provider and a TestAdapter as the Teams channel."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from botbuilder.core.adapters import TestAdapter

from bot import texts
from bot.application.access import delivery_grant
from bot.bootstrap import Overrides, bootstrap
from bot.web.app import RUNTIME, create_app
from graph.provider import URGENT_MAIL_BODY, URGENT_MAIL_SUBJECT
from tests.bot.conftest import (
    REPLACEMENT_OID,
    WORKER_OID,
    Clock,
    Person,
    Reply,
    World,
    sample_deployment,
)
from tests.bot.conftest import (
    test_settings as bot_settings,
)
from tests.graph.conftest import CATALOG_ID, NOTIFICATION_MAILBOX
from tests.graph.fake_graph import FakeGraph
from tests.helpers.graph_reach import APP_ID, graph_calendar

PHONE = "06 12 34 56 78"
OPEN_URL = f"https://teams.microsoft.com/l/app/{APP_ID}"


@pytest.fixture
async def world(tmp_path, graph: FakeGraph) -> AsyncIterator[World]:  # type: ignore[no-untyped-def]
    clock = Clock(datetime(2027, 3, 1, 8, 0, tzinfo=UTC))  # Monday 9:00 in Paris
    proactive = TestAdapter()
    runtime = await bootstrap(
        bot_settings(tmp_path / "var", teams_app_id=APP_ID),
        Overrides(
            clock=clock, channel=proactive, deployment=sample_deployment(), provider=lambda _: graph_calendar(graph)
        ),
    )
    yield World(runtime, clock, proactive)
    await runtime.close()


async def file_urgent(agent: Person, description: str) -> str:
    form = await agent.say("urgence")
    filed = await agent.submit(form.action(texts.URGENT_SEND), description=description, phone=PHONE, availability="")
    return filed.text.split("Référence : ")[1].split(".")[0]


async def open_request(world: World):  # type: ignore[no-untyped-def]
    async with world.store.unit_of_work(read_only=True) as uow:
        (request,) = await uow.urgent.open_requests()
    return request


# -- start-up -----------------------------------------------------------------------------


async def test_at_start_up_the_app_is_installed_for_each_worker_and_her_chat_kept(tmp_path, graph: FakeGraph):
    proactive = TestAdapter()
    settings = bot_settings(tmp_path / "var", teams_app_id=APP_ID, teams_service_url="https://smba.example/emea/")
    app = create_app(
        settings,
        overrides=Overrides(
            channel=proactive, deployment=sample_deployment(), provider=lambda _: graph_calendar(graph)
        ),
    )
    async with TestClient(TestServer(app)):
        runtime = app[RUNTIME]
        for _ in range(300):  # the start-up job runs a second after start
            reachable = await runtime.app.people.reachability()
            if all(r.teams_conversation for r in reachable):
                break
            await asyncio.sleep(0.1)
        posts = graph.graph_requests("POST", "/teamwork/installedApps")
        assert sorted(p.path for p in posts) == sorted(
            f"/v1.0/users/{oid}/teamwork/installedApps" for oid in (WORKER_OID, REPLACEMENT_OID)
        )
        assert {p.body["teamsApp@odata.bind"] for p in posts} == {
            f"{graph.base}/v1.0/appCatalogs/teamsApps/{CATALOG_ID}"
        }
        assert [(r.worker_id, r.teams_conversation) for r in reachable] == [("ass", True), ("remplacante", True)]
        # The kept reference reaches her chat: an urgent request is delivered there on Teams.
        chat = graph.installed_apps[WORKER_OID.lower()]
        (item,) = chat.values()
        async with runtime.store.unit_of_work() as uow:
            agent_id = await uow.agents.ensure("cccccccc-0000-0000-0000-000000000001", "Agent", runtime.clock())
            await uow.commit()
        await runtime.app.urgent.file(
            now=runtime.clock(), agent_id=agent_id, description="", phone=PHONE, availability=""
        )
        await runtime.dispatcher.run_once()
        (notice,) = [a for a in proactive.activity_buffer if a.conversation.id == item["chat"]["id"]]
        assert notice.service_url == "https://smba.example/emea/"
        assert graph.mails == []  # Teams reached her: no e-mail


async def test_a_second_run_finds_the_app_installed_and_keeps_the_chat_teams_gave(world: World, graph: FakeGraph):
    social = world.person("Assistante sociale", WORKER_OID)
    await social.say("aide")  # Teams gave the bot her conversation
    first = await world.runtime.reach_workers()
    again = await world.runtime.reach_workers()
    assert [r.installation for r in first] == ["installed", "installed"]
    assert [r.installation for r in again] == ["already_installed", "already_installed"]
    async with world.store.unit_of_work(read_only=True) as uow:
        person = await uow.agents.find(WORKER_OID)
        assert person is not None
        kept = await uow.agents.conversation(person, grant=delivery_grant(person))
    assert kept is not None and kept["conversation"]["id"] == social.conversation_id  # not overwritten
    lookups = graph.graph_requests("GET", "/teamwork/installedApps")
    assert all(f"/users/{REPLACEMENT_OID}/" in r.path for r in lookups)  # only for the one without a chat


# -- the second channel -------------------------------------------------------------------


async def test_when_teams_cannot_reach_her_the_neutral_mail_goes_out_and_the_agent_is_told(
    world: World, graph: FakeGraph
):
    agent = world.person("Dominique Secret")
    await agent.say("aide")
    reference = await file_urgent(agent, "SENTINEL-urgent-situation")
    sent = await world.deliver()
    (mail,) = graph.mails  # she never opened the bot: no Teams conversation
    assert mail["sender"] == NOTIFICATION_MAILBOX
    assert mail["toRecipients"] == [{"emailAddress": {"address": "ass@cned.example"}}]
    assert mail["subject"] == URGENT_MAIL_SUBJECT
    assert mail["body"]["content"] == URGENT_MAIL_BODY.format(open_url=OPEN_URL)
    body = json.dumps(mail, ensure_ascii=False)
    for secret in ("Dominique", "Secret", "SENTINEL", PHONE, "06 12", reference, "Expulsion", "Agent"):
        assert secret not in body
    # Reached by e-mail: the agent is told who will call her back; the request stays with her.
    assert [a.conversation.id for a in sent] == [agent.conversation_id]
    assert texts.URGENT_REACHED.format(reference=reference, deadline="lundi 1er mars 2027 à 13 h") in Reply(sent).text
    request = await open_request(world)
    assert request.handler_id == "ass" and request.reached


async def test_not_taken_in_time_on_teams_the_mail_follows(world: World, graph: FakeGraph):
    social = world.person("Assistante sociale", WORKER_OID)
    await social.say("aide")
    agent = world.person("Agent")
    await file_urgent(agent, "SENTINEL")
    assert len(await world.deliver()) == 2  # her notice on Teams, the agent told she was reached
    assert graph.mails == []
    world.clock.advance(timedelta(minutes=14))
    await world.deliver()
    assert graph.mails == []
    world.clock.advance(timedelta(minutes=2))  # past PERMANENCE_URGENT_ACK_MINUTES (15)
    assert await world.deliver() == []  # the agent already knows
    (mail,) = graph.mails
    assert mail["toRecipients"] == [{"emailAddress": {"address": "ass@cned.example"}}]
    assert (await open_request(world)).handler_id == "ass"  # reached: the deadline still governs


async def test_unreachable_on_every_channel_the_next_person_is_reached_at_once(world: World, graph: FakeGraph):
    graph.planned.append(("POST", f"/users/{NOTIFICATION_MAILBOX}/sendMail", "400"))  # her e-mail refused
    agent = world.person("Agent Rouen")
    await agent.say("aide")
    reference = await file_urgent(agent, "SENTINEL")
    sent = await world.deliver()  # the clock does not move: no deadline is waited for
    assert [m["toRecipients"][0]["emailAddress"]["address"] for m in graph.mails] == ["remplacante@cned.example"]
    request = await open_request(world)
    assert request.handler_id == "remplacante" and request.step == 1 and request.reached
    told = Reply(sent).text
    assert "transmise à sa remplaçante" in told and reference in told
    assert all(n in told for n in ("15", "17", "112", "3114"))


async def test_nobody_reachable_the_agent_gets_the_hotline_at_once(world: World, graph: FakeGraph):
    for _ in range(2):
        graph.planned.append(("POST", "/sendMail", "400"))
    agent = world.person("Agent Lyon")
    await agent.say("aide")
    reference = await file_urgent(agent, "SENTINEL")
    sent = await world.deliver()
    assert graph.mails == [] and len(graph.graph_requests("POST", "/sendMail")) == 2
    request = await open_request(world)
    assert request.handler_id is None
    urgent = world.deployment.urgent
    told = Reply(sent).text
    assert (
        texts.URGENT_NOBODY_REACHED.format(reference=reference, name=urgent.hotline_name, phone=urgent.hotline_phone)
        in told
    )
    assert all(n in told for n in ("15", "17", "112", "3114"))
