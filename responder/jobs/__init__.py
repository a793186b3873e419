"""The scheduled jobs J1, J2 and J5-J10 on APScheduler (J3 and J4 are the
exporter's).
"""
