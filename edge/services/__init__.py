"""The edge's use cases, the one API of the terminal, the CLI, the agent's inboxes, the
uplink's commands and any web view: each validates, writes through the store's
repositories and audits, in one transaction.

``context`` (LineContext, built once per line), ``production`` (downtime, orders, counts,
KPIs), ``quality`` (SPC alarms, acknowledgements, limits, measurements), ``inspections``,
``trace`` (genealogy), ``maintenance``, ``commands`` (from the plant), ``status``,
``session`` (login, lockout, roles), ``audit``, ``data`` (history, stream counts), ``view``
(the terminal's snapshot), ``spc_offline`` (SPC on CSV files)."""
