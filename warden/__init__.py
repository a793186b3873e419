"""Warden: a supervisor for autonomous coding-agent fleets.

This package holds what every Warden component shares: the config file, the
command line and small file helpers. Components live beside it (`exporter`).
"""

__version__ = "0.1.0"
