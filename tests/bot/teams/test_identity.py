"""One identity rule: a Teams personal chat, the person named by `from.aadObjectId`. A spoofed
`from.id`, another channel or a group chat gets nothing and changes nothing."""

from __future__ import annotations

from botbuilder.schema import Activity, ActivityTypes, ChannelAccount, ConversationAccount
from sqlalchemy import func, select

from bot import texts
from storage.models import AgentRow
from tests.bot.conftest import TENANT, WORKER_OID, Reply, World


async def agents(world: World) -> int:
    async with world.store.unit_of_work(read_only=True) as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(AgentRow)) or 0)


async def send(world: World, text: str, **changes: object) -> Reply:
    person = world.person("Quelqu'un")
    template = person.adapter.template
    for name, value in changes.items():
        setattr(template, name, value)
    return await person._run(Activity(type=ActivityTypes.message, text=text))


async def test_a_spoofed_from_id_without_aad_object_id_is_not_the_worker(world):
    reply = await send(world, "agenda", from_property=ChannelAccount(id=WORKER_OID, name="Assistante sociale"))
    assert "Agenda" not in reply.text and texts.PERSONAL_CHAT_ONLY in reply.text
    assert await agents(world) == 0


async def test_other_channels_get_nothing(world):
    for channel in ("webchat", "directline", "emulator"):
        reply = await send(
            world,
            "agenda",
            channel_id=channel,
            from_property=ChannelAccount(id="x", name="Assistante sociale", aad_object_id=WORKER_OID),
        )
        assert reply.activities == []
    assert await agents(world) == 0


async def test_a_group_chat_is_told_to_use_the_personal_chat(world):
    group = ConversationAccount(id="19:group", conversation_type="groupChat", tenant_id=TENANT)
    reply = await send(world, "rendez-vous", conversation=group)
    assert texts.PERSONAL_CHAT_ONLY in reply.text and texts.FORM_TITLE not in reply.text
    assert await agents(world) == 0


async def test_the_worker_in_her_personal_chat_is_recognised(world):
    social = world.person("Assistante sociale", WORKER_OID)
    reply = await social.say("agenda")
    assert texts.AGENDA_TITLE.split(" ·")[0] in reply.text and texts.PERSONAL_CHAT_ONLY not in reply.text
