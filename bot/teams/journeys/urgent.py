"""An urgent request: the emergency numbers first, then the agent's situation and phone."""

from __future__ import annotations

from bot import texts
from bot.application.context import AccessDenied, AlreadyDone
from bot.teams import cards
from bot.teams.journeys.base import Journey
from bot.teams.journeys.booking import PHONE
from bot.teams.router import Rejected, Route, Submit
from bot.teams.turn import Turn

MAX_DESCRIPTION = 2000
MAX_AVAILABILITY = 200


class UrgentJourney(Journey):
    def routes(self) -> dict[str, Route]:
        return {
            "urgent": Route(handler=self.start),
            "urgent_send": Route(handler=self.send, forms=("urgent",), consumes=True),
        }

    async def start(self, turn: Turn, submit: Submit) -> None:
        profile = await self.app.people.profile(turn.agent_id)
        await turn.send(cards.urgent_form(turn.issue("urgent"), phone=profile.phone))

    async def send(self, turn: Turn, submit: Submit) -> None:
        description, phone, availability = (submit.value.get(k) or "" for k in ("description", "phone", "availability"))
        if (
            not isinstance(description, str)
            or not isinstance(phone, str)
            or not isinstance(availability, str)
            or len(description) > MAX_DESCRIPTION
            or len(availability) > MAX_AVAILABILITY
            or not PHONE.match(phone.strip())
        ):
            raise Rejected(texts.URGENT_PHONE_REQUIRED)
        # Her explicit choice, never guessed from what she wrote.
        danger = submit.value.get("danger", "false")
        if danger not in ("true", "false", True, False):
            raise Rejected(texts.BAD_INPUT.format(what=texts.URGENT_DANGER_CHOICE))
        danger = danger in ("true", True)
        try:
            filed = await self.app.urgent.file(
                now=turn.now,
                agent_id=turn.agent_id,
                description=description,
                phone=phone,
                availability=availability,
                key=submit.checked_form["id"],
                danger=danger,
            )
        except AlreadyDone as done:
            await turn.say(await self._done_text(turn, done.ref))
            return
        turn.done = texts.DONE_URGENT.format(reference=filed.request.reference)
        request = filed.request
        if filed.repeat:
            message = texts.URGENT_ALREADY_IN_HAND.format(reference=request.reference)
        elif filed.handler is None or filed.deadline is None:
            urgent = self.deployment.urgent
            message = texts.URGENT_ACK_HOTLINE.format(
                name=urgent.hotline_name, phone=urgent.hotline_phone, reference=request.reference
            )
        else:
            # Who will call her back is said only once someone was reached (a proactive message).
            titular = self.app.urgent.handled_by_titular(request, filed.handler.id)
            message = (texts.URGENT_RECEIVED if titular else texts.URGENT_RECEIVED_REPLACEMENT).format(
                reference=request.reference, deadline=texts.day_and_hour(filed.deadline)
            )
        await self.after_effect(turn, request.id, lambda: turn.replace(cards.urgent_notice([message], danger=danger)))

    async def _done_text(self, turn: Turn, ref: str) -> str:
        try:
            request = await self.app.urgent.get_own(agent_id=turn.agent_id, request_id=ref)
        except AccessDenied:
            return texts.ALREADY_DONE
        return texts.DONE_URGENT.format(reference=request.reference)
