"""The commands the README and the documentation site show (issue 41): every concrete one (no
placeholder such as `S`, `DIR` or `[--json]`) is a command line prunebench's own parser takes,
naming rows that exist; those that need no data or training run, and succeed. The plugin
walk-through runs verbatim in test_docs_board.py, the boards' regenerate line in test_publish.py."""

import re
import shlex
from pathlib import Path

import pytest

from prunebench import scenarios
from prunebench.cli import build_parser, main

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
PLACEHOLDER = re.compile(r"(^|\s)([A-Z][A-Z_.]*|\.\.\.|\[.*|.*\|.*|<.*>)(\s|$)")
#: rows that a third-party example distribution adds (docs/your-model.md), not installed here
EXAMPLE_ROWS = {"mobilenetv2-fashionmnist"}


def shown_commands() -> list[tuple[str, str]]:
    """(page, command) for every `prunebench ...` line of a code block and every inline one."""
    found = []
    for page in PAGES:
        text = page.read_text()
        for block in re.findall(r"```(?:bash|sh|console)?\n(.*?)```", text, re.S):
            for line in block.replace("\\\n", " ").splitlines():
                line = line.split("  #")[0].strip()
                for part in line.split("&&"):
                    part = part.strip()
                    if part.startswith("prunebench "):
                        found.append((page.name, part))
        inline = [" ".join(m.split()) for m in re.findall(r"`(prunebench [^`]+)`", text)]
        found += [(page.name, c) for c in inline if len(c.split()) > 2]  # not a bare name
    return found


def concrete(command: str) -> bool:
    return not PLACEHOLDER.search(command.removeprefix("prunebench "))


COMMANDS = sorted({(page, c) for page, c in shown_commands() if concrete(c)})


def test_the_docs_show_commands_of_every_kind():
    kinds = {shlex.split(c)[1] for _, c in COMMANDS}
    assert {"run", "list", "leaderboard", "flops", "speed", "verify", "tiny-data"} <= kinds
    assert len(COMMANDS) >= 15


@pytest.mark.parametrize("page,command", COMMANDS, ids=[f"{p}:{c[:60]}" for p, c in COMMANDS])
def test_every_shown_command_parses_and_names_real_rows(page, command):
    argv = ["x.json" if "*" in a else a for a in shlex.split(command)[1:]]  # the shell's glob
    if argv == ["--version"]:
        return  # argparse prints it and exits: run below
    args = build_parser().parse_args(argv)
    row = getattr(args, "scenario", None)
    if row and row not in EXAMPLE_ROWS:
        assert row in scenarios.registry(), f"{page}: {command} names no row {row}"


CHEAP = [(p, c) for p, c in COMMANDS if shlex.split(c)[1:2] in (["list"], ["--version"])
         or (shlex.split(c)[1] == "flops" and "mobilenetv2" not in c)]


@pytest.mark.parametrize("page,command", CHEAP, ids=[f"{p}:{c[:60]}" for p, c in CHEAP])
def test_the_commands_that_need_no_data_run(page, command, tmp_path, monkeypatch, capsys):
    argv = shlex.split(command)[1:]
    monkeypatch.chdir(tmp_path)
    try:
        code = main(argv)
    except SystemExit as done:  # --version exits as argparse does
        code = done.code
    assert code == 0, f"{page}: {command}\n{capsys.readouterr().err[-2000:]}"
