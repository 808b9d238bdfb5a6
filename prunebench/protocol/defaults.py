"""The defaults the command line shows in its help, importable without torch: the parser is
built, and bad arguments refused, before the heavy imports (issue 39: an error in under a
second)."""

from __future__ import annotations

from pathlib import Path

#: the row a run uses when none is named
DEFAULT_SCENARIO = "lenet5-digits"
#: where result files go when --results is not given
DEFAULT_RESULTS = Path("prunebench-results")
#: the formats `prunebench export` writes
FORMATS = ("onnx", "pt2", "torchscript")
#: the relative difference an exported model may show against the eager one
PARITY_TOLERANCE = 1e-4
