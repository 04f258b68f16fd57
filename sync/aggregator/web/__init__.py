"""The plant view in a browser, served by the aggregator (``lineside aggregator web``).

``config`` (the ``web:`` section) and ``auth`` (users, roles, sessions, CSRF) import no
web framework; ``app`` builds the Starlette application (the ``web`` extra). Handlers
read through ``sync.aggregator.plantview`` and act through the aggregator's use cases
(orders, scheduling): no SQL here."""
