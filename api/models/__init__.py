"""Models that have labelled photos: what the service keeps of each."""
