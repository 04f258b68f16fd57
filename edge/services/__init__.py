"""The edge's use cases, the one API of the terminal, the CLI, the agent's inboxes, the
uplink's commands and any web view: each validates, writes through the store's
repositories and audits, in one transaction.

``context`` (LineContext, built once per line), ``identity`` (the Actor who performs an
action and ``authorize``: the one authorization layer), ``session`` (authentication,
lockout, signatures, credential files), ``production`` (downtime, orders, counts, KPIs),
``quality`` (SPC alarms, acknowledgements, requested and approved limits, measurements),
``inspections``, ``trace`` (genealogy), ``maintenance``, ``commands`` (from the plant, as
the plant actor), ``writes`` (people's writes to PLC tags), ``gateway`` (the agent's
operator channel: catalogue, wire format, client), ``status``, ``audit``, ``data``
(history, stream counts), ``view`` (the terminal's snapshot), ``spc_offline`` (SPC on
CSV files)."""
