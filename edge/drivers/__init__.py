"""PLC drivers behind one ``Driver`` protocol, created lazily by protocol name.

A line that only speaks Modbus never imports asyncua or pycomm3.
"""

from edge.drivers.base import Driver, Reading, create_driver

__all__ = ["Driver", "Reading", "create_driver"]
