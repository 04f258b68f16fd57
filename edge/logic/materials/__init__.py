"""Pure materials logic: lots read from tags, backflush quantities, first in first out
across staged lots, shortage projection, lot checks at move-in, and hold propagation
through genealogy."""
