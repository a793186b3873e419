"""Warden's exporter: project, host and agent health as Prometheus metrics.

Collectors run in the background on their own schedules (`scheduler`); a
scrape of `/metrics` only reads their latest results (`metrics`).
"""
