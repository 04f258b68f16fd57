"""Pure domain logic (no I/O): state, downtime, OEE, SPC, ..."""
