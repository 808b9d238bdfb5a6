"""A scenario plugin that ends the process when imported: it must not take the others down."""

import sys

sys.exit(3)
