"""A stand-in for `claude -p PROMPT --output-format stream-json --verbose`.

It prints what Claude Code's headless mode prints, one JSON object a line: a
`system`/`init` line, `assistant` lines (one per turn) and a final `result`
line with `total_cost_usd`, `is_error`, `subtype`, `num_turns`,
`duration_ms` and `session_id`. It takes Claude's arguments and ignores
those it does not need; `--max-budget-usd` caps what it reports spending.

What it does is set by the environment variable FAKE_CLAUDE, a comma-separated
list of key=value (all optional):
  mode=succeed | fail | crash | hang | silent | chatty
      succeed: turns, then a successful result, exit 0 (the default)
      fail:    a result with is_error true, exit 1
      crash:   dies by SIGSEGV `delay` seconds after its first line
      hang:    prints its init line, then nothing, forever (a stuck agent)
      silent:  prints nothing at all, forever (stuck spawning)
      chatty:  prints a line every `delay` seconds, forever
  turns=N        assistant lines before the result (3)
  delay=SECONDS  pause between lines (0.05)
  cost=USD       total_cost_usd to report (0.01; capped by --max-budget-usd)
  fork=N         start N grandchildren that sleep (and ignore SIGTERM if asked)
  ignore_term=1  ignore SIGTERM (so do the grandchildren)
  setsid=1       the grandchildren start sessions of their own
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid


def settings() -> dict[str, str]:
    raw = os.environ.get("FAKE_CLAUDE", "")
    return dict(item.split("=", 1) for item in raw.split(",") if "=" in item)


def arg_after(flag: str) -> str | None:
    args = sys.argv[1:]
    return args[args.index(flag) + 1] if flag in args and args.index(flag) + 1 < len(args) else None


def emit(obj: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main() -> int:
    s = settings()
    mode = s.get("mode", "succeed")
    delay = float(s.get("delay", "0.05"))
    turns = int(s.get("turns", "3"))
    cap = arg_after("--max-budget-usd")
    cost = float(s.get("cost", "0.01"))
    if cap is not None:
        cost = min(cost, float(cap))
    session = str(uuid.uuid4())
    if s.get("ignore_term") == "1":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for _ in range(int(s.get("fork", "0"))):
        code = "import signal, time\n"
        if s.get("ignore_term") == "1":
            code += "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        code += "time.sleep(3600)\n"
        subprocess.Popen([sys.executable, "-c", code], start_new_session=s.get("setsid") == "1")
    if mode == "silent":
        while True:
            time.sleep(3600)
    emit(
        {
            "type": "system",
            "subtype": "init",
            "session_id": session,
            "model": "fake",
            "tools": [],
            "cwd": os.getcwd(),
        }
    )
    if mode == "crash":
        time.sleep(delay)
        os.kill(os.getpid(), signal.SIGSEGV)
    if mode == "hang":
        while True:
            time.sleep(3600)
    started = time.monotonic()
    n = 0
    while mode == "chatty" or n < turns:
        time.sleep(delay)
        n += 1
        emit(
            {
                "type": "assistant",
                "session_id": session,
                "message": {
                    "role": "assistant",
                    "content": [{"type": "text", "text": f"step {n}"}],
                },
            }
        )
    failed = mode == "fail"
    emit(
        {
            "type": "result",
            "subtype": "error_during_execution" if failed else "success",
            "is_error": failed,
            "duration_ms": int((time.monotonic() - started) * 1000),
            "num_turns": n,
            "result": "failed" if failed else "done",
            "session_id": session,
            "total_cost_usd": cost,
        }
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
