"""Start an OpenClaw gateway that died, for a host without a service manager.

`openclaw gateway restart` restarts a running gateway (SIGUSR2 to the
foreground process) or asks systemd/launchd to; with neither, a dead gateway
stays dead ("service management skipped"). This recovery command starts
`openclaw gateway run` in a session of its own, so it outlives the command,
and exits 0 once the gateway answers `GET /healthz` with `"ok": true`, 1 if it
exits first or does not answer in time. Use it as a recovery
(`responder.recoveries`):

    openclaw_restart:
      command: [python3, examples/openclaw_start.py, --port, "18789", --log, /var/log/openclaw.log]
      timeout: 1m

`openclaw` is found on PATH, with the environment Warden gives the recovery
(`env`: HOME where the gateway's config lives).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import urllib.request


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            return bool(json.loads(resp.read()).get("ok"))
    except (OSError, ValueError):
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=18789)
    parser.add_argument("--log", default="openclaw-gateway.log")
    parser.add_argument("--wait", type=float, default=50.0, help="seconds to wait for /healthz")
    args = parser.parse_args()
    if healthy(args.port):
        print(f"the gateway on port {args.port} answers already")
        return 0
    with open(args.log, "ab") as log:
        gateway = subprocess.Popen(
            ["openclaw", "gateway", "run"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + args.wait
    while time.monotonic() < deadline:
        if healthy(args.port):
            print(f"gateway pid {gateway.pid} answers on port {args.port}")
            return 0
        if gateway.poll() is not None:
            print(f"the gateway exited with {gateway.returncode}; see {args.log}", file=sys.stderr)
            return 1
        time.sleep(0.5)
    print(f"the gateway did not answer on port {args.port} within {args.wait:g}s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
