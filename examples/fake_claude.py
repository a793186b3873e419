"""A stand-in for `claude -p PROMPT --output-format stream-json --verbose`.

It prints what Claude Code's headless mode prints, one JSON object a line: a
`system`/`init` line, `assistant` lines (one per turn) and a final `result`
line with `total_cost_usd`, `is_error`, `subtype`, `num_turns`,
`duration_ms` and `session_id`. `--max-budget-usd` caps what it reports
spending.

It checks its arguments as Claude Code 2.1 does, with the same words on
stderr and exit code 1: an unknown option, a --permission-mode it does not
know, `--output-format stream-json` without `--verbose` in print mode, and a
permission bypass as root. The failure modes print the shapes the real CLI
prints (seen from 2.1.332 without credentials: an `assistant` event with
`error: authentication_failed`, then a result with `subtype: success` and
`is_error: true`).

What it does is set by the environment variable FAKE_CLAUDE, a comma-separated
list of key=value (all optional):
  mode=succeed | fail | auth | billing | rate_limit | budget | permission
       | crash | hang | silent | chatty
      succeed: turns, then a successful result, exit 0 (the default)
      fail:    a result with is_error true, exit 1
      auth:    "Not logged in · Please run /login" as the real CLI prints it, exit 1
      billing: a billing_error ("Credit balance is too low"), exit 1
      rate_limit: api_retry events, then a rate_limit error (429), exit 1
      budget:  turns, then an error_max_budget_usd result whose `errors` say
               "Reached maximum budget ($CAP)", exit 1
      permission: a `system/permission_denied` event for the Bash tool, then a
               success result listing it in permission_denials, exit 0 (as
               the real CLI: its word is "success")
      crash:   dies by SIGSEGV `delay` seconds after its first line
      hang:    prints its init line, then nothing, forever (a stuck agent)
      silent:  prints nothing at all, forever (stuck spawning)
      chatty:  prints a line every `delay` seconds, forever
  turns=N        assistant lines before the result (3)
  delay=SECONDS  pause between lines (0.05)
  cost=USD       total_cost_usd to report (0.01); past --max-budget-usd the run
                 ends as the real CLI's does: an error_max_budget_usd result that
                 reports the whole cost, the cap overshot by its last turn
  usage=IN/OUT   input and output tokens each assistant line shows (1000/200), with
                 the message's id and model, as the real CLI's do
  fork=N         start N grandchildren that sleep (and ignore SIGTERM if asked)
  ignore_term=1  ignore SIGTERM (so do the grandchildren)
  setsid=1       the grandchildren start sessions of their own
  escape=TOKEN   start a process that double-forks, calls setsid and clears its
                 environment (no mark, no parent, no group leads back to the
                 agent), then sleeps with TOKEN in its command line

FAKE_CLAUDE_EDITS, a JSON list, makes it a scripted agent that edits files in
its working folder after its turns, one tool call a turn, as the real CLI
prints them (an `assistant` tool_use, then a `user` tool_result; a failed
edit is an error result the agent carries on from, as the real one does):
  {"file_path": P, "old_string": A, "new_string": B}   the Edit tool
  {"file_path": P, "content": C}                       the Write tool
  {"file_path": P, "delete": true}                     rm P, through Bash
  "pause": SECONDS                                     wait after it (any edit)
  "after": PATH                                        wait until PATH exists first
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


VALUED = {
    "--output-format",
    "--max-budget-usd",
    "--permission-mode",
    "--model",
    "--fallback-model",
    "--append-system-prompt",
    "--session-id",
}
VARIADIC = {"--allowedTools", "--allowed-tools", "--disallowedTools", "--disallowed-tools"}
SWITCHES = {
    "-p",
    "--print",
    "--verbose",
    "--dangerously-skip-permissions",
    "--no-session-persistence",
}
PERMISSION_MODES = ("acceptEdits", "auto", "bypassPermissions", "manual", "dontAsk", "plan")


def parse(argv: list[str]) -> dict[str, str] | str:
    """The options given, or the error the real CLI prints for them."""
    opts: dict[str, str] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in SWITCHES:
            opts[arg] = ""
        elif arg in VALUED:
            if i + 1 >= len(argv):
                return f"error: option '{arg} <value>' argument missing"
            opts[arg] = argv[i + 1]
            i += 1
        elif arg in VARIADIC:
            tools = []
            while i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                tools.append(argv[i + 1])
                i += 1
            opts[arg] = " ".join(tools)
        elif arg.startswith("-"):
            return f"error: unknown option '{arg}'"
        i += 1
    mode = opts.get("--permission-mode")
    if mode is not None and mode not in PERMISSION_MODES:
        choices = ", ".join(PERMISSION_MODES)
        return (
            f"error: option '--permission-mode <mode>' argument '{mode}' is invalid. "
            f"Allowed choices are {choices}."
        )
    session = opts.get("--session-id")
    if session is not None and not _is_uuid(session):
        return "Error: Invalid session ID. Must be a valid UUID."
    printing = "-p" in opts or "--print" in opts
    if printing and opts.get("--output-format") == "stream-json" and "--verbose" not in opts:
        return "Error: When using --print, --output-format=stream-json requires --verbose"
    bypass = "--dangerously-skip-permissions" in opts or mode == "bypassPermissions"
    if bypass and os.geteuid() == 0:
        return (
            "--dangerously-skip-permissions cannot be used with root/sudo privileges "
            "for security reasons"
        )
    return opts


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def emit(obj: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main() -> int:
    opts = parse(sys.argv[1:])
    if isinstance(opts, str):
        sys.stderr.write(opts + "\n")
        return 1
    s = settings()
    mode = s.get("mode", "succeed")
    delay = float(s.get("delay", "0.05"))
    turns = int(s.get("turns", "3"))
    cap = opts.get("--max-budget-usd")
    cost = float(s.get("cost", "0.01"))
    if cap is not None and mode == "succeed" and cost > float(cap):
        mode = "budget"  # as the real CLI: it stops after the turn that passed the cap
    tokens_in, tokens_out = (int(n) for n in s.get("usage", "1000/200").split("/"))
    session = opts.get("--session-id") or str(uuid.uuid4())
    if s.get("ignore_term") == "1":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for _ in range(int(s.get("fork", "0"))):
        code = "import signal, time\n"
        if s.get("ignore_term") == "1":
            code += "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        code += "time.sleep(3600)\n"
        subprocess.Popen([sys.executable, "-c", code], start_new_session=s.get("setsid") == "1")
    if "escape" in s:
        subprocess.Popen([sys.executable, "-c", ESCAPE, s["escape"]])
    if mode == "silent":
        while True:
            time.sleep(3600)
    emit(
        {
            "type": "system",
            "subtype": "init",
            "session_id": session,
            "model": opts.get("--model", "fake"),
            "permissionMode": opts.get("--permission-mode", "default"),
            "tools": [],
            "cwd": os.getcwd(),
            "apiKeySource": "none",
        }
    )
    if mode in API_ERRORS:
        return api_error(session, mode)
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
                    "id": f"msg_{session[:8]}_{n}",
                    "model": opts.get("--model", "fake"),
                    "role": "assistant",
                    "content": [{"type": "text", "text": f"step {n}"}],
                    "usage": {
                        "input_tokens": tokens_in,
                        "output_tokens": tokens_out,
                        "cache_creation_input_tokens": 0,
                        "cache_read_input_tokens": 0,
                    },
                },
            }
        )
    for i, edit in enumerate(json.loads(os.environ.get("FAKE_CLAUDE_EDITS", "[]"))):
        while "after" in edit and not os.path.exists(str(edit["after"])):
            time.sleep(0.02)
        tool_use(session, f"toolu_edit{i}", edit)
        time.sleep(float(edit.get("pause", 0)))
    failed = mode in ("fail", "budget")
    subtype = {"fail": "error_during_execution", "budget": "error_max_budget_usd"}
    denied = [{"tool_name": "Bash", "tool_use_id": "toolu_1", "tool_input": {"command": "make"}}]
    if mode == "permission":  # the real CLI goes on without the tool, then says success
        emit({"type": "system", "subtype": "permission_denied", "session_id": session, **denied[0]})
    errors = [f"Reached maximum budget (${cap or cost})"] if mode == "budget" else []
    emit(
        {
            "type": "result",
            "subtype": subtype.get(mode, "success"),
            "is_error": failed,
            "errors": errors,
            "permission_denials": denied if mode == "permission" else [],
            "terminal_reason": "completed",
            "duration_ms": int((time.monotonic() - started) * 1000),
            "num_turns": n,
            "result": "failed" if failed else "done",
            "session_id": session,
            "total_cost_usd": cost,
        }
    )
    return 1 if failed else 0


def tool_use(session: str, use_id: str, edit: dict[str, object]) -> None:
    """One scripted edit, printed as the real CLI prints a tool call and its result."""
    path = str(edit["file_path"])
    if edit.get("delete"):
        name, given = "Bash", {"command": f"rm {path}", "description": "remove"}
    elif "content" in edit:
        name, given = "Write", {"file_path": path, "content": edit["content"]}
    else:
        name = "Edit"
        given = {k: edit[k] for k in ("file_path", "old_string", "new_string")}
    content = [{"type": "tool_use", "id": use_id, "name": name, "input": given}]
    emit(
        {
            "type": "assistant",
            "session_id": session,
            "message": {"role": "assistant", "content": content},
        }
    )
    try:
        if name == "Bash":
            os.unlink(path)
        elif name == "Write":
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(str(edit["content"]))
        else:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
            if str(edit["old_string"]) not in text:
                raise ValueError("String to replace not found in file.")
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text.replace(str(edit["old_string"]), str(edit["new_string"]), 1))
        said, error = "The file has been updated.", False
    except (OSError, ValueError) as exc:
        said, error = f"<tool_use_error>{exc}</tool_use_error>", True
    result = {"type": "tool_result", "tool_use_id": use_id, "content": said, "is_error": error}
    emit({"type": "user", "session_id": session, "message": {"role": "user", "content": [result]}})


ESCAPE = """\
import os, sys
if os.fork():
    os._exit(0)
os.setsid()
if os.fork():
    os._exit(0)
sleeper = [sys.executable, "-c", "import time; time.sleep(3600)", sys.argv[1]]
os.execve(sys.executable, sleeper, {})
"""
"""A daemon that leaves every trace Warden could follow but its cgroup."""

API_ERRORS = {
    # mode: (assistant error, text, api_error_status)
    "auth": ("authentication_failed", "Not logged in · Please run /login", None),
    "billing": ("billing_error", "Credit balance is too low", 400),
    "rate_limit": ("rate_limit", "API Error: 429 rate_limit_error: rate limited", 429),
}


def api_error(session: str, mode: str) -> int:
    """What the real CLI prints when the API refuses it: $0, one turn, exit 1."""
    error, text, status = API_ERRORS[mode]
    if mode == "rate_limit":
        for attempt in (1, 2):
            emit(
                {
                    "type": "system",
                    "subtype": "api_retry",
                    "attempt": attempt,
                    "max_retries": 2,
                    "retry_delay_ms": 1000 * attempt,
                    "error_status": status,
                    "error": error,
                    "session_id": session,
                }
            )
    emit(
        {
            "type": "assistant",
            "message": {
                "model": "<synthetic>",
                "role": "assistant",
                "content": [{"type": "text", "text": text}],
            },
            "session_id": session,
            "error": error,
            "is_api_error_message": True,
        }
    )
    emit(
        {
            "type": "result",
            "subtype": "success",
            "is_error": True,
            "api_error_status": status,
            "duration_ms": 90,
            "num_turns": 1,
            "result": text,
            "session_id": session,
            "total_cost_usd": 0,
            "usage": {"input_tokens": 0, "output_tokens": 0},
            "modelUsage": {},
            "permission_denials": [],
            "terminal_reason": "api_error",
        }
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
