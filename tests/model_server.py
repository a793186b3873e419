"""A scripted model for the real Claude Code CLI: enough of the Anthropic Messages
API that `claude -p` runs offline, its tools for real, with the turns a test wrote.

With `ANTHROPIC_BASE_URL` at this server, `ANTHROPIC_API_KEY` set to anything and
`CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1`, Claude Code 2.1.332 sends only
`POST /v1/messages?beta=true` with `"stream": true` and follows server-sent events:
`message_start`, then per block `content_block_start` / `content_block_delta`
(`text_delta`, or `input_json_delta` for a `tool_use`) / `content_block_stop`, then
`message_delta` (`stop_reason`, `usage`) and `message_stop`.

A script is a list of steps, one a model turn: a tool call (`Step.tool`) or the last
words (`Step.say`). The turn played is the number of the conversation's assistant
turns so far, so one server plays the same script to every agent that talks to it.
`{cwd}` in a tool's input is the agent's working folder, as the CLI names it
("Primary working directory"). A request without tools (the CLI's own side
questions) gets a word.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CWD = re.compile(r"Primary working directory: ([^\s\\]+)")
"""Where the CLI says the agent works, in its system prompt (2.1.332's `env` section)."""


@dataclass(frozen=True)
class Step:
    text: str = ""
    tool: str | None = None
    input: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def call(cls, tool: str, **given: Any) -> Step:
        return cls(tool=tool, input=given)

    @classmethod
    def say(cls, text: str) -> Step:
        return cls(text=text)


class ModelServer:
    def __init__(self, script: list[Step]) -> None:
        self.script = script
        self.requests: list[dict[str, Any]] = []
        self.results: dict[str, dict[str, Any]] = {}
        """The tool results the CLI sent back (what its tools did), by call."""
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append({"path": self.path, "body": body})
                if not self.path.startswith("/v1/messages"):
                    self.send_error(404)
                    return
                blocks = server.answer(body)
                if body.get("stream"):
                    self._stream(body, blocks)
                else:
                    self._json(body, blocks)

            def _stream(self, body: dict[str, Any], blocks: list[dict[str, Any]]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                for event in events(body.get("model", "scripted"), blocks):
                    data = json.dumps(event)
                    self.wfile.write(f"event: {event['type']}\ndata: {data}\n\n".encode())
                self.wfile.flush()
                self.close_connection = True

            def _json(self, body: dict[str, Any], blocks: list[dict[str, Any]]) -> None:
                message = {**_message(body.get("model", "scripted")), "content": blocks}
                message["stop_reason"] = _stop(blocks)
                raw = json.dumps(message).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ModelServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def answer(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """The content blocks of the next turn of the conversation in `body`."""
        messages = body.get("messages") or []
        for m in messages:
            content = m.get("content")
            if isinstance(content, list):
                for b in content:
                    if b.get("type") == "tool_result":
                        self.results[str(b.get("tool_use_id"))] = b
        if not body.get("tools"):
            return [{"type": "text", "text": "ok"}]
        turn = sum(  # the script's calls made so far (the CLI merges a message's turns)
            1
            for m in messages
            if m.get("role") == "assistant" and isinstance(m.get("content"), list)
            for b in m["content"]
            if b.get("type") == "tool_use"
        )
        step = self.script[min(turn, len(self.script) - 1)]
        if step.tool is None:
            return [{"type": "text", "text": step.text}]
        found = CWD.search(json.dumps(body))
        cwd = found.group(1) if found else ""
        given = json.loads(json.dumps(step.input).replace("{cwd}", cwd))
        return [{"type": "tool_use", "id": f"toolu_{turn:04d}", "name": step.tool, "input": given}]


_ids = itertools.count()


def _message(model: str) -> dict[str, Any]:
    """A message's head; each its own id (the CLI joins turns of one id into one)."""
    return {
        "id": f"msg_scripted_{next(_ids):06d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 100, "output_tokens": 1},
    }


def _stop(blocks: list[dict[str, Any]]) -> str:
    return "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"


def events(model: str, blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One turn as the Messages API streams it."""
    out: list[dict[str, Any]] = [{"type": "message_start", "message": _message(model)}]
    for i, block in enumerate(blocks):
        start: dict[str, Any]
        if block["type"] == "text":
            start = {"type": "text", "text": ""}
            delta = {"type": "text_delta", "text": block["text"]}
        else:
            start = {**block, "input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        out += [
            {"type": "content_block_start", "index": i, "content_block": start},
            {"type": "content_block_delta", "index": i, "delta": delta},
            {"type": "content_block_stop", "index": i},
        ]
    usage = {"output_tokens": 20}
    out += [
        {
            "type": "message_delta",
            "delta": {"stop_reason": _stop(blocks), "stop_sequence": None},
            "usage": usage,
        },
        {"type": "message_stop"},
    ]
    return out
