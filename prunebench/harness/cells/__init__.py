"""Kinds of cell: pruning (pruning.py), scratch reference (scratch.py), transfer (transfer.py)."""
