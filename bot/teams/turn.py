"""What one turn knows about the person and her conversation, the forms the bot issued to her
(kept server-side in the conversation state), and the three ways to answer."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

from botbuilder.core import CardFactory, MessageFactory, TurnContext

from booking.model import Worker
from bot.teams import cards

log = logging.getLogger(__name__)

MAX_FORMS = 40
FORM_LIFETIME = timedelta(hours=12)

Form = dict[str, Any]


class Turn:
    def __init__(
        self, context: TurnContext, state: dict[str, Any], agent_id: str, worker: Worker | None, now: datetime
    ) -> None:
        self.context = context
        self.state = state
        self.agent_id = agent_id
        self.worker = worker
        self.now = now
        self.done: str | None = None  # what this turn's action did, said again on a repeated click

    # -- forms ------------------------------------------------------------------------------

    def issue(self, kind: str, **data: Any) -> str:
        """A new form of `kind` carrying what it offered; returns its id for the card."""
        forms: dict[str, Form] = self.state.setdefault("forms", {})
        form_id = secrets.token_urlsafe(12)
        forms[form_id] = {"kind": kind, "issued": self.now.isoformat(), **data}
        if len(forms) > MAX_FORMS:
            for old in sorted(forms, key=lambda f: forms[f]["issued"])[: len(forms) - MAX_FORMS]:
                del forms[old]
        return form_id

    def form(self, value: dict[str, Any], *kinds: str) -> Form | None:
        """The live form the submitted card names, if it is of one of `kinds`."""
        form_id = value.get("form")
        forms: dict[str, Form] = self.state.get("forms", {})
        if not isinstance(form_id, str) or form_id not in forms:
            return None
        form = forms[form_id]
        if form["kind"] not in kinds or datetime.fromisoformat(form["issued"]) + FORM_LIFETIME < self.now:
            return None
        return {**form, "id": form_id}

    def consume(self, form_id: str) -> None:
        """The form is used: a second click answers what was done (`self.done`), not again."""
        self.state.get("forms", {}).pop(form_id, None)
        consumed: dict[str, str] = self.state.get("consumed_forms", {})
        consumed[form_id] = self.done or ""
        for old in list(consumed)[:-MAX_FORMS]:
            del consumed[old]
        self.state["consumed_forms"] = consumed

    def what_was_done(self, value: dict[str, Any]) -> str | None:
        """For a consumed form: what it did (may be empty); None if it was never consumed."""
        form_id = value.get("form")
        consumed: dict[str, str] = self.state.get("consumed_forms", {})
        return consumed.get(form_id) if isinstance(form_id, str) else None

    # -- answers ----------------------------------------------------------------------------

    async def send(self, card: cards.Card) -> None:
        await self.context.send_activity(MessageFactory.attachment(CardFactory.adaptive_card(card)))

    async def replace(self, card: cards.Card) -> None:
        """Replace the card that was acted on (no double submit); send anew if the channel cannot."""
        reply_to = self.context.activity.reply_to_id
        if reply_to:
            update = MessageFactory.attachment(CardFactory.adaptive_card(card))
            update.id = reply_to
            try:
                await self.context.update_activity(update)
                return
            except Exception:  # noqa: BLE001 - a client that cannot update messages
                log.info("card update not supported here; sending a new card")
        await self.send(card)

    async def say(self, message: str) -> None:
        await self.context.send_activity(MessageFactory.text(message))
