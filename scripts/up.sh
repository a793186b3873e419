#!/usr/bin/env bash
# The README's stack command: runs all of Warden (exporter, responder,
# Prometheus, Alertmanager) on the demo project with the shipped warden.yml.
# Installs what is missing first: Prometheus and Alertmanager from Debian's
# packages, Warden into .venv. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || command -v alertmanager >/dev/null 2>&1 \
    || need+=(prometheus-alertmanager)
if ((${#need[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing from Debian: ${need[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        "${need[@]}" >/dev/null
fi

python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e .
exec .venv/bin/warden up -c "${WARDEN_CONFIG:-warden.yml}" "$@"
