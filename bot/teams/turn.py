"""What one turn knows about the person and her conversation, the forms the bot issued to her
(kept server-side in the conversation state), and the three ways to answer."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from botbuilder.core import CardFactory, MessageFactory, TurnContext

from booking.model import Worker
from bot.teams import cards

log = logging.getLogger(__name__)

MAX_FORMS = 40
FORM_LIFETIME = timedelta(hours=12)

Form = dict[str, Any]
# Told which card message now shows which appointments with actions (None: none any more).
Shown = Callable[[str, str, "list[str] | None"], Awaitable[None]]


SHOWN = "shown"  # on a form: its card was recorded as offering actions on appointments


def appointments_of(form: Form) -> list[str]:
    """The appointments a form's card offers actions on (its list, its one, the one it moves)."""
    items = [i for i in form.get("appointments") or [] if isinstance(i, str)]
    for key in ("appointment", "reschedule"):
        if isinstance(form.get(key), str) and form[key]:
            items.append(form[key])
    if form.get("kind") == "requests":
        items += [i for i in form.get("ids") or [] if isinstance(i, str)]
    return items


class Turn:
    def __init__(
        self,
        context: TurnContext,
        state: dict[str, Any],
        agent_id: str,
        worker: Worker | None,
        now: datetime,
        shown: Shown | None = None,
    ) -> None:
        self.context = context
        self.state = state
        self.agent_id = agent_id
        self.worker = worker
        self.now = now
        self.done: str | None = None  # what this turn's action did, said again on a repeated click
        # The action was refused and nothing changed: its form stays usable (a later click may
        # succeed) and is never answered as done.
        self.refused = False
        self._shown = shown
        self._issued: list[str] = []  # forms issued by this turn, not yet on a card

    # -- forms ------------------------------------------------------------------------------

    def issue(self, kind: str, **data: Any) -> str:
        """A new form of `kind` carrying what it offered; returns its id for the card."""
        forms: dict[str, Form] = self.state.setdefault("forms", {})
        form_id = secrets.token_urlsafe(12)
        forms[form_id] = {"kind": kind, "issued": self.now.isoformat(), **data}
        self._issued.append(form_id)
        if len(forms) > MAX_FORMS:
            for old in sorted(forms, key=lambda f: forms[f]["issued"])[: len(forms) - MAX_FORMS]:
                del forms[old]
        return form_id

    def reissue(self, kind: str, **data: Any) -> str:
        """Like `issue`, but a live form of `kind` with the same data, issued less than half a
        lifetime ago, is given again: showing the same list twice changes no state. Only for
        forms that no route consumes (a card shown twice then works twice)."""
        forms: dict[str, Form] = self.state.get("forms", {})
        fresh = self.now - FORM_LIFETIME / 2
        for form_id, form in forms.items():
            same = form["kind"] == kind and {**form, "issued": "", SHOWN: None} == {
                "kind": kind,
                "issued": "",
                SHOWN: None,
                **data,
            }
            if same and datetime.fromisoformat(form["issued"]) > fresh:
                self._issued.append(form_id)  # on a new card too: recorded as shown there
                return form_id
        return self.issue(kind, **data)

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
        sent = await self.context.send_activity(MessageFactory.attachment(CardFactory.adaptive_card(card)))
        await self._placed(getattr(sent, "id", None) or "", replacing=False)

    async def replace(self, card: cards.Card) -> None:
        """Replace the card that was acted on (no double submit); send anew if the channel cannot."""
        reply_to = self.context.activity.reply_to_id
        if reply_to:
            update = MessageFactory.attachment(CardFactory.adaptive_card(card))
            update.id = reply_to
            try:
                await self.context.update_activity(update)
            except Exception:  # noqa: BLE001 - a client that cannot update messages
                log.info("card update not supported here; sending a new card")
            else:
                await self._placed(reply_to, replacing=True)
                return
        await self.send(card)

    async def _placed(self, activity_id: str, *, replacing: bool) -> None:
        """Remember which appointments the card message `activity_id` now offers actions on, so
        that a later change of one of them updates it in place (best effort: the card works
        without it, a click on what no longer applies is refused)."""
        issued, self._issued = self._issued, []
        if self._shown is None or not activity_id:
            return
        forms: dict[str, Form] = self.state.get("forms", {})
        covered = [(forms[f]["kind"], appointments_of(forms[f])) for f in issued if f in forms]
        covered = [(kind, items) for kind, items in covered if items]
        if not covered and not (replacing and self._replaced_may_be_recorded()):
            return
        for form_id in issued if covered else ():
            forms[form_id][SHOWN] = True  # this card was recorded: replacing it later forgets it
        try:
            if covered:
                await self._shown(activity_id, covered[-1][0], [i for _, items in covered for i in items])
            else:
                await self._shown(activity_id, "", None)  # the replaced card offers nothing on them now
        except Exception as err:  # noqa: BLE001 - never fails the turn
            log.warning("shown card not recorded: %s", type(err).__name__, extra={"event": "cards.record"})

    def _replaced_may_be_recorded(self) -> bool:
        """Whether the card acted on may be recorded as offering actions on appointments: a card
        of this conversation's turns says so on its forms (most, such as the booking steps, were
        never recorded, and replacing them needs no write); any other card (sent by the outbox,
        or whose form is gone) may be."""
        value = self.context.activity.value
        form_id = value.get("form") if isinstance(value, dict) else None
        form = self.state.get("forms", {}).get(form_id) if isinstance(form_id, str) else None
        return form is None or bool(form.get(SHOWN))

    async def say(self, message: str) -> None:
        await self.context.send_activity(MessageFactory.text(message))
