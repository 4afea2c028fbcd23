"""What an operator met using the command line for the first time (issue 26): run as she runs it,
in a process of its own where the way it is started matters, else through `bot.cli.main`."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from bot.cli import main
from bot.settings import Settings
from tests.dates import pinned_environment

ROOT = Path(__file__).resolve().parents[2]


def environment(tmp_path: Path, now: datetime) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERMANENCE_")}
    return {**env, "PERMANENCE_DATA_DIR": str(tmp_path / "var"), **pinned_environment(now)}


# -- 12. A reader that leaves early is no error ---------------------------------------------------


def test_piping_to_a_reader_that_leaves_early_prints_no_traceback(tmp_path: Path, pinned_now: datetime):
    for command in (["plan", "show"], ["outbox", "list"], ["--help"]):
        read, write = os.pipe()
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", *command],
            stdout=write,
            stderr=subprocess.PIPE,
            env=environment(tmp_path, pinned_now),
            cwd=tmp_path,
        )
        os.close(write)
        os.close(read)  # like `| head -0`: gone before anything is written
        _, stderr = process.communicate(timeout=120)
        assert b"Traceback" not in stderr and b"BrokenPipeError" not in stderr, stderr.decode()
        assert process.returncode == 0, (command, stderr.decode())


# -- 9. The README's commands can be run as written ---------------------------------------------


def test_the_command_line_is_reachable_as_the_readme_says(tmp_path: Path, pinned_now: datetime):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Command line", 1)[1].split("\n## ", 1)[0]
    block = section.split("```\n", 2)[1]
    commands = [line for line in block.splitlines() if line.strip()]
    assert commands and all(line.startswith("scripts/permanence ") for line in commands), commands
    assert ".venv/bin/permanence" in section and ". .venv/bin/activate" in section
    env = environment(tmp_path, pinned_now)
    del env["PERMANENCE_DATA_DIR"]  # as she runs it: the checkout's ./var, from anywhere
    ran = subprocess.run(
        [ROOT / "scripts" / "permanence", "plan", "show"], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() and not (tmp_path / "var").exists()


# -- 11. Labels where the chat shows labels; the report's rows in the chat's order ---------------


def test_agent_export_names_sites_and_topics_as_the_chat_does(tmp_path, monkeypatch, capsys, pinned_service):
    from tests.bot.test_rights_cli import OID, seed

    monkeypatch.setenv("PERMANENCE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("PERMANENCE_KEY_FILE", str(tmp_path / "config" / "keys.json"))
    settings = Settings(_env_file=None)
    asyncio.run(seed(settings, pinned_service))
    directory = settings.load_deployment().directory
    site, topic = directory.site("lyon").name, directory.topic("budget").label
    assert main(["agent", "export", "--entra-id", OID]) == 0
    shown = capsys.readouterr().out
    assert f"site : {site} ; sujet : {topic}" in shown
    assert not re.search(r"\b(lyon|budget)\b", shown)
    assert main(["agent", "export", "--entra-id", OID, "--json"]) == 0
    (first, *_) = json.loads(capsys.readouterr().out)["appointments"]
    assert (first["site"], first["site_name"], first["topic"], first["topic_label"]) == ("lyon", site, "budget", topic)


def test_the_report_lists_rows_in_the_order_the_chat_shows_them(tmp_path, monkeypatch, capsys):
    from tests.bot.test_report import seed

    for name, value in pinned_environment(datetime(2028, 1, 10, 9, tzinfo=UTC)).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PERMANENCE_KEY_FILE", str(tmp_path / "config" / "keys.json"))
    monkeypatch.setenv("PERMANENCE_DATA_DIR", str(tmp_path))
    settings = Settings(_env_file=None, data_dir=tmp_path)
    asyncio.run(seed(settings))
    assert main(["report", "--year", "2027"]) == 0
    lines = capsys.readouterr().out.splitlines()
    directory = settings.load_deployment().directory

    def rows(heading: str) -> list[str]:
        start = lines.index(heading) + 1
        end = next(i for i in range(start, len(lines)) if not lines[i].startswith("  "))
        return [line[2:].rsplit(maxsplit=1)[0].strip() for line in lines[start:end]]

    assert rows("Par site :") == [s.name for s in directory.sites]
    topics = [t.label for t in directory.topics if t.id != "non_precise"]
    assert rows("Par sujet :") == [*topics, "Non précisé"]  # her « I'd rather not say » counted as unstated


# -- 16. Log lines that say what they mean -------------------------------------------------------


def test_log_lines_name_what_they_are_about_and_leave_no_placeholder(capfd):
    import logging

    from bot import logs

    logs.configure("DEBUG")
    try:
        # A library's format string: its arguments are left out, its placeholders say so.
        logging.getLogger("msrest.serialization").warning(
            "%s is not a known attribute of class %s and will be ignored", "secretField", "Activity"
        )
        (line,) = [json.loads(x) for x in capfd.readouterr().err.splitlines()]
        assert line["message"] == "… is not a known attribute of class … and will be ignored"
        assert "secretField" not in json.dumps(line)
    finally:
        logging.getLogger().handlers.clear()


def test_the_startup_lines_name_the_port_and_each_worker(tmp_path, pinned_now, capfd):
    env = {**environment(tmp_path, pinned_now), "PERMANENCE_PORT": "39781", "PERMANENCE_LOG_LEVEL": "INFO"}
    server = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve"],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        env=env,
    )
    lines: list[dict[str, object]] = []
    try:
        assert server.stderr is not None
        for raw in server.stderr:
            lines.append(json.loads(raw))
            if sum(1 for line in lines if line.get("event") == "people.reachability") >= 2:
                break
    finally:
        server.terminate()
        server.wait(timeout=60)
    messages = [str(line["message"]) for line in lines]
    listening = next(m for m in messages if "listening" in m)
    assert "port 39781" in listening and "…:" not in listening and " :" not in listening
    reach = [line for line in lines if line.get("event") == "people.reachability"]
    assert sorted(str(line["worker"]) for line in reach) == ["ass", "remplacante"]
    assert {str(line["message"]) for line in reach} == {
        "worker reachability of ass: no_identity",
        "worker reachability of remplacante: no_identity",
    }


# -- 10 and 15. One language, and help for every option ------------------------------------------

ENGLISH = re.compile(r"(?<!-)\b(the|default|machine-readable|every|only|of|and|with|to|from)\b")


def test_every_command_and_option_has_its_help_in_french(capsys):
    import argparse

    from bot.cli import build_parser

    helps: list[tuple[str, str]] = []

    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        if parser.description:
            helps.append((path, parser.description))
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    helps.append((f"{path} {choice.dest}", choice.help or ""))
                for name, sub in action.choices.items():
                    walk(sub, f"{path} {name}")
            else:
                helps.append((f"{path} {'/'.join(action.option_strings) or action.dest}", action.help or ""))

    walk(build_parser(), "permanence")
    assert len(helps) > 80
    assert [where for where, said in helps if not said.strip()] == []
    assert [(where, said) for where, said in helps if ENGLISH.search(said)] == []
    for option in ("--year", "--days", "--output", "--threshold"):
        assert any(where.endswith(option) for where, _ in helps)
    try:
        main(["--help"])
    except SystemExit as done:
        assert done.code == 0
    shown = capsys.readouterr().out
    assert shown.startswith("utilisation : permanence") and "affiche cette aide" in shown
    assert (
        main_error(["plan", "show", "--yaer", "2027"], capsys)
        == "permanence : erreur : arguments non reconnus : --yaer 2027"
    )
    refused = main_error(["absences", "declare", "--worker", "ass", "--from", "demain", "--to", "2027-01-01"], capsys)
    assert refused == "permanence absences declare : erreur : --from : date invalide (AAAA-MM-JJ attendu) : 'demain'"


def main_error(argv: list[str], capsys) -> str:  # type: ignore[no-untyped-def]
    try:
        main(argv)
    except SystemExit as done:
        assert done.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]
