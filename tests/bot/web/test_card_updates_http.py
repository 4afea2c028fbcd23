"""Card updates over the wire: a Teams conversation over HTTP (Bot Framework JWTs) against the
real app, and the recording Bot Connector seeing the earlier card rewritten with
updateActivity (PUT /v3/conversations/{id}/activities/{activityId}) once it no longer applies."""

from __future__ import annotations

from typing import Any

from bot import texts
from tests.bot.conftest import walk
from tests.helpers.bot_http import Harness
from tests.helpers.channel import Recorded


def card_of(recorded: Recorded) -> dict[str, Any]:
    (attachment,) = recorded.body["attachments"]
    content: dict[str, Any] = attachment["content"]
    return content


def actions(recorded: Recorded) -> dict[str, dict[str, Any]]:
    """Submit data by title (the first of each title)."""
    found: dict[str, dict[str, Any]] = {}
    for node in walk(card_of(recorded)):
        if node.get("type") == "Action.Submit":
            found.setdefault(node["title"], node["data"])
    return found


class Chat:
    def __init__(self, harness: Harness) -> None:
        self.harness = harness

    async def send(self, *, text: str | None = None, value: dict[str, Any] | None = None, on: str = "") -> Recorded:
        """One activity; returns the last card the bot sent or updated in answer."""
        channel = self.harness.channel
        before = len(channel.requests)
        fields: dict[str, Any] = {"text": text} if value is None else {"value": value, "replyToId": on}
        status, body = await self.harness.post(self.harness.activity(**fields))
        assert status == 200, body
        answered = [r for r in channel.requests[before:] if "/activities" in r.path]
        answers = [r for r in answered if r.body and r.body.get("attachments")]
        assert answers, f"no card in answer: {[r.body for r in answered]}"
        return answers[-1]


async def test_cancelling_rewrites_the_earlier_list_through_update_activity(harness: Harness) -> None:
    chat = Chat(harness)
    picker = await chat.send(text="rendez-vous")
    form = await chat.send(value={**actions(picker)[texts.CONTINUE], "site": "vanves"}, on=picker.id)
    slots = await chat.send(
        value={**actions(form)[texts.SEE_SLOTS], "mode": "teams", "topic": "", "message": "", "phone": ""}, on=form.id
    )
    pick = next(n["data"] for n in walk(card_of(slots)) if n.get("data", {}).get("action") == "pick")
    summary = await chat.send(value=pick, on=slots.id)
    done = await chat.send(value=actions(summary)[texts.CONFIRM], on=summary.id)
    assert texts.CONFIRMED_TITLE in str(card_of(done))
    mine = await chat.send(text="mes rendez-vous")
    assert mine.method == "POST" and {texts.CANCEL, texts.MOVE} <= set(actions(mine))
    ask = await chat.send(value=actions(mine)[texts.CANCEL], on=mine.id)
    assert ask.method == "POST"
    updates_before = len(harness.channel.updates())
    await chat.send(value=actions(ask)[texts.CANCEL_YES], on=ask.id)
    rewritten = {r.id: card_of(r) for r in harness.channel.updates()[updates_before:]}
    conversation = harness.activity()["conversation"]["id"].replace(":", "%3A")
    assert all(
        r.path.endswith(f"/v3/conversations/{conversation}/activities/{r.id}")
        for r in harness.channel.updates()[updates_before:]
    )
    listing = rewritten[mine.id]  # the list, updated in place: no Annuler / Déplacer any more
    titles = [n["title"] for n in walk(listing) if n.get("type") == "Action.Submit"]
    assert titles == [texts.ACTION_MINE]
    assert texts.CARD_CHANGED["cancelled"] in str(listing)
    assert ask.id in rewritten  # the « Annuler ? » card says it is done
    assert not [n for n in walk(rewritten[ask.id]) if n.get("data", {}).get("action") == "cancel_yes"]
