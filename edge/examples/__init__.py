"""The example configs shipped inside the package, so ``lineside demo`` works wherever
Lineside is installed: the example line (``line1.yaml``), the plant aggregator
(``aggregator.yaml``) and the mosquitto configs (``mosquitto/demo.conf`` for the demo,
``mosquitto/mosquitto.conf`` and ``mosquitto/acl`` for a plant broker).

The repository's ``config/`` folder is the one source: the files here are symbolic links
to it, and building a wheel copies their contents (``tests/edge/test_examples.py``
checks both).
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable

#: Files shipped here, by their path inside ``config/``.
NAMES: tuple[str, ...] = (
    "line1.yaml",
    "aggregator.yaml",
    "mosquitto/demo.conf",
    "mosquitto/mosquitto.conf",
    "mosquitto/acl",
)


def example(name: str) -> Traversable:
    """One shipped example config by its path inside ``config/`` (``mosquitto/demo.conf``)."""
    if name not in NAMES:
        raise KeyError(f"no example config {name!r} (shipped: {', '.join(NAMES)})")
    node = files(__name__)
    for part in name.split("/"):
        node = node / part
    return node
