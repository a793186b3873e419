"""The responder as a running service: the worker thread that owns its state,
the HTTP routes (webhook, metrics, status) and the state file.
"""
