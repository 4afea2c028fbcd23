"""Time-zone names from Outlook (Windows names such as « Romance Standard Time ») as IANA zones.

The mapping is CLDR's `windowsZones` table as shipped by Babel: each Windows name maps to
the zone CLDR lists for the world ("001"), which keeps the same offsets and daylight-saving
rules as every territory listed under that name (Guadeloupe and La Paz, Réunion and
Mauritius). A name neither CLDR nor the IANA database knows is an error, never UTC: a
silent fallback would shift an absence by hours without anyone noticing.
"""

from __future__ import annotations

from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from babel.core import get_global


class UnknownTimeZone(ValueError):
    """A time-zone name Graph sent that CLDR and the IANA database do not know.

    The name is a zone name (no personal data), so it may be logged."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown time zone {name!r}")
        self.name = name


@cache
def _windows_names() -> dict[str, str]:
    mapping: dict[str, str] = dict(get_global("windows_zone_mapping"))
    return {name.casefold(): zone for name, zone in mapping.items()}


@cache
def _iana_names() -> frozenset[str]:
    return frozenset(available_timezones())


def windows_to_iana(name: str) -> str:
    """The IANA zone for a Windows time-zone name (or an IANA name given as such)."""
    cleaned = name.strip()
    zone = _windows_names().get(cleaned.casefold())
    if zone is not None:
        return zone
    if cleaned in _iana_names():  # Graph also echoes IANA names it was given
        return cleaned
    raise UnknownTimeZone(cleaned)


def zone_of(name: str) -> ZoneInfo:
    """The zone for a `dateTimeTimeZone.timeZone` value from Graph."""
    try:
        return ZoneInfo(windows_to_iana(name))
    except ZoneInfoNotFoundError as err:  # CLDR newer than the tz database installed
        raise UnknownTimeZone(name) from err
