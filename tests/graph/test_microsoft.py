"""The real msgraph-sdk and MSAL against a local Graph: writes, delta sync, faults, webhooks."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

from booking.model import AppointmentStatus
from tests.graph.conftest import CLIENT_STATE, MAILBOX, GraphWorld
from tests.graph.fake_graph import example


async def test_a_booking_becomes_one_private_neutral_event_with_a_teams_link(world: GraphWorld):
    appointment_id = await world.book("oid-1")
    await world.drain()
    posts = world.graph.graph_requests("POST", "/events")
    assert len(posts) == 1 and world.graph.graph_requests("GET") == []  # one POST, no read
    body = posts[0].body
    assert body["transactionId"] and body["sensitivity"] == "private" and body["showAs"] == "busy"
    assert body["subject"] == "Rendez-vous"  # neither the service nor the topic nor the person
    assert body["isOnlineMeeting"] is True and body["onlineMeetingProvider"] == "teamsForBusiness"
    assert "attendees" not in body and "location" not in body  # not invited by default; no place for Teams
    assert "SENTINEL" not in json.dumps(body) and "logement" not in json.dumps(body).lower()
    assert posts[0].path == f"/v1.0/users/{MAILBOX}/events"
    assert posts[0].headers["Authorization"].startswith("Bearer fake-token-")
    async with world.store.unit_of_work(read_only=True) as uow:
        stored = await uow.appointments.get(appointment_id)
    assert stored.outlook_event_id and stored.join_url and stored.join_url.startswith("https://teams.microsoft.com/")
    assert world.graph.tokens_issued == 1


async def test_a_failed_post_is_retried_with_the_same_transaction_id(world: GraphWorld):
    world.graph.planned += [("POST", "/events", "503"), ("POST", "/events", "drop"), ("POST", "/events", "503")]
    await world.book("oid-1")
    await world.drain()
    posts = world.graph.graph_requests("POST", "/events")
    assert len(posts) == 4 and len({p.body["transactionId"] for p in posts}) == 1
    assert len(world.graph.live_events(MAILBOX)) == 1


async def test_fractional_retry_after_is_honoured(world: GraphWorld):
    world.graph.planned.append(("POST", "/events", "429"))
    await world.book("oid-1")
    await world.dispatcher.run_once()
    assert len(world.graph.graph_requests("POST", "/events")) == 2  # waited 0.05 s, then succeeded
    assert len(world.graph.live_events(MAILBOX)) == 1


async def test_thirty_percent_of_calls_failing_still_puts_every_booking_in_the_calendar_once(world: GraphWorld):
    world.graph.failure_rate = 0.3
    booked = [await world.book(f"oid-{i}", index=i) for i in range(20)]
    await world.drain(rounds=200)
    events = world.graph.live_events(MAILBOX)
    assert len(events) == 20 and len({e["transactionId"] for e in events}) == 20
    async with world.store.unit_of_work(read_only=True) as uow:
        for appointment_id in booked:
            assert (await uow.appointments.get(appointment_id)).outlook_event_id
    failures = [r for r in world.graph.requests if r.path.endswith("/events")]
    assert len(failures) > 20  # faults did happen


async def test_full_then_incremental_sync_uses_one_delta_request_when_nothing_changed(world: GraphWorld):
    start = datetime(2027, 3, 4, 8, tzinfo=UTC)  # Thursday 4 March, 9:00 in Paris
    world.graph.add_event(MAILBOX, subject="CPAS", start=start, end=start + timedelta(hours=3))
    world.graph.add_event(
        MAILBOX,
        subject="Extra",
        start=datetime(2027, 3, 10, 8, tzinfo=UTC),
        end=datetime(2027, 3, 10, 12, tzinfo=UTC),
        show_as="free",
        categories=["Permanence"],
    )
    world.graph.add_event(
        MAILBOX,
        subject="Congés",
        start=datetime(2027, 3, 15, tzinfo=UTC),
        end=datetime(2027, 3, 20, tzinfo=UTC),
        show_as="oof",
    )
    world.graph.add_event(
        MAILBOX,
        subject="Lunch",
        start=datetime(2027, 3, 11, 11, tzinfo=UTC),
        end=datetime(2027, 3, 11, 12, tzinfo=UTC),
        show_as="free",
    )
    await world.sync.sync_worker("ass")
    first_round = world.graph.graph_calls("GET", "calendarView/delta")
    assert len(first_round) == 2  # four events, two a page: nextLink then deltaLink
    assert len(world.graph.graph_requests()) == 2  # the first page and the mailbox settings in one batch
    assert 'outlook.timezone="UTC"' in world.graph.page_size_seen[0]
    offer = await world.app.offers.offer(now=world.clock(), site_id="vanves", topic_id=None, days=21)
    starts = {s.start for s in offer.slots}
    assert start not in starts and start + timedelta(hours=2) not in starts  # busy block
    assert start + timedelta(hours=4, minutes=30) in starts
    assert any(s.start.date() == datetime(2027, 3, 10).date() for s in offer.slots)  # day added by category
    assert not any(datetime(2027, 3, 15).date() <= s.start.date() < datetime(2027, 3, 20).date() for s in offer.slots)
    before = len(world.graph.requests)
    await world.sync.sync_worker("ass")
    idle = world.graph.requests[before:]
    assert [r.path.rsplit("/", 1)[-1].rstrip("()") for r in idle] == ["delta"]  # one request, nothing changed


async def test_what_the_worker_moves_or_deletes_in_outlook_reaches_the_agent(world: GraphWorld):
    moved_id = await world.book("oid-1", index=0)
    deleted_id = await world.book("oid-2", index=1)
    await world.drain()
    await world.sync.sync_worker("ass")
    async with world.store.unit_of_work(read_only=True) as uow:
        moved = await uow.appointments.get(moved_id)
        deleted = await uow.appointments.get(deleted_id)
    new_start = datetime(2027, 3, 11, 13, tzinfo=UTC)
    world.graph.move_event(MAILBOX, moved.outlook_event_id, new_start, new_start + timedelta(minutes=45))
    world.graph.delete_event(MAILBOX, deleted.outlook_event_id)
    before = len(world.graph.requests)
    counts = await world.sync.sync_worker("ass")
    assert counts["moved"] == 1 and counts["cancelled"] == 1
    assert len(world.graph.requests) - before == 1  # one delta request for the worker's change
    await world.drain()
    async with world.store.unit_of_work(read_only=True) as uow:
        assert (await uow.appointments.get(moved_id)).appointment.start == new_start
        assert (await uow.appointments.get(deleted_id)).appointment.status is AppointmentStatus.CANCELLED
    notices = [m for m in world.notifier.sent if "what" in m]  # the others refresh earlier cards
    assert sorted(m["what"] for m in notices) == ["worker_cancelled", "worker_moved"]


async def test_an_expired_delta_token_restarts_from_scratch(world: GraphWorld):
    world.graph.add_event(
        MAILBOX, subject="Busy", start=datetime(2027, 3, 4, 8, tzinfo=UTC), end=datetime(2027, 3, 4, 9, tzinfo=UTC)
    )
    await world.sync.sync_worker("ass")
    world.graph.expire_delta_tokens = True
    await world.sync.sync_worker("ass")
    gets = world.graph.graph_requests("GET", "calendarView/delta")
    assert "$deltatoken" in gets[-2].query and "startDateTime" in gets[-1].query


async def test_automatic_replies_become_an_absence(world: GraphWorld):
    settings = example("mailboxSettings.get.response.1.json")  # status "Scheduled", capitalised
    settings["automaticRepliesSetting"]["scheduledStartDateTime"] = {
        "dateTime": "2027-03-02T00:00:00.0000000",
        "timeZone": "UTC",
    }
    settings["automaticRepliesSetting"]["scheduledEndDateTime"] = {
        "dateTime": "2027-03-09T00:00:00.0000000",
        "timeZone": "UTC",
    }
    world.graph.mailbox_settings[MAILBOX] = settings
    await world.sync.sync_worker("ass")
    world.clock.advance(timedelta(days=1))
    offer = await world.app.offers.offer(now=world.clock(), site_id="vanves", topic_id=None, days=14)
    assert offer.notice is not None and offer.notice.return_at == datetime(2027, 3, 9, tzinfo=UTC)
    assert min(s.start for s in offer.slots) > datetime(2027, 3, 9, tzinfo=UTC)


async def test_subscriptions_are_created_with_client_state_and_renewed(world: GraphWorld):
    async with world.store.unit_of_work() as uow:
        await uow.sync_state.put("subscription:ass", {}, world.clock())
        await uow.commit()
    await world.sync.ensure_subscriptions()
    created = world.graph.graph_requests("POST", "/subscriptions")
    # The worker's calendar and the replacement's (she may act for her) are both followed.
    assert sorted(c.body["resource"] for c in created) == [
        f"/users/{MAILBOX}/events",
        "/users/remplacante@cned.example/events",
    ]
    assert {c.body["clientState"] for c in created} == {CLIENT_STATE}
    assert all(c.body["lifecycleNotificationUrl"].endswith("/api/graph/lifecycle") for c in created)
    await world.sync.ensure_subscriptions()
    assert len(world.graph.graph_requests("POST", "/subscriptions")) == 2  # nothing to do yet
    world.clock.advance(timedelta(days=2, hours=12))
    await world.sync.ensure_subscriptions()
    assert len(world.graph.graph_requests("PATCH", "/subscriptions")) == 2


async def test_notifications_are_checked_deduplicated_and_queued(world: GraphWorld, caplog):
    notification = example("webhook-notification.request.1.json")
    item = notification["value"][0]
    item.update(subscriptionId="sub-ass", clientState="forged", resource=f"Users/{MAILBOX}/Events/AAMk")
    assert await world.sync.notifications(notification) == 0
    assert all("AAMk" not in r.getMessage() for r in caplog.records)  # logged without payload
    item["clientState"] = CLIENT_STATE
    assert await world.sync.notifications({"value": [item, item, item]}) == 3
    async with world.store.unit_of_work(read_only=True) as uow:
        assert await uow.outbox.statuses("ass") == [("calendar.sync", "pending", 0)]  # once for duplicates
    for event, kinds in (("missed", ["calendar.sync"]), ("reauthorizationRequired", ["graph.subscription"])):
        lifecycle = {"value": [{"subscriptionId": "sub-ass", "clientState": CLIENT_STATE, "lifecycleEvent": event}]}
        assert await world.sync.lifecycle(lifecycle) == 1
        async with world.store.unit_of_work(read_only=True) as uow:
            assert {k for k, _, _ in await uow.outbox.statuses("ass")} >= set(kinds)
    await world.drain()
    assert world.graph.graph_calls("GET", "calendarView/delta")


async def test_a_timeout_is_retried_like_a_dropped_connection(world: GraphWorld):
    world.calendar.options = dataclasses.replace(world.calendar.options, timeout=0.5)
    from graph.microsoft import MicrosoftCalendar

    slow_client = MicrosoftCalendar(world.calendar.credential, world.calendar.options)
    world.dispatcher.provider = slow_client
    world.graph.planned.append(("POST", "/events", "slow"))
    try:
        await world.book("oid-1")
        await world.drain()
    finally:
        await slow_client.close()
    posts = world.graph.graph_requests("POST", "/events")
    assert len(posts) == 2 and posts[0].body["transactionId"] == posts[1].body["transactionId"]
    assert len(world.graph.live_events(MAILBOX)) == 1  # the slow first POST and its retry: one event
