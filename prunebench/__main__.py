"""`python -m prunebench` is the same as the `prunebench` console script."""

from prunebench.cli import main

raise SystemExit(main())
