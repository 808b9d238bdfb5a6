"""Criteria as plugins: discovery, loading, and the helpers criteria call."""
