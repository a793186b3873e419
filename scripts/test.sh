#!/usr/bin/env bash
# The README's test command: installs what the tests need, then runs every
# check CI runs (ruff, mypy, pytest). Safe to run again; it only installs
# what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Prometheus' promtool and Alertmanager's amtool come from Debian's packages.
need=()
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v amtool >/dev/null 2>&1 || need+=(prometheus-alertmanager)
command -v git >/dev/null 2>&1 || need+=(git)
if ((${#need[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing from Debian: ${need[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        "${need[@]}" >/dev/null
fi

python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
