"""Pruned models as files and their deployable, parity-checked exports."""
