"""Source of criteria that test plugins install: well-behaved ones with known answers, and every
kind of misbehaviour the harness must contain."""

GOOD = '''
import torch
from prunebench.criterion import Criterion, ScoreCriterion

SEEN = []  # (criterion, labels of every calibration batch) as the harness handed them out
TRAINING_MODE = []  # model.training as each prepare() saw it


class KeepLast(ScoreCriterion):
    """Keeps the highest-numbered filters."""
    needs = ("activations",)

    def prepare(self, ctx):
        TRAINING_MODE.append(ctx.model.training)
        SEEN.append(("keep-last", [b[1].tolist() for b in ctx.batches()]))

    def score(self, group):
        return torch.arange(group.n_filters, dtype=torch.float32)


class L1Copy(ScoreCriterion):
    """The l1 rule under another name: must give l1's numbers exactly."""

    def prepare(self, ctx):
        SEEN.append(("l1-copy", [b[1].tolist() for b in ctx.batches()]))

    def score(self, group):
        return group.conv.weight.detach().abs().flatten(1).sum(1)


class Penalised(KeepLast):
    """Asks for half a sparsity epoch with a finite penalty."""
    sparsity_epochs = 0.5
    calls = 0

    def penalty(self, ctx):
        type(self).calls += 1
        return 1e-5 * sum(g.conv.weight.abs().sum() for g in ctx.groups)
'''

FAULTY = '''
import torch
from prunebench.criterion import Criterion, ScoreCriterion


class NaNScores(ScoreCriterion):
    def score(self, group):
        scores = torch.ones(group.n_filters)
        scores[1] = float("nan")
        return scores


class Duplicates(Criterion):
    def select(self, group, n_keep):
        return torch.zeros(n_keep, dtype=torch.long)


class OutOfRange(Criterion):
    def select(self, group, n_keep):
        return torch.arange(n_keep) + group.n_filters


class TooFew(Criterion):
    def select(self, group, n_keep):
        return torch.arange(n_keep - 1)


class Raises(Criterion):
    def select(self, group, n_keep):
        raise ZeroDivisionError("boom")


class BadPenalty(ScoreCriterion):
    sparsity_epochs = 0.1

    def penalty(self, ctx):
        return torch.tensor(float("nan"))

    def score(self, group):
        return torch.ones(group.n_filters)


class NotACriterion:
    pass


class Abstract(Criterion):
    pass


class NeedsArguments(Criterion):
    def __init__(self, threshold):
        self.threshold = threshold

    def select(self, group, n_keep):
        return torch.arange(n_keep)


class WrongSelect(Criterion):
    def select(self, group):
        return torch.arange(1)


class UnknownNeed(Criterion):
    needs = ("telepathy",)

    def select(self, group, n_keep):
        return torch.arange(n_keep)
'''

FAULTY_ENTRIES = {
    "nan-scores": "faulty_criteria:NaNScores",
    "duplicates": "faulty_criteria:Duplicates",
    "out-of-range": "faulty_criteria:OutOfRange",
    "too-few": "faulty_criteria:TooFew",
    "raises": "faulty_criteria:Raises",
    "bad-penalty": "faulty_criteria:BadPenalty",
    "broken-import": "no_such_module_anywhere:Thing",
}
