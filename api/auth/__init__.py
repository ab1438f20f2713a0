"""Contributors and their bearer tokens."""
