"""Pure materials logic: lots read from tags (genealogy)."""
