"""What an entry-point group provides, shared by the criteria and the scenarios (rows)."""
