"""Deliberately wrong criteria must fail `tests/criteria` (issue 37): a test that a wrong formula
would still pass is not a test of that formula.

Each mutant is a one-line change to a first-party plugin; the script copies the plugin's
package to a temporary folder, applies the change there (never to the source tree), puts that
copy first on the import path, checks that the copy is what Python imports, and runs the
criteria tests, which must fail. Add a line to MUTANTS for every new criterion.

    python benchmarks/mutants.py          # exit 0 when every mutant is caught

An unchanged copy is run first: the tests must pass on it, so a failure is the mutant's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutant:
    name: str
    package: str  # the plugin's folder under plugins/, holding its import package
    module: str  # the file inside the import package
    right: str  # the line as it is, found exactly once
    wrong: str

    def package_dir(self) -> Path:
        folder = REPO / "plugins" / self.package
        return next(p for p in folder.iterdir() if (p / "__init__.py").exists())


CLASSIC = "prunebench-classic"
MUTANTS = (
    Mutant("chip on the maps before the ReLU", CLASSIC, "activations.py",
           "feature_statistics(ctx, channel_independence, after_activation=True)",
           "feature_statistics(ctx, channel_independence, after_activation=False)"),
    Mutant("cp keeps the last of its LASSO order", CLASSIC, "reconstruct.py",
           "sorted(self._order[group.name][:n_keep])",
           "sorted(self._order[group.name][-n_keep:])"),
    Mutant("cp without unit-norm consumer weights", CLASSIC, "reconstruct.py",
           "*channel_gram(rows, rows.weight.double() / norms[None, :, None]))",
           "*channel_gram(rows, rows.weight.double()))"),
    Mutant("group-lasso ranks by L1", CLASSIC, "sparsity.py",
           "return group.conv.weight.detach().double().flatten(1).norm(dim=1)",
           "return group.conv.weight.detach().double().flatten(1).abs().sum(1)"),
    Mutant("lamp not comparable across layers", CLASSIC, "saliency.py",
           "    scores_comparable_across_layers = True\n\n    def score(self, group: "
           "ChannelGroup) -> Tensor:\n        norms",
           "    scores_comparable_across_layers = False\n\n    def score(self, group: "
           "ChannelGroup) -> Tensor:\n        norms"),
    Mutant("sparsity phase rounds its epochs down", CLASSIC, "sparsity.py",
           "enough = math.ceil(MIN_ITERATIONS / phase.iterations_per_epoch)",
           "enough = math.floor(MIN_ITERATIONS / phase.iterations_per_epoch)"),
    Mutant("sparsity phase without its cap at 8 x the fine-tuning", CLASSIC, "sparsity.py",
           "min(enough, math.floor(MAX_SHARE * phase.finetune_epochs))", "enough"),
    Mutant("the L1 rule on the mean score, not the median", CLASSIC, "sparsity.py",
           "median = float(torch.cat(list(self._before.values())).median())",
           "median = float(torch.cat(list(self._before.values())).mean())"),
    Mutant("group-norm-sl's rule ignores the strongest push 2^alpha", CLASSIC, "sparsity.py",
           "return DECAY / (2 ** self.alpha * ctx.sparsity.step",
           "return DECAY / (1 * ctx.sparsity.step"),
    Mutant("growing-reg reaches its ceiling only at the phase's end", CLASSIC, "sparsity.py",
           "self.ceiling * self.interval / (RAMP * iterations)",
           "self.ceiling * self.interval / iterations"),
    Mutant("growing-reg penalises the removed filters' weights alone", CLASSIC, "sparsity.py",
           "params = [group.conv.weight, group.conv.bias]", "params = [group.conv.weight]"),
    Mutant("a resumed sparsity cell chooses its lambda again", CLASSIC, "sparsity.py",
           'self.lam, self.steps = state.get("lam", self.lam), list(state.get("steps", []))',
           "self.steps = []"),
)


def caught(mutant: Mutant, tests: str = "tests/criteria") -> bool:
    """Whether the criteria tests fail with the mutant in place."""
    source = mutant.package_dir()
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / source.name
        shutil.copytree(source, copy, ignore=shutil.ignore_patterns("__pycache__"))
        target = copy / mutant.module
        text = target.read_text()
        if text.count(mutant.right) != 1:
            raise SystemExit(f"{mutant.name}: the line to change is not found exactly once in "
                             f"{source / mutant.module}; update MUTANTS")
        target.write_text(text.replace(mutant.right, mutant.wrong))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([tmp, str(REPO)]),
               "PYTHONDONTWRITEBYTECODE": "1"}
        where = subprocess.run([sys.executable, "-c", f"import {source.name}; "
                                f"print({source.name}.__file__)"], env=env, cwd=REPO,
                               capture_output=True, text=True, check=True).stdout.strip()
        if not where.startswith(tmp):
            raise SystemExit(f"{mutant.name}: Python imported {where}, not the mutated copy")
        run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p",
                              "no:cacheprovider", tests], env=env, cwd=REPO,
                             capture_output=True, text=True)
        return run.returncode != 0


def main() -> int:
    control = MUTANTS[0]
    if caught(Mutant("control", control.package, control.module, control.right, control.right)):
        print("the criteria tests fail on an unchanged copy: fix them before reading mutants")
        return 2
    survivors = []
    for mutant in MUTANTS:
        ok = caught(mutant)
        print(f"{'caught  ' if ok else 'SURVIVED'} {mutant.name}", flush=True)
        if not ok:
            survivors.append(mutant.name)
    print(f"{len(MUTANTS) - len(survivors)} of {len(MUTANTS)} mutants caught")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
