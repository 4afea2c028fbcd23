"""What every journey is given: the use cases and the few facts of this deployment's set-up."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from booking.directory import Directory
from booking.document import Deployment
from booking.model import Worker
from bot import texts
from bot.application import Application
from bot.logs import exception_summary
from bot.teams.router import Route, Stale, Submit
from bot.teams.turn import Turn


@dataclass(kw_only=True)
class Services:
    app: Application
    local_calendar: bool  # the embedded calendar: the worker edits it from the chat
    meeting_links: bool  # whether the calendar provider creates Teams meeting links
    after_commit: Callable[[str], Awaitable[None]] | None = None  # e.g. run the outbox at once
    wake: Callable[[], None] | None = None  # have the outbox run soon, without waiting for it
    # Offer the agent, at booking, an invitation to the worker's Outlook event (opt-in).
    outlook_invitation: bool = False

    @property
    def deployment(self) -> Deployment:
        return self.app.deployment

    async def committed(self, aggregate_id: str, *, wait: bool = True) -> None:
        """The outbox has work for `aggregate_id`: run it now (`wait`: before the card is shown,
        which then can carry what it wrote), or only wake it when the card needs nothing of it."""
        if not wait and self.wake is not None:
            self.wake()
        elif self.after_commit is not None:
            await self.after_commit(aggregate_id)


log = logging.getLogger(__name__)


class Journey:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.app = services.app

    # Read at each use: a reloaded plan applies to the next turn, without a restart.
    @property
    def deployment(self) -> Deployment:
        return self.services.deployment

    @property
    def directory(self) -> Directory:
        return self.services.deployment.directory

    def routes(self) -> dict[str, Route]:
        raise NotImplementedError

    async def after_effect(
        self, turn: Turn, aggregate_id: str, show: Callable[[], Awaitable[None]], *, wait: bool = True
    ) -> None:
        """Once an effect is committed, the person sees it was done even if a later step fails:
        the outbox is nudged and the card shown, falling back to the plain sentence in `turn.done`.
        `wait`: run the outbox before showing (the card may show what it wrote, e.g. a Teams link)."""
        try:
            await self.services.committed(aggregate_id, wait=wait)
            await show()
        except Exception as err:  # noqa: BLE001 - the effect stands; the outbox retries its own work
            log.warning("showing a committed action failed: %s", exception_summary(err), extra={"event": "turn.after"})
            await turn.say(turn.done or texts.ALREADY_DONE)


def worker_of(turn: Turn) -> Worker:
    """The worker of a worker-only route (the router checked it; never an assert)."""
    if turn.worker is None:
        raise Stale
    return turn.worker


def item_of(submit: Submit, listed: str) -> str:
    """The item a card row names, if the form listed it."""
    item = submit.value.get("item")
    if not isinstance(item, str) or item not in submit.checked_form.get(listed, []):
        raise Stale
    return item
