"""Pre-labelling: the active model runs over photos that lack its prediction."""
