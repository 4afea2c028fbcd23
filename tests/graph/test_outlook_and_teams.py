"""Issue 13 on the Graph side, through the real msgraph-sdk and azure-identity against the
local Graph: automatic replies without dates, their refresh, reauthorization, Windows time
zones from CLDR, immutable ids and client-request-id, the Teams app and the neutral e-mail."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from babel.core import get_global
from tzlocal.windows_tz import tz_win

from booking.absence import AbsenceLength
from graph.client import GRAPH_SCOPE
from graph.credentials import CredentialKind, graph_credential
from graph.local import LocalReach
from graph.microsoft import MicrosoftCalendar
from graph.provider import URGENT_MAIL_SUBJECT, AppInstallation, CalendarError
from graph.timezones import UnknownTimeZone, windows_to_iana
from tests.graph.conftest import CATALOG_ID, CLIENT_ID, CLIENT_STATE, MAILBOX, NOTIFICATION_MAILBOX, GraphWorld
from tests.graph.fake_graph import example
from tests.helpers.outlook import offer_notice, replies

ASS_OBJECT_ID = "5b649834-7412-4cce-9e69-176e95a394f5"
OPEN_URL = "https://teams.microsoft.com/l/app/1542629c-01b3-4a6d-8f76-1938b779e48d"


# -- automatic replies --------------------------------------------------------------------


async def test_automatic_replies_without_dates_make_her_absent_until_turned_off(world: GraphWorld):
    world.graph.mailbox_settings[MAILBOX] = replies("alwaysEnabled")
    first_seen = world.clock()
    await world.sync.sync_worker("ass")
    offer = await offer_notice(world)
    assert offer.notice is not None and offer.notice.return_at is None
    assert offer.notice.length is AbsenceLength.SHORT and offer.notice.acting_id is None
    assert offer.slots == ()  # no return known: none of her slots

    # Fifteen days later, after a restart: first seen is kept with the sync cursor, so the
    # absence has now lasted two calendar weeks and the replacement runs the permanence.
    world.clock.advance(timedelta(days=15))
    restarted = MicrosoftCalendar(world.calendar.credential, world.calendar.options)
    world.sync.provider = restarted
    try:
        await world.sync.sync_worker("ass")
    finally:
        await restarted.graph._http.aclose()  # the credential is world.calendar's
    async with world.store.unit_of_work(read_only=True) as uow:
        absences = await uow.absences.overlapping(world.clock() - timedelta(days=30), world.clock())
    assert [(a.start, a.is_open_ended) for a in absences] == [(first_seen, True)]
    offer = await offer_notice(world)
    assert offer.notice is not None and offer.notice.length is AbsenceLength.LONG
    assert offer.notice.acting_id == "remplacante" and {s.worker_id for s in offer.slots} == {"remplacante"}

    world.sync.provider = world.calendar
    world.graph.mailbox_settings[MAILBOX] = replies("disabled")
    world.clock.advance(timedelta(minutes=5))
    await world.sync.sync_worker("ass")
    offer = await offer_notice(world)
    assert offer.notice is None and {s.worker_id for s in offer.slots} == {"ass"}


async def test_replies_are_reread_every_refresh_interval_and_on_any_change_notification(world: GraphWorld):
    await world.sync.sync_worker("ass")
    assert len(world.graph.graph_calls("GET", "/mailboxSettings")) == 1  # the first, full sync
    world.graph.mailbox_settings[MAILBOX] = replies("alwaysEnabled")
    world.clock.advance(timedelta(minutes=1))
    await world.sync.sync_worker("ass")
    assert len(world.graph.graph_calls("GET", "/mailboxSettings")) == 1  # not due yet

    notification = example("webhook-notification.request.1.json")
    notification["value"][0].update(subscriptionId="sub-ass", clientState=CLIENT_STATE)
    assert await world.sync.notifications(notification) == 1
    await world.drain()
    assert len(world.graph.graph_calls("GET", "/mailboxSettings")) == 2  # re-read at once
    assert (await offer_notice(world)).notice is not None

    world.clock.advance(timedelta(minutes=4))
    await world.sync.sync_worker("ass")
    assert len(world.graph.graph_calls("GET", "/mailboxSettings")) == 2  # four minutes since the last read
    world.clock.advance(timedelta(minutes=1))
    await world.sync.sync_worker("ass")
    assert len(world.graph.graph_calls("GET", "/mailboxSettings")) == 3


async def test_the_refresh_interval_is_a_setting(world: GraphWorld):
    import dataclasses

    world.calendar.options = dataclasses.replace(world.calendar.options, replies_every=timedelta(minutes=30))
    await world.sync.sync_worker("ass")
    world.clock.advance(timedelta(minutes=29))
    await world.sync.sync_worker("ass")
    assert len(world.graph.graph_calls("GET", "/mailboxSettings")) == 1
    world.clock.advance(timedelta(minutes=1))
    await world.sync.sync_worker("ass")
    assert len(world.graph.graph_calls("GET", "/mailboxSettings")) == 2


async def test_scheduled_replies_in_paris_time_keep_working(world: GraphWorld):
    world.graph.mailbox_settings[MAILBOX] = replies(
        "scheduled",
        start="2027-03-02T08:00:00.0000000",
        end="2027-03-09T08:00:00.0000000",
        zone="W. Europe Standard Time",
    )
    await world.sync.sync_worker("ass")
    offer = await offer_notice(world)
    world.clock.advance(timedelta(days=1))
    offer = await offer_notice(world)
    assert offer.notice is not None and offer.notice.return_at == datetime(2027, 3, 9, 7, tzinfo=UTC)


# -- time zones ---------------------------------------------------------------------------

FRENCH_TERRITORIES = ("FR", "GP", "MQ", "GF", "RE", "YT", "PM", "BL", "MF", "PF", "NC", "WF", "TF")
FRENCH_ZONES = sorted({z for t in FRENCH_TERRITORIES for z in get_global("territory_zones")[t]})


def test_every_french_zone_has_a_windows_name_in_cldr():
    # The list comes from CLDR (territory zones and windowsZones), not from memory.
    assert len(FRENCH_ZONES) >= 13 and all(zone in tz_win for zone in FRENCH_ZONES)
    assert tz_win["Indian/Reunion"] == "Mauritius Standard Time"
    assert tz_win["Pacific/Noumea"] == "Central Pacific Standard Time"


@pytest.mark.parametrize("iana", FRENCH_ZONES)
async def test_automatic_replies_in_each_windows_zone_exchange_uses_for_france(world: GraphWorld, iana: str):
    windows = tz_win[iana]
    world.graph.mailbox_settings[MAILBOX] = replies(
        "scheduled", start="2027-07-05T09:00:00.0000000", end="2027-07-12T09:00:00.0000000", zone=windows
    )
    await world.sync.sync_worker("ass")
    async with world.store.unit_of_work(read_only=True) as uow:
        (absence,) = await uow.absences.overlapping(datetime(2027, 7, 1, tzinfo=UTC), datetime(2027, 7, 31, tzinfo=UTC))
    local = ZoneInfo(iana)
    assert absence.start == datetime(2027, 7, 5, 9, tzinfo=local)
    assert absence.end == datetime(2027, 7, 12, 9, tzinfo=local)


def test_windows_names_map_to_cldr_zones_and_unknown_names_are_errors():
    assert windows_to_iana("Romance Standard Time") == "Europe/Paris"
    assert windows_to_iana("W. Europe Standard Time") == "Europe/Berlin"  # same rules as Paris
    assert windows_to_iana("UTC") == "Etc/UTC"
    assert windows_to_iana("Europe/Paris") == "Europe/Paris"  # IANA names pass through
    with pytest.raises(UnknownTimeZone):
        windows_to_iana("Customized Time Zone")


async def test_an_unknown_zone_is_logged_and_counted_never_read_as_utc(world: GraphWorld, caplog):
    world.graph.mailbox_settings[MAILBOX] = replies(
        "scheduled", start="2027-03-02T08:00:00.0000000", end="2027-03-09T08:00:00.0000000"
    )
    await world.sync.sync_worker("ass")
    world.graph.mailbox_settings[MAILBOX] = replies(
        "scheduled", start="2027-03-03T08:00:00.0000000", end="2027-03-10T08:00:00.0000000", zone="Mars Standard Time"
    )
    world.clock.advance(timedelta(minutes=5))
    with caplog.at_level(logging.ERROR):
        await world.sync.sync_worker("ass")
    assert any(getattr(r, "code", None) == "unknown_time_zone" for r in caplog.records)
    assert 'code="unknown_time_zone"' in await world.metrics.render()
    async with world.store.unit_of_work(read_only=True) as uow:
        (absence,) = await uow.absences.overlapping(world.clock(), world.clock() + timedelta(days=30))
    assert absence.start == datetime(2027, 3, 2, 8, tzinfo=UTC)  # the last good reading stays


# -- subscriptions ------------------------------------------------------------------------


async def test_reauthorization_required_is_answered_at_once_with_three_days_left(world: GraphWorld):
    subscription_id, expires = await world.calendar.subscribe(
        world.sync.mailbox("ass"),
        notification_url="https://permanence.cned.example/api/graph/notifications",
        lifecycle_url="https://permanence.cned.example/api/graph/lifecycle",
        client_state=CLIENT_STATE,
        now=world.clock(),
    )
    # Fresh: the near three days Outlook allows (4230 minutes), far from the renewal threshold.
    assert expires - world.clock() > timedelta(days=2, hours=22)
    async with world.store.unit_of_work() as uow:
        await uow.sync_state.put(
            "subscription:ass", {"id": subscription_id, "expires": expires.isoformat()}, world.clock()
        )
        await uow.commit()
    lifecycle = example("webhook-lifecycle-reauthorizationRequired.request.1.json")
    lifecycle["value"][0].update(subscriptionId=subscription_id, clientState=CLIENT_STATE)
    assert await world.sync.lifecycle(lifecycle) == 1
    await world.drain()
    assert world.graph.reauthorized == [subscription_id]
    assert world.graph.graph_requests("POST", f"/subscriptions/{subscription_id}/reauthorize")


# -- every request ------------------------------------------------------------------------


async def test_every_graph_request_asks_for_immutable_ids_with_a_fresh_client_request_id(world: GraphWorld, caplog):
    with caplog.at_level(logging.INFO, logger="graph"):
        await world.book("oid-1")
        await world.drain()
        await world.sync.sync_worker("ass")
    graph_calls = world.graph.graph_requests() + world.graph.batched  # each item of a $batch has its own id
    assert {r.method for r in graph_calls} >= {"POST", "GET"}
    ids = [r.headers["client-request-id"] for r in graph_calls]
    assert len(set(ids)) == len(ids) and all(uuid.UUID(i) for i in ids)
    assert all('IdType="ImmutableId"' in r.headers["Prefer"] for r in graph_calls)
    assert all('outlook.timezone="UTC"' in r.headers["Prefer"] for r in graph_calls if "delta" in r.path)
    logged = [r for r in caplog.records if getattr(r, "event", None) in ("graph.request", "graph.batch_item")]
    assert sorted(r.client_request_id for r in logged) == sorted(ids)  # type: ignore[attr-defined]
    assert {r.operation for r in logged} >= {"event.create", "delta", "mailboxSettings"}  # type: ignore[attr-defined]
    assert {r.status for r in logged} >= {201, 200}  # type: ignore[attr-defined]
    assert not any(MAILBOX in r.getMessage() or "oid-1" in r.getMessage() for r in caplog.records)


# -- the Teams app ------------------------------------------------------------------------


async def test_the_app_is_installed_for_each_worker_once_and_her_chat_is_found(world: GraphWorld):
    users = [ASS_OBJECT_ID, "9d3e1c2b-1111-4222-8333-444455556666"]
    assert await world.calendar.reach.app_chat_id(users[0]) is None  # not installed yet
    first = await asyncio.gather(*(world.calendar.reach.install_app(u) for u in users))
    assert first == [AppInstallation.INSTALLED, AppInstallation.INSTALLED]
    again = await world.calendar.reach.install_app(users[0])
    assert again is AppInstallation.ALREADY_INSTALLED  # 409 Conflict is success
    posts = world.graph.graph_requests("POST", "/teamwork/installedApps")
    assert len(posts) == 3
    assert {p.body["teamsApp@odata.bind"] for p in posts} == {
        f"{world.graph.base}/v1.0/appCatalogs/teamsApps/{CATALOG_ID}"
    }
    chat_id = await world.calendar.reach.app_chat_id(users[0])
    assert chat_id and chat_id.startswith("19:") and chat_id.endswith("@unq.gbl.spaces")
    lookup = world.graph.graph_requests("GET", "/teamwork/installedApps")[-2]
    assert lookup.query["$filter"] == f"teamsApp/id eq '{CATALOG_ID}'"


async def test_an_app_missing_from_the_catalog_is_an_error_not_an_installation(world: GraphWorld):
    world.graph.catalog.clear()
    with pytest.raises(CalendarError) as raised:
        await world.calendar.reach.install_app(ASS_OBJECT_ID)
    assert not raised.value.retryable and ASS_OBJECT_ID not in raised.value.code


# -- the second channel -------------------------------------------------------------------


async def test_the_urgent_mail_is_neutral_and_sent_from_the_configured_mailbox(world: GraphWorld):
    await world.book("oid-1")  # a topic and a SENTINEL message exist in the product
    await world.calendar.reach.send_urgent_mail("ass@cned.example", open_url=OPEN_URL)
    (mail,) = world.graph.mails
    assert mail["sender"] == NOTIFICATION_MAILBOX
    assert mail["subject"] == URGENT_MAIL_SUBJECT == "Une demande urgente vous attend dans Permanence"
    assert mail["toRecipients"] == [{"emailAddress": {"address": "ass@cned.example"}}]
    assert mail["body"]["contentType"].lower() == "text" and OPEN_URL in mail["body"]["content"]
    sent = json.dumps(mail, ensure_ascii=False)
    for secret in ("SENTINEL", "logement", "Agent", "oid-1"):
        assert secret not in sent


async def test_a_refused_mail_is_reported_not_retried_and_logged_without_the_address(world: GraphWorld, caplog):
    world.graph.planned.append(("POST", "/sendMail", "400"))
    with pytest.raises(CalendarError) as raised:
        await world.calendar.reach.send_urgent_mail("ass@cned.example", open_url=OPEN_URL)
    assert raised.value.status == 400 and not raised.value.retryable
    assert raised.value.code == "graph_400_errormimecontentinvalidbase64string"
    assert len(world.graph.graph_requests("POST", "/sendMail")) == 1 and world.graph.mails == []
    assert not any("ass@cned.example" in r.getMessage() for r in caplog.records)


async def test_the_local_provider_installs_nothing_and_refuses_mail_clearly():
    local = LocalReach()
    assert await local.install_app(ASS_OBJECT_ID) is AppInstallation.NOT_AVAILABLE
    assert await local.app_chat_id(ASS_OBJECT_ID) is None
    with pytest.raises(CalendarError) as raised:
        await local.send_urgent_mail("ass@cned.example", open_url=OPEN_URL)
    assert raised.value.code == "mail_not_available" and not raised.value.retryable


# -- credentials --------------------------------------------------------------------------


async def test_a_certificate_credential_signs_its_own_assertion(graph, certificate, tmp_path):  # type: ignore[no-untyped-def]
    from tests.graph.fake_graph import make_certificate

    client_cert, client_key = make_certificate(tmp_path)
    graph.client_certificate = client_cert.read_bytes()
    credential = graph_credential(
        CredentialKind.CERTIFICATE,
        tenant_id=graph.tenant,
        client_id=CLIENT_ID,
        authority_host=graph.base,
        certificate_pem=client_key.read_bytes() + client_cert.read_bytes(),
        ca_bundle=graph.ca_bundle,
    )
    async with credential:
        token = await credential.get_token(GRAPH_SCOPE)
    assert token.token.startswith("fake-token-")
    form_posts = [r for r in graph.requests if r.path.endswith("/oauth2/v2.0/token")]
    assert len(form_posts) == 1


async def test_a_managed_identity_needs_no_secret(graph, monkeypatch):  # type: ignore[no-untyped-def]
    graph.identity_header = "identity-header-secret"
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"{graph.base}/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", graph.identity_header)
    credential = graph_credential(
        CredentialKind.MANAGED_IDENTITY,
        tenant_id="",
        client_id="",
        authority_host=graph.base,
        ca_bundle=graph.ca_bundle,
    )
    async with credential:
        token = await credential.get_token(GRAPH_SCOPE)
    assert token.token.startswith("fake-token-") and token.expires_on > datetime.now(UTC).timestamp()


async def test_a_refused_secret_is_a_calendar_error(graph):  # type: ignore[no-untyped-def]
    credential = graph_credential(
        CredentialKind.SECRET,
        tenant_id=graph.tenant,
        client_id=CLIENT_ID,
        authority_host=graph.base,
        secret="wrong",
        ca_bundle=graph.ca_bundle,
    )
    async with credential:
        with pytest.raises(CalendarError) as raised:
            await credential.get_token(GRAPH_SCOPE)
    assert raised.value.code == "token_refused_secret"
