"""Everything that crosses the network above the line (uplink, aggregator)."""
