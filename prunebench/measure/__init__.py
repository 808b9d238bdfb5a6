"""Measurements of a model: compute (MACs), size and run-time memory."""
