"""Keep one representative filter per cluster of similar filters."""
