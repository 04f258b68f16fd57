"""Finite-capacity scheduling at the plant: the pure model (``model``), working-time
axes (``axis``), problem preparation (``prepare``), the CP-SAT solver (``solver``,
``explain``), flexible job-shop files (``fjsp``), the plan store (``store``) and the
use cases (``service``). Only ``solver`` and ``explain`` load OR-Tools, when called."""
