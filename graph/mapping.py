"""Between Graph's event resources and the project's types: the event written for an
appointment, its Teams meeting link, and a calendar change read back."""

from __future__ import annotations

from datetime import UTC, datetime

from msgraph.generated.models.attendee import Attendee
from msgraph.generated.models.attendee_type import AttendeeType
from msgraph.generated.models.body_type import BodyType
from msgraph.generated.models.date_time_time_zone import DateTimeTimeZone
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.event import Event
from msgraph.generated.models.free_busy_status import FreeBusyStatus
from msgraph.generated.models.item_body import ItemBody
from msgraph.generated.models.location import Location
from msgraph.generated.models.online_meeting_provider_type import OnlineMeetingProviderType
from msgraph.generated.models.sensitivity import Sensitivity

from booking.model import Interval
from graph.client import GraphOptions
from graph.provider import (
    CalendarChange,
    ChangeKind,
    EventDraft,
)
from graph.timezones import zone_of


def event_body(draft: EventDraft, *, create: bool) -> Event:
    def when(moment: datetime) -> DateTimeTimeZone:
        return DateTimeTimeZone(date_time=moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), time_zone="UTC")

    event = Event(
        subject=draft.subject,
        sensitivity=Sensitivity.Private,
        show_as=FreeBusyStatus.Busy,
        start=when(draft.start),
        end=when(draft.end),
        body=ItemBody(content_type=BodyType.Text, content=draft.body),
    )
    if draft.location:  # none for remote modes: no text naming how the meeting happens
        event.location = Location(display_name=draft.location)
    if create:
        event.transaction_id = draft.transaction_id
        event.is_online_meeting = draft.online
        if draft.online:
            event.online_meeting_provider = OnlineMeetingProviderType.TeamsForBusiness
    if draft.attendee_email:
        event.attendees = [
            Attendee(
                email_address=EmailAddress(address=draft.attendee_email, name=draft.attendee_name or None),
                type=AttendeeType.Required,
            )
        ]
    return event


def join_url(event: Event | None) -> str | None:
    if event is None or event.online_meeting is None:
        return None
    return event.online_meeting.join_url


def to_change(event: Event, options: GraphOptions) -> CalendarChange:
    removed = "@removed" in (event.additional_data or {})
    if removed or not event.id:
        return CalendarChange(kind=ChangeKind.REMOVED, event_id=event.id or "")
    interval = None
    if event.start and event.end and event.start.date_time and event.end.date_time:
        start, end = aware(event.start), aware(event.end)
        if end > start:
            interval = Interval(start=start, end=end)
    show_as = str.lower(event.show_as) if event.show_as else "busy"  # kiota enums are str
    kind = next(
        (options.categories[c.lower()] for c in (event.categories or []) if c.lower() in options.categories),
        None,
    )
    return CalendarChange(
        kind=ChangeKind.UPSERT,
        event_id=event.id,
        interval=interval,
        busy=show_as in options.busy_statuses,
        out_of_office=show_as == "oof",
        day_kind=kind,
        cancelled=bool(event.is_cancelled),
        transaction_id=event.transaction_id,
    )


def aware(value: DateTimeTimeZone) -> datetime:
    """A Graph dateTimeTimeZone as an aware UTC datetime; an unknown zone raises `UnknownTimeZone`."""
    moment = datetime.fromisoformat((value.date_time or "")[:26])
    return moment.replace(tzinfo=zone_of(value.time_zone or "UTC")).astimezone(UTC)
