"""The harness: what a run computes and how each cell is computed."""
