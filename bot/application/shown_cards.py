"""The cards on people's screens that still offer actions on appointments, so that a change of
an appointment can update them in place (they then stop offering what no longer applies).

One small document per person in the encrypted key-value store (not in the conversation
state, whose eTag belongs to her turns): the id of each card message the channel gave back,
what kind of card it is and the appointments it covers. Nothing else: no names, no text.
A change queues one outbox message (`notify.cards`) in the transaction that makes it; the
Teams notifier then rewrites the cards and forgets them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from booking.records import ConcurrentChange
from bot.application.context import Context

MAX_CARDS = 60  # per person: older cards are forgotten (they stay on screen, refused if clicked)
CARD_LIFETIME = timedelta(days=30)
ATTEMPTS = 4  # a turn and the notifier may write one person's document at the same moment

# What changed, as said on the cards that showed it.
CANCELLED = "cancelled"
MOVED = "moved"
ACCEPTED = "accepted"
DECLINED = "declined"
OUTLOOK_MOVED = "outlook_moved"  # the worker moved it in Outlook: the agent gets a choice card
OUTLOOK_CANCELLED = "outlook_cancelled"
CHANGES = (CANCELLED, MOVED, ACCEPTED, DECLINED, OUTLOOK_MOVED, OUTLOOK_CANCELLED)

OUTLOOK_CHOICE = "outlook_choice"  # the kind of the card sent after an Outlook move


@dataclass(frozen=True, slots=True)
class ShownCard:
    activity_id: str
    kind: str
    items: tuple[str, ...]


def _key(person_id: str) -> str:
    return shown_cards_key(person_id)


class ShownCards:
    def __init__(self, context: Context) -> None:
        self.context = context

    async def _change(self, person_id: str, now: datetime, edit: Any, *, check_first: bool = False) -> None:
        """Read-modify-write the person's document, again if someone wrote it meanwhile.
        `check_first`: read it without the write lock first, and take the lock only if the edit
        changes something (most turns replace a card that was never recorded)."""
        if check_first:
            async with self.context.store.unit_of_work(read_only=True) as uow:
                found = await uow.state.read([_key(person_id)])
            value, _ = found.get(_key(person_id), ({}, None))
            if not edit(dict(value.get("cards", {}))):
                return
        for attempt in range(ATTEMPTS):
            try:
                async with self.context.store.unit_of_work() as uow:
                    found = await uow.state.read([_key(person_id)])
                    value, etag = found.get(_key(person_id), ({}, None))
                    cards: dict[str, dict[str, Any]] = dict(value.get("cards", {}))
                    if not edit(cards):
                        return
                    await uow.state.write(_key(person_id), {"cards": cards}, etag, now)
                    await uow.commit()
                    return
            except ConcurrentChange:
                if attempt == ATTEMPTS - 1:
                    raise

    async def record(self, person_id: str, activity_id: str, kind: str, items: list[str], now: datetime) -> None:
        """The card `activity_id` on the person's screen covers `items` (replacing what it covered)."""
        if not activity_id:
            return

        def edit(cards: dict[str, dict[str, Any]]) -> bool:
            oldest = (now - CARD_LIFETIME).isoformat()
            for old in [a for a, c in cards.items() if c.get("at", "") < oldest]:
                del cards[old]
            cards.pop(activity_id, None)
            cards[activity_id] = {"kind": kind, "items": sorted(set(items)), "at": now.isoformat()}
            for old in list(cards)[:-MAX_CARDS]:
                del cards[old]
            return True

        await self._change(person_id, now, edit)

    async def forget(self, person_id: str, activity_ids: list[str], now: datetime) -> None:
        """These cards no longer offer actions on appointments (updated, or replaced by another)."""

        def edit(cards: dict[str, dict[str, Any]]) -> bool:
            gone = [a for a in activity_ids if a in cards]
            for activity_id in gone:
                del cards[activity_id]
            return bool(gone)

        # A card is recorded before anyone can act on it, so a card not found now needs no write.
        await self._change(person_id, now, edit, check_first=True)

    async def covering(self, person_id: str, appointment_id: str) -> list[ShownCard]:
        async with self.context.store.unit_of_work(read_only=True) as uow:
            found = await uow.state.read([_key(person_id)])
        value, _ = found.get(_key(person_id), ({}, ""))
        return [
            ShownCard(activity_id, str(card.get("kind", "")), tuple(card.get("items", ())))
            for activity_id, card in value.get("cards", {}).items()
            if appointment_id in card.get("items", ())
        ]


def shown_cards_key(person_id: str) -> str:
    """Where the cards shown to a person are kept (erased with her profile)."""
    return f"shown-cards/{person_id}"
