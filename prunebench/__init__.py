"""prunebench: compare structured filter-pruning criteria on equal terms."""

__version__ = "0.1.0"
