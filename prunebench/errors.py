"""Errors a user can act on; the CLI prints them as one line and exits non-zero."""

import difflib
from collections.abc import Iterable


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """` (did you mean 'l1'?)` for the closest known name to a mistyped one; "" if none is
    close."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


class PrunebenchError(Exception):
    """Bad input or a missing resource: the message says what is wrong and what to do."""


class CriterionError(PrunebenchError):
    """A criterion raised or answered nonsense; only the cells of that criterion fail."""

    def __init__(self, criterion: str, message: str) -> None:
        super().__init__(f"criterion '{criterion}': {message}")
        self.criterion, self.message = criterion, message

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        # picklable, so rank 0 can hand it to the other ranks under torchrun
        return type(self), (self.criterion, self.message)


class TrainingDiverged(PrunebenchError):
    """The weights became NaN or infinite while training: nothing after it could be measured."""
