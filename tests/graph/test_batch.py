"""Issue 15, the idle sync: the delta round and the automatic replies (which Graph never
notifies) in one JSON batch (`POST /v1.0/$batch`), through the real msgraph-sdk against the
local Graph, with per-item errors handled as the unbatched calls' (410, 429)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from graph.provider import CalendarError
from tests.graph.conftest import MAILBOX, GraphWorld
from tests.helpers.outlook import offer_notice, replies


async def first_sync_then_replies_due(world: GraphWorld) -> tuple[int, int]:
    """The first (full) sync, then five minutes later: the automatic replies are due again.
    Returns where the HTTP requests and the batch items stand."""
    await world.sync.sync_worker("ass")
    world.graph.mailbox_settings[MAILBOX] = replies("alwaysEnabled")
    world.clock.advance(timedelta(minutes=5))
    return len(world.graph.requests), len(world.graph.batched)


async def test_an_idle_cycle_with_replies_due_is_one_request_that_reads_both(world: GraphWorld):
    assert (await offer_notice(world)).notice is None
    requests, items = await first_sync_then_replies_due(world)
    await world.sync.sync_worker("ass")
    sent = world.graph.requests[requests:]
    assert [(r.method, r.path) for r in sent] == [("POST", "/v1.0/$batch")]  # one HTTP request
    inside = world.graph.batched[items:]
    assert [r.path.rstrip("()").rsplit("/", 1)[-1] for r in inside] == ["delta", "mailboxSettings"]
    delta = inside[0]
    assert "$deltatoken" in delta.query  # the stored delta link, not a new full listing
    assert "odata.maxpagesize=50" in delta.headers["Prefer"] and 'outlook.timezone="UTC"' in delta.headers["Prefer"]
    assert all('IdType="ImmutableId"' in r.headers["Prefer"] for r in inside)
    ids = [sent[0].headers["client-request-id"], *(r.headers["client-request-id"] for r in inside)]
    assert len(set(ids)) == 3 and all(uuid.UUID(i) for i in ids)
    assert (await offer_notice(world)).notice is not None  # the absence was read from the batch


async def test_an_expired_delta_token_inside_the_batch_restarts_from_scratch(world: GraphWorld):
    requests, _ = await first_sync_then_replies_due(world)
    start = datetime(2027, 3, 4, 8, tzinfo=UTC)
    world.graph.add_event(MAILBOX, subject="Busy", start=start, end=start + timedelta(hours=8))
    world.graph.expire_delta_tokens = True  # the batch's delta item answers 410 syncStateNotFound
    await world.sync.sync_worker("ass")
    assert world.graph.expire_delta_tokens is False  # the 410 was given, inside the batch
    assert world.graph.requests[requests].path == "/v1.0/$batch"
    deltas = world.graph.graph_calls("GET", "calendarView/delta")
    assert "$deltatoken" in deltas[-2].query and "startDateTime" in deltas[-1].query  # full listing after
    offer = await offer_notice(world)
    assert offer.notice is not None  # the automatic replies were still read
    assert not any(s.start.date() == start.date() for s in offer.slots if s.worker_id == "ass")


async def test_a_throttled_delta_item_is_retried_after_its_retry_after(world: GraphWorld):
    requests, items = await first_sync_then_replies_due(world)
    world.graph.planned.append(("GET", "calendarView/delta", "429"))  # only the item, not the batch
    await world.sync.sync_worker("ass")
    assert [r.path for r in world.graph.requests[requests:]] == ["/v1.0/$batch", "/v1.0/$batch"]
    assert world.graph.planned == []
    inside = [r.path.rstrip("()").rsplit("/", 1)[-1] for r in world.graph.batched[items:]]
    assert inside == ["delta", "mailboxSettings"] * 2  # the whole batch again, once
    assert (await offer_notice(world)).notice is not None


async def test_a_throttled_settings_item_is_retried_alone(world: GraphWorld):
    requests, _ = await first_sync_then_replies_due(world)
    world.graph.planned.append(("GET", "mailboxSettings", "429"))
    await world.sync.sync_worker("ass")
    sent = [(r.method, r.path) for r in world.graph.requests[requests:]]
    assert sent == [("POST", "/v1.0/$batch"), ("GET", f"/v1.0/users/{MAILBOX}/mailboxSettings")]
    assert (await offer_notice(world)).notice is not None


async def test_a_forbidden_mailbox_fails_in_the_batch_as_it_does_alone(world: GraphWorld):
    requests, _ = await first_sync_then_replies_due(world)
    world.graph.forbidden.add(MAILBOX)  # an application access policy: every item answers 403
    with pytest.raises(CalendarError) as batched:
        await world.sync.sync_worker("ass")
    assert len(world.graph.requests) == requests + 1  # not retried
    with pytest.raises(CalendarError) as alone:
        await world.calendar.check_mailbox(world.sync.mailbox("ass"), world.clock())  # mailboxSettings, unbatched
    assert (
        (batched.value.code, batched.value.status, batched.value.retryable)
        == (
            alone.value.code,
            alone.value.status,
            alone.value.retryable,
        )
        == ("graph_403_erroraccessdenied", 403, False)
    )
