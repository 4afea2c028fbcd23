"""Every user-facing French text, and French date formatting (Babel, Europe/Paris)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date

PARIS = ZoneInfo("Europe/Paris")
LOCALE = "fr_FR"


def hour(moment: datetime) -> str:
    """French clock time: '9 h', '9 h 45'."""
    local = moment.astimezone(PARIS)
    return f"{local.hour} h {local.minute:02d}" if local.minute else f"{local.hour} h"


def day(value: date | datetime, *, year: bool = True) -> str:
    """'jeudi 26 novembre 2026' (or without the year)."""
    if isinstance(value, datetime):
        value = value.astimezone(PARIS).date()
    return format_date(value, "EEEE d MMMM y" if year else "EEEE d MMMM", locale=LOCALE)


def day_and_hour(moment: datetime, *, year: bool = True) -> str:
    """'jeudi 26 novembre 2026 à 9 h 45'."""
    return f"{day(moment, year=year)} à {hour(moment)}"


def slot_label(moment: datetime) -> str:
    """Short label for a slot button: 'jeudi 26 novembre · 9 h 45'."""
    return f"{day(moment, year=False)} · {hour(moment)}"


DAY_KIND = {
    "permanence": "permanence",
    "retirement": "vendredi retraite",
    "extra": "journée supplémentaire",
}

SKIP_REASON = {"holiday": "jour férié", "closed": "fermé"}
