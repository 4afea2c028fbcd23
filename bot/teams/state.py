"""The conversation state on the product's database (encrypted, with eTag concurrency).

A turn loads its conversation's document once and saves it only if what it serialises to
changed (a digest compared before and after the turn): a turn that only reads writes nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage.store import Store

PROPERTY = "permanence"  # the document's one property (the shape botbuilder's ConversationState wrote)


def storage_key(channel_id: str, conversation_id: str) -> str:
    """The key botbuilder's ConversationState uses, so stored conversations stay readable."""
    return f"{channel_id}/conversations/{conversation_id}"


def digest(state: dict[str, Any], ignore: Collection[str] = ()) -> bytes:
    """A digest of the state as it is serialised, without the keys in `ignore`."""
    kept = {k: v for k, v in state.items() if k not in ignore} if ignore else state
    return hashlib.blake2b(json.dumps(kept, sort_keys=True, default=str).encode(), digest_size=16).digest()


@dataclass(kw_only=True, slots=True)
class Conversation:
    """A conversation's state as one turn loaded it."""

    key: str
    state: dict[str, Any]
    etag: str | None
    loaded: bytes  # the digest at load


class DatabaseStorage:
    """Conversations' state documents in the store, loaded and saved with their eTag."""

    def __init__(self, store: Store, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._clock = clock

    async def load(self, key: str, *, ignore: Collection[str] = ()) -> Conversation:
        """The conversation's state (empty the first time), with its eTag and digest."""
        async with self._store.unit_of_work(read_only=True) as uow:
            found = await uow.state.read([key])
        document, etag = found.get(key, ({}, None))
        state = document.get(PROPERTY)
        if not isinstance(state, dict):
            state = {}
        return Conversation(key=key, state=state, etag=etag, loaded=digest(state, ignore))

    async def save(self, conversation: Conversation, *, ignore: Collection[str] = ()) -> bool:
        """Write the state if it changed since it was loaded (the keys in `ignore` alone do
        not count as a change, and are written with the rest); returns whether it wrote.
        Raises `ConcurrentChange` if somebody else wrote it meanwhile."""
        if digest(conversation.state, ignore) == conversation.loaded:
            return False
        # A draft between two clicks: what a click commits (a booking, a cancellation) is
        # committed durably by its own transaction, before this one.
        async with self._store.unit_of_work(durable=False) as uow:
            conversation.etag = await uow.state.write(
                conversation.key, {PROPERTY: conversation.state}, conversation.etag, self._clock()
            )
            await uow.commit()
        conversation.loaded = digest(conversation.state, ignore)
        return True
