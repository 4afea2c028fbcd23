"""The router: per action, which form it needs, whether it is for workers only and whether it
consumes the form. Form lookup, staleness, the permission check and consumption happen here
and nowhere else; handlers receive a checked `Submit` and refuse input with `Rejected`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot import texts
from bot.teams.turn import Form, Turn


@dataclass(frozen=True, kw_only=True, slots=True)
class Submit:
    """What the person sent: the card's values and the form it names (checked by the router)."""

    value: dict[str, Any] = field(default_factory=dict)
    form: Form | None = None

    @property
    def checked_form(self) -> Form:
        """The form of a route that declares one (the router guarantees it)."""
        if self.form is None:
            raise Stale
        return self.form


class Rejected(Exception):
    """The input is refused: the person is told `message`, the form stays usable, nothing changed."""

    def __init__(self, message: str) -> None:
        super().__init__("input rejected")
        self.message = message


class Stale(Exception):
    """The card no longer applies (an item it listed is gone): said as a stale card."""


Handler = Callable[[Turn, Submit], Awaitable[None]]


@dataclass(frozen=True, kw_only=True, slots=True)
class Route:
    handler: Handler
    forms: tuple[str, ...] = ()  # the kinds of form the card must name; () for none
    worker_only: bool = False
    consumes: bool = False  # a form is used once: a second click is « déjà fait » (unless refused)


class Router:
    def __init__(self, routes: Mapping[str, Route]) -> None:
        self.routes = dict(routes)

    async def dispatch(self, turn: Turn, action: str, value: dict[str, Any]) -> None:
        route = self.routes.get(action)
        if route is None:
            await turn.say(texts.NOT_UNDERSTOOD)
            return
        if route.worker_only and turn.worker is None:
            await turn.say(texts.NOT_ALLOWED)
            return
        form = None
        if route.forms:
            form = turn.form(value, *route.forms)
            if form is None:
                await self._stale(turn, value)
                return
        try:
            await route.handler(turn, Submit(value=value, form=form))
        except Rejected as rejected:
            await turn.say(rejected.message)
            return
        except Stale:
            await self._stale(turn, value)
            return
        if route.consumes and form is not None and not turn.refused:
            turn.consume(form["id"])

    @staticmethod
    async def _stale(turn: Turn, value: dict[str, Any]) -> None:
        done = turn.what_was_done(value)
        await turn.say(texts.STALE_CARD if done is None else done or texts.ALREADY_DONE)
