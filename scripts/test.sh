#!/usr/bin/env bash
# The README's test command: installs what the tests need, then runs every
# check CI runs (ruff, mypy, pytest). Safe to run again; it only installs
# what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Prometheus (with promtool) and Alertmanager (with amtool) from Debian's packages;
# node_exporter is bench/scrape.py's anchor (its smoke test runs in the suite).
./scripts/debian-packages.sh prometheus:prometheus promtool:prometheus \
    amtool:prometheus-alertmanager git:git \
    prometheus-node-exporter:prometheus-node-exporter
# PostgreSQL for the tests of the shared store (Debian keeps its programs off
# PATH, in /usr/lib/postgresql/VERSION/bin; tests/pgserver.py finds them there).
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null ||
    ./scripts/debian-packages.sh initdb:postgresql

python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'

# The Compose specification's JSON schema, to check docker-compose.yml without
# a Docker engine: it ships inside the docker-compose 1.x wheel.
if [ ! -f .cache/compose_spec.json ]; then
    mkdir -p .cache
    .venv/bin/python -m pip download -q --disable-pip-version-check --no-deps -d .cache \
        docker-compose==1.29.2
    .venv/bin/python -c "import glob, zipfile; z = zipfile.ZipFile(glob.glob('.cache/docker_compose-*.whl')[0]); open('.cache/compose_spec.json', 'wb').write(z.read('compose/config/compose_spec.json'))"
fi

# The real Claude Code CLI and OpenClaw gateway for their tests (pinned; once,
# into .cache/npm).
./scripts/npm-tools.sh claude openclaw

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
# Three workers on 2 cores: most tests wait on real services, not on a core; an idle
# worker takes tests queued for a busy one (worksteal). The slowest tests are named
# at the end: the suite must stay under 10 minutes on 2 cores.
.venv/bin/python -m pytest -n 3 --dist worksteal --durations=25 "$@"
