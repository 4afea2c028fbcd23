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
        self.state.get("forms", {}).pop(form_id, None)
        consumed: list[str] = self.state.setdefault("consumed", [])
        consumed.append(form_id)
        del consumed[:-MAX_FORMS]

    def was_consumed(self, value: dict[str, Any]) -> bool:
        return value.get("form") in self.state.get("consumed", [])

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
