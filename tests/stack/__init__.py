"""Tests that start the whole stack, or its real Prometheus and Alertmanager:
`warden up`, a Prometheus pair, an Alertmanager cluster, the pipeline end to end."""
