"""French public holidays, from the `holidays` package (metropolitan France)."""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import holidays as holidays_lib


@lru_cache(maxsize=64)
def _year(year: int, subdivision: str | None) -> dict[date, str]:
    calendar = holidays_lib.country_holidays("FR", subdiv=subdivision, years=year, language="fr")
    return dict(calendar.items())


class FrenchHolidays:
    """Public holidays of France; `subdivision` adds regional ones (e.g. "Alsace-Moselle")."""

    def __init__(self, subdivision: str | None = None) -> None:
        self._subdivision = subdivision

    def name(self, day: date) -> str | None:
        return _year(day.year, self._subdivision).get(day)

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.name(day) is not None

    def in_year(self, year: int) -> dict[date, str]:
        return dict(sorted(_year(year, self._subdivision).items()))
