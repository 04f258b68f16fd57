"""The operator terminal's screens, one module per pane. Each pane displays a
``LineView`` and owns its keys and actions (``BINDINGS``, active while it has the focus)."""

from edge.tui.panes.base import Clock, Pane
from edge.tui.panes.downtime import DowntimePane
from edge.tui.panes.inspections import InspectionsPane
from edge.tui.panes.maintenance import MaintenancePane
from edge.tui.panes.materials import MaterialsPane
from edge.tui.panes.overview import OverviewPane
from edge.tui.panes.production import ProductionPane
from edge.tui.panes.shift import ShiftPane
from edge.tui.panes.spc import SpcPane

__all__ = [
    "Clock",
    "DowntimePane",
    "InspectionsPane",
    "MaintenancePane",
    "MaterialsPane",
    "OverviewPane",
    "Pane",
    "ProductionPane",
    "ShiftPane",
    "SpcPane",
]
