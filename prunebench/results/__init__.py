"""Result records: their fields, their files, and the environment."""
