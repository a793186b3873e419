#!/usr/bin/env bash
# Installs pinned Node tools from the npm registry into .cache/npm/NAME (once):
# npm-tools.sh claude. The contract tests run the real programs from there.
# Shared by the test command; Warden itself needs none of them.
set -euo pipefail
cd "$(dirname "$0")/.."

CLAUDE_CODE_VERSION=2.1.332

install() {  # install FOLDER PACKAGE@VERSION BIN: once, into .cache/npm/FOLDER
    local folder=".cache/npm/$1" spec="$2" bin="$3"
    if [ -x "$folder/node_modules/.bin/$bin" ] && [ "$(cat "$folder/.installed" 2>/dev/null)" = "$spec" ]; then
        return
    fi
    command -v npm >/dev/null || ./scripts/debian-packages.sh npm:npm
    echo "installing from npm: $spec"
    rm -rf "$folder"
    mkdir -p "$folder"
    (cd "$folder" && npm install --no-audit --no-fund --loglevel=error --prefix . "$spec" >/dev/null)
    echo "$spec" >"$folder/.installed"
}

for tool in "$@"; do
    case "$tool" in
        claude) install claude "@anthropic-ai/claude-code@$CLAUDE_CODE_VERSION" claude ;;
        *) echo "npm-tools.sh: unknown tool $tool" >&2; exit 2 ;;
    esac
done
