#!/usr/bin/env bash
# Installs Debian packages whose command is missing: debian-packages.sh CMD:PACKAGE ...
# (root runs apt-get directly, anyone else through sudo). Shared by the test
# and stack commands so both install the same way.
set -euo pipefail
need=()
for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
((${#need[@]})) || exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing from Debian: ${need[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${need[@]}" >/dev/null
