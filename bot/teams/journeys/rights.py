"""« Mes données »: what the service keeps about the agent and until when (GDPR art. 15), and the
erasure of what retention does not require, after a confirmation (art. 17)."""

from __future__ import annotations

from booking.records import NotFound
from bot import texts
from bot.application.context import AlreadyDone
from bot.application.rights import Erasure, PersonalData
from bot.teams import cards
from bot.teams.journeys.base import Journey
from bot.teams.router import Route, Submit
from bot.teams.turn import Turn

# What the conversation state keeps of who she is: cleared once her profile is erased, so that
# her next message is a first contact again.
IDENTITY_KEYS = ("agent_id", "who", "email_checked", "forms")


class RightsJourney(Journey):
    def routes(self) -> dict[str, Route]:
        return {
            "my_data": Route(handler=self.show),
            "erase_ask": Route(handler=self.ask, forms=("my_data",), consumes=True),
            "erase_yes": Route(handler=self.erase, forms=("erase",), consumes=True),
            "erase_no": Route(handler=self.keep, forms=("erase",), consumes=True),
        }

    async def _data(self, turn: Turn) -> PersonalData:
        return await self.app.rights.personal_data(now=turn.now, agent_id=turn.agent_id)

    def _site(self, site_id: str | None) -> str:
        if not site_id:
            return ""
        try:
            return self.directory.site(site_id).name
        except KeyError:
            return site_id

    def _urgent_status(self, status: str, handler_id: str | None) -> str:
        if status == "open" and handler_id is None:
            urgent = self.deployment.urgent
            return texts.DATA_STATUS_HOTLINE.format(name=urgent.hotline_name, phone=urgent.hotline_phone)
        return texts.DATA_STATUS_LABELS.get(status, status)

    def _topic(self, topic_id: str | None) -> str:
        if not topic_id:
            return ""
        try:
            return self.directory.topic(topic_id).label
        except KeyError:
            return topic_id

    async def show(self, turn: Turn, submit: Submit) -> None:
        data = await self._data(turn)
        agent = data.agent
        profile = [
            (texts.DATA_NAME, cards.literal(agent.name)),
            (texts.DATA_EMAIL, cards.literal(agent.email)),
            (texts.DATA_PHONE, cards.literal(agent.phone)),
            (texts.DATA_SITE, self._site(agent.site_id)),
            (texts.DATA_CONVERSATION, texts.DATA_CONVERSATION_KEPT if agent.has_conversation else ""),
            (texts.DATA_PROFILE_UNTIL, texts.day(data.profile_kept_until)),
        ]
        appointments = [
            (
                f"{texts.day_and_hour(a.start)} · {texts.MODE_LABELS[a.mode.value]}",
                [
                    (texts.DATA_STATUS, texts.DATA_STATUS_LABELS.get(a.status.value, a.status.value)),
                    (texts.DATA_SITE, self._site(a.site_id)),
                    (texts.DATA_TOPIC, self._topic(a.topic_id)),
                    (texts.DATA_MESSAGE, cards.literal(a.message)),
                    (texts.CONFIRMED_REFERENCE.split(" :")[0], a.reference),
                    (texts.DATA_UNTIL, texts.day(a.kept_until)),
                ],
            )
            for a in data.appointments
        ]
        urgent = [
            (
                texts.day_and_hour(r.received_at),
                [
                    (texts.DATA_STATUS, self._urgent_status(r.status, r.handler_id)),
                    (texts.DATA_DANGER, texts.DATA_DANGER_YES if r.danger else ""),
                    (texts.DATA_SITUATION, cards.literal(r.description)),
                    (texts.DATA_PHONE, cards.literal(r.phone)),
                    (texts.DATA_AVAILABILITY, cards.literal(r.availability)),
                    (texts.CONFIRMED_REFERENCE.split(" :")[0], r.reference),
                    (texts.DATA_UNTIL, texts.day(r.kept_until)),
                ],
            )
            for r in data.urgent
        ]
        notes = [texts.data_audit(data.audit_days), texts.DATA_COUNTS]
        form = turn.issue("my_data")
        await turn.send(cards.my_data(form, profile=profile, appointments=appointments, urgent=urgent, notes=notes))

    async def ask(self, turn: Turn, submit: Submit) -> None:
        data = await self._data(turn)
        will, kept = [], []
        past = sum(a.erasable for a in data.appointments)
        upcoming = len(data.appointments) - past
        taken = sum(r.erasable for r in data.urgent)
        still_open = len(data.urgent) - taken
        if past:
            will.append(texts.erase_past(past))
        if taken:
            will.append(texts.erase_requests(taken))
        if data.profile_erasable:
            will.append(texts.ERASE_PROFILE)
        if upcoming:
            kept.append(texts.erase_kept_upcoming(upcoming))
        if still_open:
            kept.append(texts.erase_kept_open(still_open))
        if not data.profile_erasable:
            kept.append(texts.ERASE_KEPT_PROFILE)
        kept.append(texts.ERASE_KEPT_AUDIT)
        kept.append(texts.DATA_COUNTS)
        form = turn.issue("erase") if will else None
        await turn.replace(cards.erase_confirm(form, will, kept))

    async def erase(self, turn: Turn, submit: Submit) -> None:
        form = submit.checked_form
        try:
            erasure = await self.app.rights.erase(now=turn.now, agent_id=turn.agent_id, key=form["id"])
        except (AlreadyDone, NotFound):  # another click or device was first
            await turn.say(texts.DONE_ERASED)
            return
        if erasure.profile:
            for key in IDENTITY_KEYS:
                turn.state.pop(key, None)
        turn.done = texts.DONE_ERASED
        await turn.replace(cards.notice(self._said(erasure), []))

    @staticmethod
    def _said(erasure: Erasure) -> str:
        if erasure.profile:
            return texts.ERASED_ALL
        if erasure.appointments or erasure.urgent:
            return texts.ERASED
        return texts.ERASE_KEPT_NOTHING

    async def keep(self, turn: Turn, submit: Submit) -> None:
        await turn.replace(cards.notice(texts.ERASE_KEPT_NOTHING, []))
