"""Every card the bot sends is a valid Adaptive Card 1.5 for the official `adaptivecards` library."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from booking.model import DayKind, Slot
from bot import texts
from bot.teams import cards
from tests.bot.conftest import sample_deployment, walk

ROOT = Path(__file__).resolve().parents[2]
VALIDATOR = ROOT / "tests" / "tools" / "validate_cards.js"
WARNINGS_ALLOWED = {0}  # hints


def all_cards() -> dict[str, dict[str, Any]]:
    deployment = sample_deployment()
    directory = deployment.directory
    start = datetime(2027, 3, 4, 8, tzinfo=UTC)
    slots = [
        Slot(
            start=start + timedelta(hours=h),
            end=start + timedelta(hours=h, minutes=45),
            worker_id="ass",
            kind=DayKind.PERMANENCE,
            site_id="chasseneuil",
        )
        for h in (0, 1, 2, 4.5, 5.5, 6.5)  # a Thursday: three slots each side of lunch
    ]
    worker = directory.worker("ass")
    return {
        "welcome": cards.welcome(is_worker=False),
        "welcome_worker": cards.welcome(is_worker=True),
        "site_picker": cards.site_picker("f", directory.sites, "vanves"),
        "booking_form": cards.booking_form(
            "f",
            directory.site("vanves"),
            directory.topics,
            ["teams", "phone", "other_site", "home_visit"],
            phone="0612345678",
        ),
        "slots": cards.slots("f", [("Jeudi 4 mars", slots)], notice=["Absente"], more=True),
        "slots_long_day": cards.slots(
            "f",
            [
                (
                    "Jeudi",
                    [
                        Slot(
                            start=start + timedelta(minutes=30 * i),
                            end=start + timedelta(minutes=30 * i + 25),
                            worker_id="ass",
                            kind=DayKind.EXTRA,
                            site_id="chasseneuil",
                        )
                        for i in range(14)
                    ],
                )
            ],
            more=False,
        ),
        "slots_empty": cards.slots("f", [], more=False),
        "summary": cards.summary("f", when=start, how="En visio Teams", where="", topic="Logement", worker=worker),
        "summary_invitation": cards.summary(
            "f", when=start, how="En visio Teams", where="", topic="", worker=worker, invitation=True
        ),
        "confirmation": cards.confirmation(
            heading=texts.CONFIRMED_TITLE,
            when=start,
            how="Teams",
            where="",
            reference="RDV-ABCDEF",
            join_url="https://teams.microsoft.com/l/x",
            notes=["note"],
        ),
        "mine": cards.my_appointments("f", [("id-1", start, "Teams", "", ""), ("id-2", start, "Tél.", "", "")]),
        "mine_empty": cards.my_appointments("f", []),
        "cancel": cards.cancel_confirm("f", start),
        "urgent": cards.urgent_form("f", phone="0612345678"),
        "urgent_notice": cards.urgent_notice(
            [texts.URGENT_REACHED.format(reference="URG-ABCDEF", deadline="lundi 1er mars 2027 à 13 h")]
        ),
        "urgent_notice_unasked": cards.urgent_notice(
            [texts.URGENT_REACHED.format(reference="URG-ABCDEF", deadline="lundi 1er mars 2027 à 13 h")], unasked=True
        ),
        "notice": cards.notice("Titre", ["ligne"], [cards.submit("Ok", "help")]),
        "proactive": cards.proactive("Titre", ["ligne"], [cards.submit("Ok", "help")]),
        "proactive_plain": cards.proactive(None, ["ligne"]),
        "my_data": cards.my_data(
            "f",
            profile=[(texts.DATA_NAME, "Camille"), (texts.DATA_PHONE, "")],
            appointments=[("jeudi 4 mars 2027 à 9 h · En visio Teams", [(texts.DATA_STATUS, "confirmé")])],
            urgent=[],
            notes=[texts.DATA_COUNTS],
        ),
        "erase_confirm": cards.erase_confirm("f", [texts.ERASE_PROFILE], [texts.ERASE_KEPT_AUDIT]),
        "erase_nothing": cards.erase_confirm(None, [], [texts.erase_kept_open(1)]),
        "agenda": cards.agenda("jeudi", [(start, "Camille", [("Sujet", "Budget")])]),
        "decisions": cards.decisions(
            "Demandes",
            "Aucune",
            "f",
            [("id-1", "jeudi", [("Agent", "Camille")])],
            [(texts.ACCEPT, "accept", "positive"), (texts.DECLINE, "decline", None)],
        ),
        "absence": cards.absence_form("f", directory.replacement_chain("ass"), "2027-03-01"),
        "block": cards.block_form("f", "2027-03-01"),
        "add_day": cards.add_day_form("f", "2027-03-01"),
    }


@pytest.fixture(scope="module")
def reports() -> dict[str, dict[str, Any]]:
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "adaptivecards").exists():
        if os.environ.get("CI"):
            pytest.fail("node and the adaptivecards package are required in CI (npm ci)")
        pytest.skip("node or node_modules/adaptivecards missing: run scripts/test")
    built = all_cards()
    result = subprocess.run(
        [node, str(VALIDATOR)],
        input=json.dumps(list(built.values())),
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return dict(zip(built, json.loads(result.stdout), strict=True))


@pytest.mark.parametrize("name", list(all_cards()))
def test_card_is_valid_adaptive_card_1_5(reports, name):
    report = reports[name]
    assert report["version"] == "1.5"
    problems = [e for e in report["events"] + report["issues"] if e["event"] not in WARNINGS_ALLOWED]
    assert problems == []


def test_the_validator_does_catch_mistakes():
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "adaptivecards").exists():
        pytest.skip("node or node_modules/adaptivecards missing")
    broken = cards.card([{"type": "Bogus"}, {"type": "Input.Text", "id": "a"}, {"type": "Input.Text", "id": "a"}])
    result = subprocess.run(
        [node, str(VALIDATOR)], input=json.dumps([broken]), capture_output=True, text=True, check=True, cwd=ROOT
    )
    (report,) = json.loads(result.stdout)
    assert {e["event"] for e in report["events"] + report["issues"]} == {11, 13}  # unknown type, duplicate id


def test_a_day_is_split_at_lunch():
    card = all_cards()["slots"]
    rows = [[a["title"] for a in n["actions"]] for n in walk(card) if n.get("type") == "ActionSet"]
    assert rows == [["9 h", "10 h", "11 h"], ["13 h 30", "14 h 30", "15 h 30"]]


def test_submits_carry_only_an_action_and_ids():
    allowed = {"action", "form", "slot", "appointment", "item", "period"}
    # (proactive cards carry form-less actions only: they open a view, they change nothing)
    for card in all_cards().values():
        for node in walk(card):
            if node.get("type") == "Action.Submit":
                assert set(node["data"]) <= allowed, node["data"]
