"""Warden: a supervisor for autonomous coding-agent fleets.

This package holds what every Warden component shares: the config file,
auth, serving, processes and small file helpers. It imports no service; the
command line (`shell`) sits above the services (`exporter`, `responder`).
"""

__version__ = "0.1.0"
