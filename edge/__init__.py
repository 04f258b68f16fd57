"""Lineside edge agent: drivers, store, line logic and the `lineside` CLI."""
