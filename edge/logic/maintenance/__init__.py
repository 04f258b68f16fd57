"""Maintenance logic (pure): meters (run hours, cycles), condition watches (a threshold
held for a duration, a linear trend projected to a limit), preventive and
condition-based plans and when they come due, work-order lifecycle, spare-parts stock
and reliability figures (MTBF, MTTR, MTTA, availability).

The same objects run live in the agent, in ``lineside replay`` and in tests; every call
carries its timestamp and nothing here reads a clock or a store.
"""
