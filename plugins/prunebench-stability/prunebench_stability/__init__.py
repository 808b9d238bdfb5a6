"""Stability-based filter pruning: a filter that an auxiliary loss moves easily is unimportant."""
