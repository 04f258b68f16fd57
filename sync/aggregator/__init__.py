"""The central side: ingest from the broker, plant-level storage, acks and commands down."""
