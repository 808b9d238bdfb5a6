"""The remaining time of a matrix, for the progress view.

Training epochs are the unit of work: a cell's count is known before it runs (its pruning steps'
fine-tuning and sparsity epochs; scratch's whole schedule), so the time left is the seconds spent
per epoch so far times the epochs still planned. Work that turns out not to be needed (a cached
baseline, a cell finished before, a cell that failed early) leaves the plan when that is known.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class MatrixClock:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.total = self.done = self.left_in_phase = 0.0
        self.started = clock()

    def start(self, total_epochs: float) -> None:
        self.total, self.done, self.left_in_phase = float(total_epochs), 0.0, 0.0
        self.started = self.clock()

    def phase(self, epochs: float) -> None:
        """A new phase of `epochs`; what the last one left undone was not needed."""
        self.drop(self.left_in_phase)
        self.left_in_phase = float(epochs)

    def advance(self, epochs: float = 1.0) -> None:
        self.done += epochs
        self.left_in_phase = max(0.0, self.left_in_phase - epochs)

    def drop(self, epochs: float) -> None:
        self.total = max(self.done, self.total - epochs)

    def seconds_left(self) -> float | None:
        """None until an epoch has been timed."""
        if self.done <= 0:
            return None
        return (self.clock() - self.started) / self.done * max(0.0, self.total - self.done)

    def text(self) -> str:
        left = self.seconds_left()
        if left is None:
            return "matrix: time left after the first epoch"
        minutes, seconds = divmod(round(left), 60)
        hours, minutes = divmod(minutes, 60)
        return f"matrix: ~{hours}:{minutes:02d}:{seconds:02d} left"
