"""Finding 9 of issue 22: what an agent types is shown as text in every card, never as markdown
(a link, emphasis, a list, a heading), checked by rendering the cards with a CommonMark renderer
(markdown-it, the family of the Adaptive Cards renderer) as a Teams client would."""

from __future__ import annotations

import html
import re

import pytest
from markdown_it import MarkdownIt

from bot import texts
from bot.teams import cards
from tests.bot.conftest import WORKER_OID, Reply, walk
from tests.helpers.conversation import PHONE, book

LINK = "[Ouvrir le dossier RH](https://rh-intranet.example/dossier)"
HOSTILE = [
    LINK,
    "**URGENT** _lire_ ~~barré~~ `code` ![img](https://x.example/i.png)",
    "<https://x.example/auto> <b>gras</b> &lt;pas une balise&gt; &#91;x&#93;",
    "- un\n+ deux\n* trois\n1. premier\n2) second\n# Titre\n> citation\n\ntexte\n===\n---\n| a | b |\n|---|---|",
    "\\[échappé\\](https://x.example) \\\\ fin",
    "[ref]: https://x.example\n[ref]",
]
MARKUP = re.compile(r"<(?!/?p>)[a-z]")  # any element but the paragraphs plain text makes

RENDERER = MarkdownIt("commonmark").enable(["strikethrough", "table"])


def shown(markdown: str) -> str:
    """What a reader sees of a TextBlock: its rendering, without the paragraph elements."""
    rendered = RENDERER.render(markdown)
    assert not MARKUP.search(rendered), rendered
    return html.unescape(re.sub(r"</?p>", "", rendered)).strip()


def words(value: str) -> list[str]:
    return value.split()


@pytest.mark.parametrize("value", HOSTILE)
def test_literal_text_renders_as_the_very_characters_typed(value):
    assert words(shown(cards.literal(value))) == words(value)


def test_without_the_escaping_the_link_would_be_live():
    # The test can fail: the renderer does make a link of the raw text.
    assert '<a href="https://rh-intranet.example/dossier">' in RENDERER.render(LINK)


def rendered_texts(reply: Reply) -> list[str]:
    found = [n["text"] for c in reply.cards for n in walk(c) if n.get("type") == "TextBlock"]
    found += [f["value"] for c in reply.cards for n in walk(c) if n.get("type") == "FactSet" for f in n["facts"]]
    return [shown(t) for t in found]


async def test_hostile_messages_reach_the_workers_and_the_agents_cards_as_text(world):
    agent = world.person("Agent [Lille](https://x.example/nom)")
    await agent.say("aide")
    await book(agent, "lille", mode="home_visit", message=LINK)
    social = world.person("Assistante sociale", WORKER_OID)
    await social.say("aide")
    requests = await social.say("demandes")
    seen = rendered_texts(requests)
    assert LINK in seen and "Agent [Lille](https://x.example/nom)" in seen

    urgent = await agent.say("urgence")
    situation = HOSTILE[3]
    await agent.submit(urgent.action(texts.URGENT_SEND), description=situation, phone=PHONE, availability=HOSTILE[1])
    listing = await social.say("urgences")
    seen = rendered_texts(listing)
    assert words(situation) in [words(s) for s in seen] and HOSTILE[1] in seen

    mine = await agent.say("mes données")
    seen = rendered_texts(mine)
    assert LINK in seen and HOSTILE[1] in seen and words(situation) in [words(s) for s in seen]
