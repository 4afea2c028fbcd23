"""bot/wire.py gives msrest's result, faster: compared with msrest on Teams-shaped activities, on
altered ones (wrong case, wrong types, nulls, unknown keys, bad dates) and on what the bot sends."""

from __future__ import annotations

import copy
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from botbuilder.core import CardFactory, MessageFactory, TurnContext
from botbuilder.schema import (
    Activity,
    CardAction,
    ChannelAccount,
    ConversationAccount,
    ConversationReference,
    Entity,
    ResourceResponse,
    SuggestedActions,
)
from botbuilder.schema.teams import TeamsChannelData, TenantInfo

from bot.channel.wire import from_json, to_json
from bot.teams import cards

TENANT = "00000000-0000-0000-0000-000000000001"

MESSAGE: dict[str, Any] = {
    "text": "mes rendez-vous",
    "textFormat": "plain",
    "type": "message",
    "timestamp": "2026-11-24T09:12:44.123Z",
    "localTimestamp": "2026-11-24T10:12:44.123+01:00",
    "id": "1732439564123",
    "channelId": "msteams",
    "serviceUrl": "https://smba.trafficmanager.net/emea/",
    "from": {
        "id": "29:1abcDEF",
        "name": "Camille Martin",
        "aadObjectId": "6b0a4c5e-1111-2222-3333-444455556666",
    },
    "conversation": {
        "conversationType": "personal",
        "tenantId": TENANT,
        "id": "a:1xyzConversation",
    },
    "recipient": {"id": "28:bot-app-id", "name": "Permanence"},
    "entities": [
        {"locale": "fr-FR", "country": "FR", "platform": "Windows", "timezone": "Europe/Paris", "type": "clientInfo"}
    ],
    "channelData": {"tenant": {"id": TENANT}},
    "locale": "fr-FR",
    "localTimezone": "Europe/Paris",
}
SUBMIT: dict[str, Any] = {
    **MESSAGE,
    "text": None,
    "replyToId": "1732439500000",
    "value": {"action": "pick", "form": "f0rm-1d", "slot": {"start": "2026-12-03T09:00:00+01:00"}, "topic": ""},
    "channelData": {"tenant": {"id": TENANT}, "source": {"name": "message"}, "legacy": {"replyToId": "1:x"}},
}
INVOKE: dict[str, Any] = {
    **MESSAGE,
    "type": "invoke",
    "name": "adaptiveCard/action",
    "text": None,
    "value": {"action": {"type": "Action.Execute", "verb": "refresh", "data": {"form": "x"}}, "trigger": "manual"},
}
MEMBERS_ADDED: dict[str, Any] = {
    "type": "conversationUpdate",
    "id": "f:123",
    "channelId": "msteams",
    "serviceUrl": "https://smba.trafficmanager.net/emea/",
    "membersAdded": [{"id": "29:1abcDEF", "aadObjectId": "6b0a4c5e-1111-2222-3333-444455556666"}],
    "from": {"id": "29:1abcDEF", "aadObjectId": "6b0a4c5e-1111-2222-3333-444455556666"},
    "recipient": {"id": "28:bot-app-id"},
    "conversation": {"conversationType": "personal", "tenantId": TENANT, "id": "a:1xyz"},
    "channelData": {"tenant": {"id": TENANT}, "eventType": "teamMemberAdded"},
}
INSTALLATION: dict[str, Any] = {
    **MEMBERS_ADDED,
    "type": "installationUpdate",
    "action": "add",
    "membersAdded": None,
    "channelData": {"tenant": {"id": TENANT}, "source": None, "settings": {"selectedChannel": {"id": "19:x"}}},
}
REACTION: dict[str, Any] = {
    **MESSAGE,
    "type": "messageReaction",
    "text": None,
    "reactionsAdded": [{"type": "like"}],
    "replyToId": "1732439500000",
    "attachments": [{"contentType": "text/html", "content": "<p>x</p>"}],
}
REAL = [MESSAGE, SUBMIT, INVOKE, MEMBERS_ADDED, INSTALLATION, REACTION]


def same(build: Any, data: Any) -> None:
    """Both give equal models, or both refuse with the same kind of exception."""
    try:
        expected = build().deserialize(copy.deepcopy(data))
    except Exception as err:  # noqa: BLE001 - whatever msrest raises, ours must raise too
        with pytest.raises(type(err)):
            from_json(build, copy.deepcopy(data))
        return
    got = from_json(build, copy.deepcopy(data))
    assert got == expected
    assert to_json(got) == expected.serialize()


@pytest.mark.parametrize("payload", REAL, ids=lambda p: str(p["type"]))
def test_teams_activities_read_as_msrest_reads_them(payload: dict[str, Any]) -> None:
    same(Activity, payload)
    activity = from_json(Activity, payload)
    assert activity.from_property.aad_object_id == payload["from"]["aadObjectId"]
    assert activity.conversation.id == payload["conversation"]["id"]


ALTERED: list[tuple[str, Any]] = [
    ("Text", "mes rendez-vous"),  # another case: not `text` for msrest either
    ("FROM", {"id": "29:spoof", "aadObjectId": "evil"}),
    ("text", 42),
    ("text", ["a"]),
    ("from", "29:1abc"),
    ("from", ["x"]),
    ("membersAdded", {"id": "29:1"}),
    ("membersAdded", ["29:1"]),
    ("entities", "clientInfo"),
    ("timestamp", "2026-13-45T99:00:00Z"),
    ("timestamp", 1732439564),
    ("localTimestamp", "yesterday"),
    ("conversation", None),
    ("conversation", {"id": 7, "isGroup": "true"}),
    ("conversation", {"id": "a:1", "isGroup": "maybe"}),
    ("value", "just text"),
    ("value", [1, {"a": None}]),
    ("channelData", {"tenant": {"id": None}, "nested": {"deep": [[{"x": 1.5}]]}}),
    ("unknownField", {"anything": True}),
    ("suggestedActions", {"actions": [{"type": "imBack", "title": "Oui", "value": "oui"}]}),
    ("suggestedActions", {"actions": "none"}),
    ("attachments", [{"contentType": "application/vnd.microsoft.card.adaptive", "content": {"body": []}}]),
    ("attachments", [None]),
]


@pytest.mark.parametrize(("key", "value"), ALTERED, ids=lambda v: repr(v)[:30])
def test_altered_activities_get_what_msrest_gives(key: str, value: Any) -> None:
    same(Activity, {**MESSAGE, key: value})


def test_randomly_altered_activities_get_what_msrest_gives() -> None:
    pool: list[Any] = [
        None,
        True,
        0,
        -1.5,
        "",
        "x",
        "2026-11-24T10:00:00Z",
        "not a date",
        [],
        ["a", 1],
        {},
        {"id": "29:z"},
        [{"id": "29:z"}],
    ]
    rng = random.Random(15)

    def mutate(node: Any) -> Any:
        if isinstance(node, dict) and node:
            key = rng.choice(list(node))
            roll = rng.random()
            if roll < 0.15:
                node[key.upper() if rng.random() < 0.5 else key.capitalize()] = node.pop(key)
            elif roll < 0.6:
                node[key] = copy.deepcopy(rng.choice(pool))
            else:
                node[key] = mutate(node[key])
        elif isinstance(node, list) and node:
            index = rng.randrange(len(node))
            node[index] = mutate(node[index])
        return node

    for _ in range(600):
        payload = copy.deepcopy(rng.choice(REAL))
        for _ in range(rng.randint(1, 4)):
            payload = mutate(payload)
        same(Activity, payload)


def sent_activities() -> list[Activity]:
    incoming = from_json(Activity, MESSAGE)
    reference = TurnContext.get_conversation_reference(incoming)
    built = [
        MessageFactory.text("Bonjour !"),
        MessageFactory.attachment(CardFactory.adaptive_card(cards.welcome(is_worker=False))),
        MessageFactory.attachment(CardFactory.adaptive_card(cards.welcome(is_worker=True))),
        MessageFactory.attachment(CardFactory.adaptive_card(cards.notice("Votre rendez-vous est annulé.", []))),
        MessageFactory.suggested_actions([CardAction(type="imBack", title="Oui", value="oui")], "Continuer ?"),
    ]
    for activity in built:
        TurnContext.apply_conversation_reference(activity, reference)
    updated = MessageFactory.attachment(CardFactory.adaptive_card(cards.notice("C'est fait.", [])))
    updated.id = "1732439500000"
    TurnContext.apply_conversation_reference(updated, reference)
    odd = Activity(
        type="message",
        text="x",
        timestamp=datetime(2026, 11, 24, 10, 0, tzinfo=timezone(timedelta(hours=1))),
        local_timestamp=datetime(2026, 11, 24, 9, 0, tzinfo=UTC),
        entities=[Entity(type="mention")],
        channel_data=TeamsChannelData(tenant=TenantInfo(id=TENANT)),  # a model in an `object` field
        suggested_actions=SuggestedActions(to=["29:1"], actions=[]),
        members_added=[ChannelAccount(id="29:1", name="A")],
        conversation=ConversationAccount(id="a:1", tenant_id=TENANT),
        value={"when": datetime(2026, 11, 24, tzinfo=UTC), "n": [1, 2.5, None]},
    )
    return [*built, updated, odd]


@pytest.mark.parametrize("activity", sent_activities(), ids=lambda a: str(a.type))
def test_what_the_bot_sends_is_written_as_msrest_writes_it(activity: Activity) -> None:
    assert to_json(activity) == activity.serialize()
    assert from_json(Activity, to_json(activity)) == Activity().deserialize(activity.serialize())


def test_references_and_responses_round_trip() -> None:
    reference = TurnContext.get_conversation_reference(from_json(Activity, MESSAGE))
    assert to_json(reference) == reference.serialize()
    assert from_json(ConversationReference, to_json(reference)) == ConversationReference().deserialize(
        reference.serialize()
    )
    same(ResourceResponse, {"id": "1:abc"})
    same(ResourceResponse, {})
