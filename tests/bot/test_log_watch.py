"""The log watch that runs around every bot test (`tests/bot/logwatch.py`) can fail: a planted
line with a persona's identifier or text is caught; what production's formatter rewrites is not."""

from __future__ import annotations

import logging

import pytest

from bot import texts
from tests.bot.logwatch import LeakFound, LogWatch
from tests.helpers.conversation import PHONE, book


def caught(watch: LogWatch) -> str:
    with pytest.raises(LeakFound) as found:
        watch.check()
    watch.lines.clear()  # planted on purpose: the teardown check must not fail this test
    return str(found.value)


async def test_a_planted_identifier_is_caught(world, log_watch):
    agent = world.person("Camille Sentinelle")
    await book(agent, "vanves", topic="budget", message="Loyer impayé sentinelle")
    log_watch.check()  # the real journey left nothing

    log = logging.getLogger("bot.planted")
    log.debug("booked", extra={"event": agent.name})  # a name is no pattern: only the watch sees it
    assert "name" in caught(log_watch)
    log.warning("message: %s", "Loyer impayé sentinelle")
    assert "message" in caught(log_watch)
    logging.getLogger().debug("hello %s", agent.name)  # the root logger, at DEBUG
    assert "name" in caught(log_watch)


async def test_what_production_rewrites_or_drops_is_not_a_leak(world, log_watch):
    agent = world.person("Dominique Sentinelle")
    await agent.say("aide")
    # Our loggers' ids are rewritten by the formatter; a library's records below WARNING are dropped.
    logging.getLogger("bot.planted").debug("ids %s %s", agent.object_id, agent.conversation_id)
    logging.getLogger("msrest.http_logger").warning("GET https://x/v3/conversations/%s", agent.conversation_id)
    logging.getLogger("botbuilder.core").error("turn of %s", agent.name)  # a library's arguments are not kept
    logging.getLogger("aiohttp.client").debug("%s said %s", agent.name, texts.HELP_COMMANDS)
    logging.getLogger("bot.planted").info("phone %s", PHONE)  # phone-like digit runs are rewritten
    assert log_watch.lines  # something was written, and nothing of hers
    log_watch.check()
