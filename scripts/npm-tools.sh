#!/usr/bin/env bash
# Installs pinned Node tools from the npm registry into .cache/npm/NAME (once):
# npm-tools.sh claude openclaw. The contract and end-to-end tests run the real
# programs from there. Shared by the test command; Warden itself needs none.
set -euo pipefail
cd "$(dirname "$0")/.."

CLAUDE_CODE_VERSION=2.1.332
OPENCLAW_VERSION=2026.9.6
NODE_VERSION=24.21.0   # OpenClaw needs Node >= 24.16; the registry ships it as node@24

install() {  # install FOLDER BIN PACKAGE@VERSION...: once, into .cache/npm/FOLDER
    local folder=".cache/npm/$1" bin="$2"
    shift 2
    if [ -x "$folder/node_modules/.bin/$bin" ] && [ "$(cat "$folder/.installed" 2>/dev/null)" = "$*" ]; then
        return
    fi
    command -v npm >/dev/null || ./scripts/debian-packages.sh npm:npm
    echo "installing from npm: $*"
    rm -rf "$folder"
    mkdir -p "$folder"
    for spec in "$@"; do  # in order: a package may need the node installed before it
        (cd "$folder" && PATH="$PWD/node_modules/.bin:$PATH" \
            npm install --no-audit --no-fund --loglevel=error --prefix . "$spec" >/dev/null)
    done
    echo "$*" >"$folder/.installed"
}

for tool in "$@"; do
    case "$tool" in
        claude) install claude claude "@anthropic-ai/claude-code@$CLAUDE_CODE_VERSION" ;;
        openclaw) install openclaw openclaw "node@$NODE_VERSION" "openclaw@$OPENCLAW_VERSION" ;;
        *) echo "npm-tools.sh: unknown tool $tool" >&2; exit 2 ;;
    esac
done
