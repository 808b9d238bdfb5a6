"""Errors a user can act on; the CLI prints them as one line and exits non-zero."""


class PrunebenchError(Exception):
    """Bad input or a missing resource: the message says what is wrong and what to do."""


class CriterionError(PrunebenchError):
    """A criterion raised or answered nonsense; only the cells of that criterion fail."""

    def __init__(self, criterion: str, message: str) -> None:
        super().__init__(f"criterion '{criterion}': {message}")
        self.criterion, self.message = criterion, message

    def __reduce__(self):  # picklable, so rank 0 can hand it to the other ranks under torchrun
        return type(self), (self.criterion, self.message)
