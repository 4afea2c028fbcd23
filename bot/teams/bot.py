"""The bot class: who is speaking, the turn's state, and handing words and clicks to the router.

A card submit is trusted for nothing: it names a form the bot issued (kept server-side in the
conversation state, with what it offered) and an action; the router checks the form, the
journeys check every id and value against it and the use cases check them against the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.core.teams import TeamsActivityHandler, TeamsInfo
from botbuilder.schema import ChannelAccount

from booking.records import Tampered
from bot import texts
from bot.application import Application
from bot.logs import exception_summary
from bot.teams import cards
from bot.teams.journeys.base import Services
from bot.teams.journeys.booking import BookingJourney
from bot.teams.journeys.mine import MineJourney
from bot.teams.journeys.rights import RightsJourney
from bot.teams.journeys.urgent import UrgentJourney
from bot.teams.journeys.worker_calendar import WorkerCalendarJourney
from bot.teams.journeys.worker_views import WorkerViewsJourney
from bot.teams.router import Route, Router, Submit
from bot.teams.state import Conversation, DatabaseStorage, storage_key
from bot.teams.turn import Turn
from bot.wire import to_json

Clock = Callable[[], datetime]

AGENT_COMMANDS = (
    ("mes rendez vous", "mine"),
    ("mes rdv", "mine"),
    ("annuler", "mine"),
    ("deplacer", "mine"),
    ("prendre rendez vous", "book"),
    ("rendez vous", "book"),
    ("rdv", "book"),
    ("reserver", "book"),
    ("urgence", "urgent"),
    ("urgent", "urgent"),
    ("mes donnees", "my_data"),
    ("donnees personnelles", "my_data"),
    ("aide", "help"),
    ("help", "help"),
    ("bonjour", "menu"),
    ("menu", "menu"),
    # The English titles of the app's command list (en-us localisation of the manifest).
    ("my appointments", "mine"),
    ("my data", "my_data"),
    ("appointment", "book"),
    ("cancel", "mine"),
)
WORKER_COMMANDS = (
    ("agenda", "agenda"),
    ("semaine", "agenda_week"),
    ("demandes", "requests"),
    ("urgences", "urgent_list"),
    ("absence", "absence"),
    ("bloquer", "block"),
    ("journee", "add_day"),
)


def match_command(text: str, *, worker: bool) -> str | None:
    said = texts.normalise(text)
    commands: tuple[tuple[str, str], ...] = (*(WORKER_COMMANDS if worker else ()), *AGENT_COMMANDS)
    for phrase, command in commands:
        if said == phrase or said.startswith(phrase + " "):
            return command
    return None


REDELIVERY_WINDOW = timedelta(days=1)
MAX_SEEN = 50
MAX_RECENT = 10_000  # activities answered by this process, remembered to tell a redelivery
VOLATILE = ("seen",)  # state keys whose change alone does not make a turn write the state
CONVERSATION = "permanence.conversation"  # where the turn's loaded state is kept on the context
log = logging.getLogger(__name__)


def _one_at_a_time() -> Callable[[str], AbstractAsyncContextManager[None]]:
    """Per-name serialisation within this process (tests and embeddings without a store)."""
    locks: dict[str, asyncio.Lock] = {}

    @contextlib.asynccontextmanager
    async def hold(name: str) -> AsyncIterator[None]:
        async with locks.setdefault(name, asyncio.Lock()):
            yield

    return hold


class NotIdentified(Exception):
    """The activity names nobody the bot can serve."""


class PermanenceBot(TeamsActivityHandler):  # type: ignore[misc]  # botbuilder ships no type hints
    def __init__(
        self,
        *,
        app: Application,
        storage: DatabaseStorage,
        clock: Clock,
        local_calendar: bool,
        meeting_links: bool,
        outlook_invitation: bool = False,
        after_commit: Callable[[str], Awaitable[None]] | None = None,
        wake: Callable[[], None] | None = None,
        serial: Callable[[str], AbstractAsyncContextManager[None]] | None = None,
    ) -> None:
        super().__init__()
        self.app = app
        self.serial = serial or _one_at_a_time()
        self.storage = storage
        self._recent: OrderedDict[str, None] = OrderedDict()
        self.clock = clock
        services = Services(
            app=app,
            local_calendar=local_calendar,
            meeting_links=meeting_links,
            outlook_invitation=outlook_invitation,
            after_commit=after_commit,
            wake=wake,
        )
        booking = BookingJourney(services)
        routes: dict[str, Route] = {
            "help": Route(handler=self.show_help),
            "menu": Route(handler=self.show_menu),
            "accept_change": Route(handler=self.accept_change),
        }
        for journey in (
            booking,
            MineJourney(services, booking),
            UrgentJourney(services),
            WorkerViewsJourney(services),
            WorkerCalendarJourney(services),
            RightsJourney(services),
        ):
            routes.update(journey.routes())
        self.router = Router(routes)

    # -- turn set-up ------------------------------------------------------------------------

    async def on_turn(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        if activity.channel_data is None:
            activity.channel_data = {}  # botbuilder's Teams handler dereferences it
        if self.person_of(turn_context) is None:
            # Another channel, a group chat or nobody named by Teams: nothing is read or written.
            log.info("activity refused: not a Teams personal chat of a person", extra={"event": "turn.refused"})
            if activity.type == "message" and activity.channel_id == "msteams":
                await turn_context.send_activity(texts.PERSONAL_CHAT_ONLY)
            return
        conversation = activity.conversation.id if activity.conversation else ""
        name = hashlib.sha256(f"{activity.channel_id}/{conversation}".encode()).hexdigest()
        # The turns of one conversation never interleave their state read-modify-write (in
        # this process, and across replicas on PostgreSQL): a double click or a burst of
        # messages is answered in order, each against the state the previous one left.
        async with self.serial(name):
            loaded = await self.storage.load(storage_key(activity.channel_id, conversation), ignore=VOLATILE)
            turn_context.turn_state[CONVERSATION] = loaded
            mark = f"{name}/{activity.id}" if activity.id and activity.type in ("message", "invoke") else None
            if (mark is not None and mark in self._recent) or self._redelivered(
                loaded.state, activity.id, activity.type
            ):
                log.info("redelivered activity answered once", extra={"event": "turn.redelivered"})
                return
            try:
                await super().on_turn(turn_context)
            except Tampered:
                # Her profile or a case does not match its seal (changed in the database): the
                # store reported it; she is told plainly, and nothing of it is shown or redirected.
                await turn_context.send_activity(texts.TAMPERED)
                return
            if mark is not None:
                self._recent[mark] = None
                while len(self._recent) > MAX_RECENT:
                    self._recent.popitem(last=False)
            try:
                # Written only if the turn changed it: a turn that only reads writes nothing (its
                # activity id is then remembered by this process only; a redelivered read that
                # reaches another replica is answered again, which changes nothing either).
                await self.storage.save(loaded, ignore=VOLATILE)
            except Exception as err:  # noqa: BLE001 - what the turn did is committed and was shown
                log.warning("conversation state not saved: %s", exception_summary(err), extra={"event": "state.save"})

    def _redelivered(self, state: dict[str, Any], activity_id: str | None, kind: str | None) -> bool:
        """The Bot Connector resends an activity it thinks unanswered: the same id in the same
        conversation within a day is answered once. Recorded in the state saved by this turn."""
        if not activity_id or kind not in ("message", "invoke"):
            return False
        now = self.clock()
        seen: dict[str, str] = {
            k: v for k, v in state.get("seen", {}).items() if datetime.fromisoformat(v) > now - REDELIVERY_WINDOW
        }
        if activity_id in seen:
            return True
        seen[activity_id] = now.isoformat()
        state["seen"] = dict(list(seen.items())[-MAX_SEEN:])
        return False

    @staticmethod
    def _state(context: TurnContext) -> dict[str, Any]:
        loaded: Conversation = context.turn_state[CONVERSATION]
        return loaded.state

    @staticmethod
    def person_of(context: TurnContext) -> str | None:
        """The one identity rule: a Teams personal chat, and the person is her Entra object id
        (`from.aadObjectId`, set by Teams), never `from.id` (which another client may choose)."""
        activity = context.activity
        conversation = activity.conversation
        if activity.channel_id != "msteams" or conversation is None or conversation.conversation_type != "personal":
            return None
        person = activity.from_property or ChannelAccount()
        return person.aad_object_id or None

    async def _turn(self, context: TurnContext) -> Turn:
        person = context.activity.from_property or ChannelAccount()
        object_id = self.person_of(context)
        if not object_id:
            raise NotIdentified
        state = self._state(context)
        now = self.clock()
        # A fingerprint of who is speaking where (the state keeps no identifier in clear).
        salt = state.setdefault("salt", secrets.token_hex(16))
        conversation_id = context.activity.conversation.id if context.activity.conversation else ""
        who = hashlib.sha256("\x1f".join((salt, object_id, person.name or "", conversation_id)).encode()).hexdigest()
        agent_id = state.get("agent_id")
        if agent_id is None or state.get("who") != who:
            # First contact in this conversation, or a new name: the only turns that write.
            email = "" if state.get("email_checked") else await self._email(context)
            agent_id = await self.app.people.identify(
                object_id=object_id,
                name=person.name or "",
                conversation=to_json(TurnContext.get_conversation_reference(context.activity)),
                email=email,
                now=now,
            )
            state.update(agent_id=agent_id, who=who, email_checked=True)
        person_id: str = agent_id

        async def shown(activity_id: str, kind: str, items: list[str] | None) -> None:
            if items is None:
                await self.app.shown_cards.forget(person_id, [activity_id], now)
            else:
                await self.app.shown_cards.record(person_id, activity_id, kind, items, now)

        return Turn(context, state, agent_id, self.app.people.worker(object_id), now, shown)

    async def _email(self, context: TurnContext) -> str:
        """The agent's address, to invite her to the Outlook event (best effort)."""
        try:
            member = await TeamsInfo.get_member(context, context.activity.from_property.id)
        except Exception:  # noqa: BLE001 - not every channel answers; the address is optional
            return ""
        return str(getattr(member, "email", None) or getattr(member, "user_principal_name", None) or "")

    # -- entry points -----------------------------------------------------------------------

    async def on_members_added_activity(self, members_added: list[ChannelAccount], turn_context: TurnContext) -> None:
        turn = await self._turn(turn_context)
        if not turn.state.get("welcomed"):
            turn.state["welcomed"] = True
            await turn.send(cards.welcome(is_worker=turn.worker is not None))

    async def on_installation_update_add(self, turn_context: TurnContext) -> None:
        # The app installed for her (by herself, or for a worker through Graph): her conversation
        # reference is kept now, so that proactive messages reach her before she ever writes.
        # Teams sends a conversationUpdate with the same install: welcoming once is enough.
        await self._turn(turn_context)

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        turn = await self._turn(turn_context)
        value = turn_context.activity.value
        if value is not None:
            if not isinstance(value, dict) or not isinstance(value.get("action"), str):
                await turn.say(texts.NOT_UNDERSTOOD)
                return
            await self.router.dispatch(turn, value["action"], value)
            return
        command = match_command(turn_context.activity.text or "", worker=turn.worker is not None)
        if command is None:
            await turn.say(texts.NOT_UNDERSTOOD)
            return
        await self.router.dispatch(turn, command, {})

    async def show_help(self, turn: Turn, submit: Submit) -> None:
        await turn.send(cards.help_card(is_worker=turn.worker is not None))

    async def show_menu(self, turn: Turn, submit: Submit) -> None:
        await turn.send(cards.welcome(is_worker=turn.worker is not None))

    async def accept_change(self, turn: Turn, submit: Submit) -> None:
        # The choice card no longer offers its choices once one was made.
        await turn.replace(cards.notice(texts.CHANGE_ACCEPTED, []))
