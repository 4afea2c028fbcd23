"""No input gives a 5xx: hostile bodies, every invoke, and a seeded fuzz of mutated Teams
activities, over HTTP against the real app with Bot Framework JWTs and a recording channel."""

from __future__ import annotations

import asyncio
import copy
import json
import random
import secrets
from typing import Any

from tests.helpers.bot_http import APP_ID, TENANT


def nested(depth: int, leaf: Any = "x") -> Any:
    value = leaf
    for i in range(depth):
        value = [value] if i % 2 else {"a": value}
    return value


# -- minimised hostile inputs ---------------------------------------------------------------------


async def test_a_body_nested_a_thousand_levels_deep_is_a_400(harness):
    status, body = await harness.post(None, raw=b'{"a": [' * 500 + b"1" + b"]}" * 500)
    assert status == 400 and "Traceback" not in body
    status, body = await harness.post(None, raw=b"[" * 100_000 + b"]" * 100_000)
    assert status == 400


async def test_deep_nesting_inside_a_field_is_a_400(harness):
    activity = json.dumps(harness.activity(text="aide", value="VALUE")).encode()
    for depth in (100, 1000):
        raw = activity.replace(b'"VALUE"', b'{"a": [' * (depth // 2) + b"1" + b"]}" * (depth // 2))
        status, body = await harness.post(None, raw=raw)
        assert status == 400, depth
        assert json.loads(body) == {"error": "nested too deeply"}
    status, _ = await harness.post(harness.activity(text="aide", value=nested(20)))
    assert status == 200  # ordinary nesting is still an activity


async def test_text_that_is_not_unicode_and_oversized_bodies_are_refused(harness):
    raw = json.dumps(harness.activity(text="\ud800 aide")).encode()  # a lone surrogate, escaped
    assert (await harness.post(None, raw=raw))[0] == 400
    assert (await harness.post(None, raw=b"\xff\xfe{}"))[0] == 400
    assert (await harness.post(harness.activity(text="a" * 300_000)))[0] == 413


async def test_an_adaptive_card_action_invoke_gets_an_invoke_response(harness):
    # Without a value: botbuilder's own "bad request" invoke response, serialised.
    status, body = await harness.post(harness.activity("invoke", name="adaptiveCard/action"))
    assert status == 400
    assert json.loads(body)["statusCode"] == 400
    assert json.loads(body)["type"] == "application/vnd.microsoft.error"
    # With a value: Universal Actions are not handled by this bot: botbuilder's 501.
    value = {"action": {"type": "Action.Execute", "verb": "confirm", "data": {"form": "x"}}, "trigger": "manual"}
    status, _ = await harness.post(harness.activity("invoke", name="adaptiveCard/action", value=value))
    assert status == 501


async def test_every_other_invoke_gets_a_proper_status(harness):
    for name in ("task/fetch", "composeExtension/query", "signin/verifyState", "config/fetch", "no/such/thing"):
        status, body = await harness.post(harness.activity("invoke", name=name, value={"data": {}}))
        assert status in (200, 400, 501), (name, status)
        assert "Traceback" not in body


# -- seeded fuzz --------------------------------------------------------------------------------------

ACTIONS = [
    "book", "mine", "urgent", "help", "accept_change", "agenda", "requests", "urgent_list", "absence",
    "block", "add_day", "accept", "decline", "take", "absence_save", "block_save", "add_day_save", "site",
    "change_site", "slots", "more", "pick", "back", "confirm", "abandon", "move", "cancel", "cancel_yes",
    "cancel_no", "urgent_send", "nothing",
]  # fmt: skip
TEXTS = ["aide", "mes rendez-vous", "rendez-vous", "urgence", "agenda", "demandes", "bonjour", ""]
INVOKES = ["adaptiveCard/action", "task/fetch", "task/submit", "composeExtension/query", "signin/verifyState"]
ODD_VALUES: list[Any] = [
    None, 0, -1, 10**30, 1e308, True, [], {}, "", "x" * 20_000, "🙂" * 500, "\u202eRTL\u200b", "\x00",
    "'; DROP TABLE appointments; --", "2027-01-07T09:00:00+01:00", "../../etc/passwd", {"$ne": None},
]  # fmt: skip


def forged_value(rng: random.Random) -> dict[str, Any]:
    value: dict[str, Any] = {"action": rng.choice(ACTIONS)}
    value["form"] = rng.choice([secrets.token_urlsafe(12), "", None, 42, ["x"], "a" * 5000])
    for name in rng.sample(["slot", "site", "topic", "mode", "phone", "message", "appointment", "period"], 3):
        value[name] = rng.choice([*ODD_VALUES, "2027-01-07T09:00:00+01:00", "vanves", "retraite"])
    return value


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, item in node.items():
            found += paths(item, (*prefix, key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found += paths(item, (*prefix, index))
    return found


def mutate(base: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    activity = copy.deepcopy(base)
    activity["id"] = f"1:{rng.getrandbits(64):016x}"  # its own id, unless a mutation redelivers one
    for _ in range(rng.randint(1, 3)):
        choice = rng.random()
        spots = paths(activity)
        if choice < 0.35 and spots:
            *parent_path, last = rng.choice(spots)
            parent: Any = activity
            for step in parent_path:
                parent = parent[step]
            if rng.random() < 0.3 and isinstance(parent, dict):
                del parent[last]
            else:
                parent[last] = rng.choice(ODD_VALUES) if rng.random() < 0.85 else nested(rng.randint(5, 80))
        elif choice < 0.5:
            activity["type"] = rng.choice(
                ["message", "invoke", "conversationUpdate", "installationUpdate", "messageReaction", "event", "x", ""]
            )
        elif choice < 0.7:
            activity["value"] = forged_value(rng)
            activity.pop("text", None)
        elif choice < 0.8:
            activity["type"], activity["name"] = "invoke", rng.choice(INVOKES)
            activity["value"] = rng.choice([forged_value(rng), {"action": {"verb": "x", "data": forged_value(rng)}}])
        elif choice < 0.9:
            activity["text"] = rng.choice([*TEXTS, "rendez-vous " * 2000, "🙂\u0301" * 300, "<at>Permanence</at> aide"])
        else:
            activity["id"] = "1:redelivered"  # the same activity again
    return activity


async def test_a_seeded_fuzz_of_mutated_teams_activities_gives_no_5xx_and_no_effect(harness):
    rng = random.Random(20270107)
    users = 12
    bases = []
    for user in range(1, users + 1):
        bases += [
            harness.activity(text=rng.choice(TEXTS), user=user),
            harness.activity(value={"action": "confirm", "form": secrets.token_urlsafe(12)}, user=user),
            harness.activity(
                "conversationUpdate",
                user=user,
                membersAdded=[{"id": f"28:{APP_ID}"}, {"id": f"29:1user{user}"}],
                channelData={"tenant": {"id": TENANT}, "eventType": "teamMemberAdded"},
            ),
            harness.activity("installationUpdate", user=user, action="add"),
            harness.activity("messageReaction", user=user, reactionsAdded=[{"type": "like"}], replyToId="1:x"),
            harness.activity("invoke", user=user, name="adaptiveCard/action", value={"action": {"verb": "v"}}),
            harness.activity("typing", user=user),
        ]
    for user in range(1, users + 1):  # everyone known: the fuzz then reaches the journeys
        assert (await harness.post(harness.activity(text="aide", user=user)))[0] == 200
    before = await harness.effects()
    activities = [mutate(rng.choice(bases), rng) for _ in range(3000)]
    gate = asyncio.Semaphore(8)
    failures: list[tuple[int, int, str]] = []
    statuses: dict[int, int] = {}

    async def send(index: int, activity: dict[str, Any]) -> None:
        async with gate:
            status, body = await harness.post(activity)
        statuses[status] = statuses.get(status, 0) + 1
        unsupported_invoke = status == 501 and activity.get("type") == "invoke"
        if status >= 500 and not unsupported_invoke:
            failures.append((index, status, body[:200]))

    await asyncio.gather(*(send(i, a) for i, a in enumerate(activities)))
    assert failures == [], failures[:5]
    assert await harness.effects() == before
    assert statuses.get(200, 0) > 1000  # the fuzz reached the bot, not only the gate
    assert len(harness.channel.activities()) > 500  # and the bot answered over the channel
