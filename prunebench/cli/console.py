"""The consoles every command prints to, and the exit codes."""

from __future__ import annotations

import os

from rich.console import Console

EXIT_FAILED_CELLS, EXIT_BAD_INPUT = 1, 2
PIPE_WIDTH = 160  # rich assumes 80 columns when not on a terminal and folds names apart


def _console(stderr: bool = False) -> Console:
    probe = Console(stderr=stderr)
    if probe.is_terminal or "COLUMNS" in os.environ:
        return probe
    return Console(stderr=stderr, width=PIPE_WIDTH)


console = _console()
errors = _console(stderr=True)
