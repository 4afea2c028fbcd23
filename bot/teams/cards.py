"""Adaptive Cards 1.5 (French): pure builders returning card dicts.

Every submit carries only an action name and the id of a form the bot issued; whatever
else a card sends back is validated against what the server stored for that form.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from booking.model import Site, Slot, Topic, Worker
from bot import texts

Card = dict[str, Any]


def card(body: list[dict[str, Any]], actions: Sequence[dict[str, Any]] = ()) -> Card:
    result: Card = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.5",
        "lang": "fr",
        "body": body,
    }
    if actions:
        result["actions"] = list(actions)
    return result


# Markdown an Adaptive Card TextBlock (and a FactSet value) would interpret: emphasis, links,
# images, code, raw HTML-ish brackets, strike-through, tables, entities. Escaped with a backslash
# wherever they are; the block markers (lists, headings, quotes, rules) only at a line's start.
_INLINE_MARKUP = re.compile(r"([\\`*_\[\]()<>!~|#&])")
_LINE_MARKERS = re.compile(
    r"^([ \t]*)(?:([-+])(?=[ \t]|$)|(\d{1,9})([.)])(?=[ \t]|$)|(=+|-+)(?=[ \t]*$))", re.MULTILINE
)


def _escape_marker(match: re.Match[str]) -> str:
    indent, bullet, number, number_mark, rule = match.groups()
    if bullet:
        return f"{indent}\\{bullet}"
    if number:
        return f"{indent}{number}\\{number_mark}"
    return indent + "".join(f"\\{c}" for c in rule)


def literal(value: str) -> str:
    """Free text from a person (an agent's message, situation, availability, a name) as a card
    shows it: every markdown construct neutralised, so that `[Ouvrir le dossier RH](https://…)`
    reads as those very characters and never as a link in a card the worker trusts. Used
    wherever such text enters a card, and only there (the bot's own texts keep their format)."""
    return _LINE_MARKERS.sub(_escape_marker, _INLINE_MARKUP.sub(r"\\\1", value))


def text(value: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": value, "wrap": True, **style}


def title(value: str) -> dict[str, Any]:
    return text(value, size="Medium", weight="Bolder", style="heading")


def submit(label: str, action: str, form: str | None = None, style: str | None = None, **data: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"action": action, **data}
    if form is not None:
        payload["form"] = form
    result: dict[str, Any] = {"type": "Action.Submit", "title": label, "data": payload}
    if style:
        result["style"] = style
    return result


def facts(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    return {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in pairs if v]}


def choice_set(
    input_id: str,
    label: str,
    choices: Sequence[tuple[str, str]],
    *,
    value: str | None = None,
    required: bool = False,
    placeholder: str | None = None,
    style: str = "compact",
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "type": "Input.ChoiceSet",
        "id": input_id,
        "label": label,
        "style": style,
        "choices": [{"title": t, "value": v} for v, t in choices],
        "isRequired": required,
    }
    if required:
        result["errorMessage"] = f"{label} : choix obligatoire"
    if value:
        result["value"] = value
    if placeholder:
        result["placeholder"] = placeholder
    return result


def help_card(*, is_worker: bool) -> Card:
    """« aide »: what each command does (the welcome card greets; this one explains)."""
    body = [
        title(texts.HELP_TITLE),
        text(texts.HELP_INTRO),
        facts([(f"« {command} »", what) for command, what in texts.HELP_AGENT]),
    ]
    if is_worker:
        body.append(text(texts.HELP_WORKER_INTRO, weight="Bolder", spacing="Medium"))
        body.append(facts([(f"« {command} »", what) for command, what in texts.HELP_WORKER]))
    body.append(text(texts.CONFIDENTIALITY, isSubtle=True, size="Small"))
    return card(body, _main_actions())


def _main_actions() -> list[dict[str, Any]]:
    return [
        submit(texts.ACTION_BOOK, "book", style="positive"),
        submit(texts.ACTION_MINE, "mine"),
        submit(texts.ACTION_URGENT, "urgent", style="destructive"),
    ]


def welcome(*, is_worker: bool) -> Card:
    body = [title(texts.WELCOME_TITLE), text(texts.WELCOME_BODY), text(texts.CONFIDENTIALITY, isSubtle=True)]
    actions = [
        submit(texts.ACTION_BOOK, "book", style="positive"),
        submit(texts.ACTION_MINE, "mine"),
        submit(texts.ACTION_URGENT, "urgent", style="destructive"),
    ]
    if is_worker:
        # Hosts show at most five actions per set: the worker's tools get a set of their own.
        body.append(text(texts.WORKER_HELP, isSubtle=True))
        body.append(
            {
                "type": "ActionSet",
                "actions": [
                    submit(texts.ACTION_AGENDA_TODAY, "agenda", period="day"),
                    submit(texts.ACTION_AGENDA_WEEK, "agenda", period="week"),
                    submit(texts.ACTION_REQUESTS, "requests"),
                    submit(texts.ACTION_URGENT_LIST, "urgent_list"),
                ],
            }
        )
        body.append(
            {
                "type": "ActionSet",
                "actions": [
                    submit(texts.ACTION_ABSENCE, "absence"),
                    submit(texts.ACTION_BLOCK, "block"),
                    submit(texts.ACTION_ADD_DAY, "add_day"),
                ],
            }
        )
        return card(body, actions)
    body.append(text(texts.HELP_COMMANDS, isSubtle=True))
    return card(body, actions)


def site_picker(form: str, sites: Sequence[Site], current: str | None) -> Card:
    return card(
        [
            title(texts.SITE_TITLE),
            text(texts.SITE_HINT, isSubtle=True),
            choice_set(
                "site",
                texts.SITE_LABEL,
                [(s.id, f"{s.name} ({s.department})" if s.department else s.name) for s in sites],
                value=current,
                required=True,
                style="expanded",
            ),
        ],
        [submit(texts.CONTINUE, "site", form, style="positive")],
    )


def booking_form(
    form: str,
    site: Site,
    topics: Sequence[Topic],
    modes: Sequence[str],
    *,
    phone: str = "",
) -> Card:
    return card(
        [
            title(texts.FORM_TITLE),
            text(texts.FORM_SITE.format(site=site.name), isSubtle=True),
            choice_set(
                "topic", texts.TOPIC_LABEL, [(t.id, t.label) for t in topics], placeholder=texts.TOPIC_PLACEHOLDER
            ),
            choice_set(
                "mode",
                texts.MODE_LABEL,
                [(m, texts.MODE_LABELS[m]) for m in modes],
                value=modes[0],
                required=True,
                style="expanded",
            ),
            {
                "type": "Input.Text",
                "id": "message",
                "label": texts.MESSAGE_LABEL,
                "isMultiline": True,
                "maxLength": 1000,
            },
            {
                "type": "Input.Text",
                "id": "phone",
                "label": texts.PHONE_LABEL,
                "style": "Tel",
                "maxLength": 20,
                "value": phone,
            },
        ],
        [
            submit(texts.SEE_SLOTS, "slots", form, style="positive"),
            submit(texts.CHANGE_SITE, "change_site", form),
        ],
    )


def slots(
    form: str,
    groups: Sequence[tuple[str, Sequence[Slot]]],
    *,
    notice: Sequence[str] = (),
    more: bool,
    heading: str = texts.SLOTS_TITLE,
    earlier: bool = False,
) -> Card:
    body: list[dict[str, Any]] = [title(heading)]
    if notice:
        body.append({"type": "Container", "style": "attention", "items": [text(n) for n in notice]})
    if not groups:
        body.append(text(texts.SLOTS_EMPTY))
    for day_label, day_slots in groups:
        body.append(text(day_label, weight="Bolder", spacing="Medium"))
        for row in _rows(day_slots):
            body.append(
                {"type": "ActionSet", "actions": [submit(texts.hour(s.start), "pick", form, slot=s.key) for s in row]}
            )
    actions = []
    if earlier:
        actions.append(submit(texts.EARLIER_DATES, "earlier", form))
    if more:
        actions.append(submit(texts.MORE_DATES, "more", form))
    if notice:
        actions.append(submit(texts.ACTION_URGENT, "urgent", style="destructive"))
    actions.append(submit(texts.ABANDON, "abandon", form))
    return card(body, actions)


def _rows(day_slots: Sequence[Slot], width: int = 5) -> list[list[Slot]]:
    """Split a day's slots at its breaks (morning, afternoon), at most `width` a row: hosts
    show at most five actions per set."""
    rows: list[list[Slot]] = []
    for slot in day_slots:
        if rows and len(rows[-1]) < width and slot.start - rows[-1][-1].end <= rows[-1][-1].end - rows[-1][-1].start:
            rows[-1].append(slot)
        else:
            rows.append([slot])
    return rows


def summary(
    form: str,
    *,
    when: datetime,
    how: str,
    where: str,
    topic: str,
    worker: Worker | None,
    invitation: bool = False,
    phone: str = "",
    call: bool = False,
    was: datetime | None = None,
) -> Card:
    """`invitation`: offer the Outlook invitation, off unless she ticks it. `call` (a phone
    appointment): the number that will be called, which she may correct here; otherwise the
    phone she gave, if any, is shown."""
    body: list[dict[str, Any]] = [
        title(texts.SUMMARY_MOVE_TITLE if was else texts.SUMMARY_TITLE),
        facts(
            [
                (texts.SUMMARY_WAS, texts.day_and_hour(was) if was else ""),
                (texts.SUMMARY_NEW if was else texts.SUMMARY_WHEN, texts.day_and_hour(when)),
                (texts.SUMMARY_HOW, how),
                (texts.SUMMARY_WHERE, where),
                (texts.SUMMARY_TOPIC, topic),
                (texts.SUMMARY_WITH, worker.name if worker else ""),
                (texts.SUMMARY_CALLBACK, "" if call else phone),
            ]
        ),
    ]
    if call:
        body.append(
            {
                "type": "Input.Text",
                "id": "phone",
                "label": texts.SUMMARY_PHONE,
                "style": "Tel",
                "maxLength": 20,
                "isRequired": True,
                "errorMessage": texts.URGENT_PHONE_REQUIRED,
                "value": phone,
            }
        )
        body.append(text(texts.SUMMARY_PHONE_HINT, isSubtle=True, size="Small", spacing="None"))
    if invitation:
        body.append(
            {
                "type": "Input.Toggle",
                "id": "invite",
                "title": texts.INVITE_LABEL,
                "value": "false",
                "valueOn": "true",
                "valueOff": "false",
            }
        )
        body.append(text(texts.INVITE_HINT, isSubtle=True, size="Small", spacing="None"))
    body.append(text(texts.CONFIDENTIALITY, isSubtle=True, size="Small"))
    return card(
        body,
        [
            submit(texts.CONFIRM, "confirm", form, style="positive"),
            submit(texts.OTHER_SLOT, "back", form),
            submit(texts.ABANDON, "abandon", form),
        ],
    )


def confirmation(
    *, heading: str, when: datetime, how: str, where: str, reference: str, join_url: str | None, notes: Sequence[str]
) -> Card:
    body = [
        title(heading),
        facts([(texts.SUMMARY_WHEN, texts.day_and_hour(when)), (texts.SUMMARY_HOW, how), (texts.SUMMARY_WHERE, where)]),
        *(text(n) for n in notes),
        text(texts.CONFIRMED_REFERENCE.format(reference=reference), isSubtle=True),
        text(texts.HOW_TO_CANCEL, isSubtle=True),
    ]
    actions = [{"type": "Action.OpenUrl", "title": texts.TEAMS_LINK, "url": join_url}] if join_url else []
    actions.append(submit(texts.ACTION_MINE, "mine"))
    return card(body, actions)


def my_appointments(form: str, rows: Sequence[tuple[str, datetime, str, str, str]]) -> Card:
    """rows: (appointment id, start, how, where, status note)."""
    body: list[dict[str, Any]] = [title(texts.MINE_TITLE)]
    if not rows:
        body.append(text(texts.MINE_EMPTY))
        return card(body, [submit(texts.ACTION_BOOK, "book", style="positive")])
    for appointment_id, start, how, where, note in rows:
        body.append(
            {
                "type": "Container",
                "separator": True,
                "items": [
                    text(texts.day_and_hour(start), weight="Bolder"),
                    text(" · ".join(x for x in (how, where, note) if x), isSubtle=True),
                    {
                        "type": "ActionSet",
                        "actions": [
                            submit(texts.MOVE, "move", form, appointment=appointment_id),
                            submit(texts.CANCEL, "cancel", form, appointment=appointment_id, style="destructive"),
                        ],
                    },
                ],
            }
        )
    return card(body, [submit(texts.ACTION_BOOK, "book")])


def cancel_confirm(form: str, when: datetime) -> Card:
    return card(
        [title(texts.CANCEL_CONFIRM_TITLE), text(texts.day_and_hour(when))],
        [submit(texts.CANCEL_YES, "cancel_yes", form, style="destructive"), submit(texts.CANCEL_NO, "cancel_no", form)],
    )


def my_data(
    form: str,
    *,
    profile: Sequence[tuple[str, str]],
    appointments: Sequence[tuple[str, Sequence[tuple[str, str]]]],
    urgent: Sequence[tuple[str, Sequence[tuple[str, str]]]],
    notes: Sequence[str],
) -> Card:
    """What the service keeps about the agent; sections are (headline, facts)."""
    body: list[dict[str, Any]] = [
        title(texts.DATA_TITLE),
        text(texts.DATA_INTRO),
        text(texts.DATA_PROFILE, weight="Bolder", spacing="Medium"),
        facts(profile),
    ]
    for heading, rows in ((texts.DATA_APPOINTMENTS, appointments), (texts.DATA_URGENT, urgent)):
        body.append(text(heading, weight="Bolder", spacing="Medium"))
        if not rows:
            body.append(text(texts.DATA_NONE, isSubtle=True))
        for headline, details in rows:
            body.append({"type": "Container", "separator": True, "items": [text(headline), facts(details)]})
    body += [text(n, isSubtle=True, size="Small") for n in notes]
    return card(body, [submit(texts.ERASE_ACTION, "erase_ask", form, style="destructive")])


def erase_confirm(form: str | None, will: Sequence[str], kept: Sequence[str]) -> Card:
    """The erasure, with what goes and what stays and why; no form: nothing can go now."""
    body: list[dict[str, Any]] = [title(texts.ERASE_TITLE if form else texts.DATA_TITLE)]
    if will:
        body.append(text(texts.ERASE_WILL, weight="Bolder"))
        body += [text(f"• {line}") for line in will]
    else:
        body.append(text(texts.ERASE_NOTHING))
    if kept:
        body.append(text(texts.ERASE_KEPT, weight="Bolder", spacing="Medium"))
        body += [text(f"• {line}") for line in kept]
    if form is None:
        return card(body)
    body.append(text(texts.ERASE_AFTER, isSubtle=True))
    return card(
        body,
        [submit(texts.ERASE_YES, "erase_yes", form, style="destructive"), submit(texts.ERASE_NO, "erase_no", form)],
    )


def emergency_numbers() -> dict[str, Any]:
    """The red box with the emergency numbers: first on every urgent card, before and after sending."""
    numbers = [
        {"type": "Column", "width": "auto", "items": [text(number, weight="Bolder", size="Large")]}
        for number, _ in texts.EMERGENCY_NUMBERS
    ]
    return {
        "type": "Container",
        "style": "attention",
        "items": [
            text(texts.URGENT_DANGER, weight="Bolder"),
            {"type": "ColumnSet", "columns": numbers},
            text(" · ".join(f"{n} : {label}" for n, label in texts.EMERGENCY_NUMBERS), size="Small"),
        ],
    }


def danger_numbers() -> dict[str, Any]:
    """She said she is in danger now: 3114 and 15, large, before anything else said to her."""
    return {
        "type": "Container",
        "style": "attention",
        "items": [
            text(texts.URGENT_DANGER_FIRST, weight="Bolder", size="Medium"),
            *(
                {
                    "type": "ColumnSet",
                    "columns": [
                        {
                            "type": "Column",
                            "width": "auto",
                            "items": [text(number, weight="Bolder", size="ExtraLarge")],
                        },
                        {
                            "type": "Column",
                            "width": "stretch",
                            "verticalContentAlignment": "Center",
                            "items": [text(label)],
                        },
                    ],
                }
                for number, label in texts.DANGER_NUMBERS
            ),
        ],
    }


def urgent_notice(lines: Sequence[str], *, unasked: bool = False, danger: bool = False) -> Card:
    """What the agent is told about her urgent request, under the emergency numbers; `unasked`
    (a proactive message): the neutral preview as its fallback text, as on every proactive card;
    `danger` (she said she is in danger now): 3114 and 15 first, large."""
    first = [danger_numbers()] if danger else []
    result = card([title(texts.URGENT_TITLE), *first, emergency_numbers(), *(text(line) for line in lines)])
    if unasked:
        result["fallbackText"] = texts.PREVIEW
    return result


def urgent_form(form: str, *, phone: str = "") -> Card:
    return card(
        [
            title(texts.URGENT_TITLE),
            emergency_numbers(),
            text(texts.URGENT_INTRO),
            {
                "type": "Input.Toggle",
                "id": "danger",
                "title": texts.URGENT_DANGER_CHOICE,
                "value": "false",
                "valueOn": "true",
                "valueOff": "false",
            },
            text(texts.URGENT_DANGER_HINT, isSubtle=True, size="Small", spacing="None"),
            {
                "type": "Input.Text",
                "id": "description",
                "label": texts.URGENT_DESCRIPTION,
                "isMultiline": True,
                "maxLength": 2000,
            },
            {
                "type": "Input.Text",
                "id": "phone",
                "label": texts.URGENT_PHONE,
                "style": "Tel",
                "maxLength": 20,
                "isRequired": True,
                "errorMessage": texts.URGENT_PHONE_REQUIRED,
                "value": phone,
            },
            {"type": "Input.Text", "id": "availability", "label": texts.URGENT_AVAILABILITY, "maxLength": 200},
        ],
        [submit(texts.URGENT_SEND, "urgent_send", form, style="destructive")],
    )


def notice(heading: str, lines: Sequence[str], actions: Sequence[dict[str, Any]] = ()) -> Card:
    return card([title(heading), *(text(line) for line in lines)], actions)


def proactive(heading: str | None, lines: Sequence[str], actions: Sequence[dict[str, Any]] = ()) -> Card:
    """A message the bot sends unasked. What a Teams toast, the chat list or a locked phone shows
    is the activity's summary (set by the notifier) or the card's fallback text: both are the
    neutral preview. The card she opens starts with what it is about."""
    body: list[dict[str, Any]] = []
    if heading:
        body.append(title(heading))
    body += [text(line) for line in lines]
    result = card(body, actions)
    result["fallbackText"] = texts.PREVIEW
    return result


def agenda(
    period: str,
    rows: Sequence[tuple[datetime, str, Sequence[tuple[str, str]]]],
    *,
    weeks: tuple[date, date] | None = None,
) -> Card:
    """rows: (start, headline, facts); weeks: the Mondays of the previous and the next week."""
    body: list[dict[str, Any]] = [title(texts.AGENDA_TITLE.format(period=period))]
    if not rows:
        body.append(text(texts.AGENDA_EMPTY))
    for start, headline, details in rows:
        body.append(
            {
                "type": "Container",
                "separator": True,
                "items": [
                    text(f"{texts.day_and_hour(start, year=False)} · {headline}", weight="Bolder"),
                    facts(details),
                ],
            }
        )
    if weeks is None:
        return card(body)
    previous, following = weeks
    return card(
        body,
        [
            submit(texts.AGENDA_PREVIOUS_WEEK, "agenda_week", start=previous.isoformat()),
            submit(texts.AGENDA_NEXT_WEEK, "agenda_week", start=following.isoformat()),
        ],
    )


def decisions(
    heading: str,
    empty: str,
    form: str,
    rows: Sequence[tuple[str, str, Sequence[tuple[str, str]]]],
    buttons: Sequence[tuple[str, str, str | None]],
) -> Card:
    """rows: (id, headline, facts); buttons: (label, action, style)."""
    body: list[dict[str, Any]] = [title(heading)]
    if not rows:
        body.append(text(empty))
    for row_id, headline, details in rows:
        body.append(
            {
                "type": "Container",
                "separator": True,
                "items": [
                    text(headline, weight="Bolder"),
                    facts(details),
                    {
                        "type": "ActionSet",
                        "actions": [
                            submit(label, action, form, style=style, item=row_id) for label, action, style in buttons
                        ],
                    },
                ],
            }
        )
    return card(body)


def absence_form(form: str, replacements: Sequence[Worker], today: str) -> Card:
    body: list[dict[str, Any]] = [
        title(texts.ABSENCE_TITLE),
        {
            "type": "Input.Date",
            "id": "start",
            "placeholder": texts.DATE_PLACEHOLDER,
            "label": texts.ABSENCE_FROM,
            "isRequired": True,
            "min": today,
            "errorMessage": texts.ABSENCE_FROM_MISSING,
        },
        {
            "type": "Input.Date",
            "id": "end",
            "placeholder": texts.DATE_PLACEHOLDER,
            "label": texts.ABSENCE_TO,
            "isRequired": True,
            "min": today,
            "errorMessage": texts.ABSENCE_TO_MISSING,
        },
    ]
    if replacements:
        body.append(
            choice_set(
                "replacement",
                texts.ABSENCE_REPLACEMENT,
                [(w.id, w.name) for w in replacements],
                value=replacements[0].id,
            )
        )
    return card(body, [submit(texts.ABSENCE_SAVE, "absence_save", form, style="positive")])


def _day_and_hours(today: str, start: str, end: str) -> list[dict[str, Any]]:
    """A required day (from today on) and a start and end time."""
    return [
        {
            "type": "Input.Date",
            "id": "day",
            "placeholder": texts.DATE_PLACEHOLDER,
            "label": texts.BLOCK_DAY,
            "isRequired": True,
            "min": today,
            "errorMessage": texts.DATE_MISSING,
        },
        {
            "type": "Input.Time",
            "id": "start",
            "placeholder": texts.TIME_PLACEHOLDER,
            "label": texts.BLOCK_FROM,
            "isRequired": True,
            "value": start,
            "errorMessage": texts.TIME_MISSING,
        },
        {
            "type": "Input.Time",
            "id": "end",
            "placeholder": texts.TIME_PLACEHOLDER,
            "label": texts.BLOCK_TO,
            "isRequired": True,
            "value": end,
            "errorMessage": texts.TIME_MISSING,
        },
    ]


def block_form(form: str, today: str) -> Card:
    return card(
        [
            title(texts.BLOCK_TITLE),
            *_day_and_hours(today, "09:00", "12:00"),
        ],
        [submit(texts.BLOCK_SAVE, "block_save", form, style="positive")],
    )


def add_day_form(form: str, today: str) -> Card:
    return card(
        [
            title(texts.DAY_TITLE),
            *_day_and_hours(today, "09:00", "17:00")[:1],
            choice_set(
                "kind",
                texts.DAY_KIND_LABEL,
                list(texts.DAY_KIND_CHOICES.items()),
                value="extra",
                required=True,
            ),
            *_day_and_hours(today, "09:00", "17:00")[1:],
        ],
        [submit(texts.DAY_SAVE, "add_day_save", form, style="positive")],
    )
