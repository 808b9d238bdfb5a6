"""Reference criteria every new criterion should beat: random choice and filter norms."""
