"""The operator terminal: a Textual app (``app``) with one pane per screen (``panes``)
and its forms (``forms``); it reads and writes only through ``edge.services``."""
