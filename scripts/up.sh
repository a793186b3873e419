#!/usr/bin/env bash
# The README's stack command. Until the whole stack exists (Prometheus,
# Alertmanager and the responder come with later work) it runs the exporter
# against the demo project, using the shipped warden.yml.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e .
exec .venv/bin/warden exporter -c "${WARDEN_CONFIG:-warden.yml}" "$@"
