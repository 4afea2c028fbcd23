"""Small presentation rules shared by the journeys: how and where a mode happens, which modes a
site offers, slots grouped by day, the absence notice."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from booking.document import Deployment
from booking.model import Mode, Slot
from bot import texts


def how_where(deployment: Deployment, mode: str, site_id: str) -> tuple[str, str]:
    directory = deployment.directory
    how = texts.MODE_LABELS[mode]
    if mode == Mode.IN_PERSON.value:
        return how, directory.head_office.address or directory.head_office.name
    if mode == Mode.OTHER_SITE.value:
        return how, directory.site(site_id).name
    return how, ""


def modes_for(deployment: Deployment, site_id: str) -> list[str]:
    head_office = deployment.directory.site(site_id).head_office
    modes = [Mode.TEAMS]
    if head_office:
        modes.append(Mode.IN_PERSON)
    modes.append(Mode.PHONE)
    if not head_office:
        modes.append(Mode.OTHER_SITE)
    modes.append(Mode.HOME_VISIT)
    return [m.value for m in modes]


def by_day(slots: Sequence[Slot]) -> list[tuple[str, list[Slot]]]:
    groups: dict[str, list[Slot]] = {}
    for slot in slots:
        groups.setdefault(texts.day(slot.start, year=False).capitalize(), []).append(slot)
    return list(groups.items())


def nothing_open_notice(deployment: Deployment) -> list[str]:
    """What an agent reads when no slot at all is open within the booking horizon (the days of
    the coming weeks not planned yet): the way to reach someone meanwhile."""
    info = deployment.information
    lines = [texts.SLOTS_NONE_OPEN]
    if info.phone:
        lines.append(texts.INFO_SERVICE.format(phone=info.phone, hours=info.hours))
    lines.append(texts.URGENT_PATH)
    return lines


def absence_notice(deployment: Deployment, return_at: datetime | None, acting_id: str | None) -> list[str]:
    """What an agent reads while the worker is away (`return_at` None: until further notice)."""
    info = deployment.information
    lines = []
    if acting_id:
        replacement = deployment.directory.worker(acting_id).name
        if return_at is None:
            lines.append(texts.ABSENT_OPEN_LONG.format(replacement=replacement))
        else:
            lines.append(texts.ABSENT_LONG.format(date=texts.day(return_at), replacement=replacement))
    elif return_at is None:
        lines.append(texts.ABSENT_OPEN)
    else:
        lines.append(texts.ABSENT_SHORT.format(date=texts.day(return_at)))
    if info.phone:
        lines.append(texts.INFO_SERVICE.format(phone=info.phone, hours=info.hours))
    lines += list(info.practical)
    lines.append(texts.URGENT_PATH)
    return lines
