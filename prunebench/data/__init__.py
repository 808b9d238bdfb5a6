"""Data sets of the matrix, read from local files in their published on-disk formats."""
