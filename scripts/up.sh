#!/usr/bin/env bash
# The README's stack command: runs all of Warden (exporter, responder,
# Prometheus, Alertmanager) on the demo project with the shipped warden.yml.
# Installs what is missing first: Prometheus and Alertmanager from Debian's
# packages, Warden into .venv. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/debian-packages.sh prometheus:prometheus \
    prometheus-alertmanager:prometheus-alertmanager

python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e .
# As root, the demo's agents run as nobody: from a folder nobody cannot enter, the
# demo runs from a workspace it can (warden/demo.py says where, and how to break it).
config="${WARDEN_CONFIG:-$(.venv/bin/python -m warden.demo warden.yml)}"
exec .venv/bin/warden up -c "$config" "$@"
