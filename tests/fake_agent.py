"""A stand-in for a headless Claude Code agent: prints stream-json lines like
`claude -p --output-format stream-json`, then idles (or spawns a helper)."""

import json
import subprocess
import sys
import time

mode = sys.argv[1] if len(sys.argv) > 1 else "idle"
print(json.dumps({"type": "system", "subtype": "init", "session_id": "fake"}), flush=True)
if mode == "helper":
    # Claude Code runs tools in child processes whose command line names it too.
    subprocess.Popen([sys.executable, __file__, "idle"])
if mode == "burn":
    end = time.process_time() + 0.3
    while time.process_time() < end:
        pass
time.sleep(600)
