"""The run's progress view: a bar for the matrix's cells with its remaining time, one for the
epochs of the current phase, and a line per finished cell (shared by `run`, its `--jobs` parent
and the measurements)."""

from __future__ import annotations

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from prunebench.cli.console import console
from prunebench.cli.eta import MatrixClock
from prunebench.harness.cells.base import Cell
from prunebench.results.record import Record


class RichReporter:
    """Progress bars: one for the matrix's cells, with its remaining time, one for the epochs of
    the current phase. As a job of `--jobs`, lines only (the parent draws the bars)."""

    def __init__(self, progress: Progress, show_skips: bool = True) -> None:
        self.progress, self.show_skips = progress, show_skips
        self.clock = MatrixClock()
        self.cells = progress.add_task("cells", total=None, left="")
        self.current = progress.add_task("", total=None, left="")

    def start(self, total_cells: int, total_epochs: float) -> None:
        self.clock.start(total_epochs)
        self.progress.update(self.cells, total=total_cells, description="matrix",
                             left=self.clock.text())

    def phase(self, label: str, epochs: float) -> None:
        self.clock.phase(epochs)
        self.progress.reset(self.current, total=max(epochs, 1), description=label)

    def epoch(self) -> None:
        self.clock.advance()
        self.progress.advance(self.current)
        self.progress.update(self.cells, left=self.clock.text())

    def cell_skipped(self, cell: Cell, why: str) -> None:
        self.clock.drop(cell.epochs())
        self.progress.advance(self.cells)
        if self.show_skips:  # a job of --jobs skips what the others took: not news
            self.progress.console.print(f"[dim]↷ {escape(cell.config.label)}, seed "
                                        f"{cell.config.seed}: skipped, {escape(why)}")

    def cell_done(self, record: Record) -> None:
        self.progress.advance(self.cells)
        self.progress.console.print(cell_line(record))


def cell_line(record: Record) -> str:
    """What a finished cell prints: its headline metric and size, or why it has none."""
    where = f"{record.label}, seed {record.seed}, {record.target}"
    if record.status == "not-applicable":
        return f"[yellow]– {escape(where)}: {escape(str(record.error))}"
    if record.measured is None:
        return f"[red]✗ {escape(where)}: {escape(str(record.error))}"
    h, pruned = record.headline, record.measured.pruned
    before = pruned.metrics.get(h + "_before_finetune")
    before_text = f" (before fine-tune {before:.2f})" if before is not None else ""
    return (f"[green]✓[/] {escape(where)}: {h} {pruned.metrics[h]:.2f}{before_text}, "
            f"MACs {pruned.macs:,}, params {pruned.params:,}")


def progress_bars(disable: bool = False) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("{task.fields[left]}"), console=console,
                    disable=disable)
