"""The protocol's settings: budgets, targets, schedules, defaults."""
