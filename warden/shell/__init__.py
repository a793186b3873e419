"""The `warden` command: the shell above the services.

It parses the command line, starts the exporter and the responder, runs the
stack (`up`) and draws the terminal views. Nothing else imports it; the shared
core beside it (`warden.*`) imports no service.
"""
