"""The anchor of bench/webhook.py: the least a webhook receiver that loses nothing does.

An aiohttp server that checks the bearer token, parses the JSON and stores each
body in SQLite (WAL, `synchronous=FULL`, one transaction per body, committed
before the 200), and does nothing else: no validation of the alerts, no alert
path. Warden's accept path does this much and more (a strict version-4 parse,
the gate against slow and unauthenticated clients, the worker woken); the bench
prints its CPU per body against this one's, from the same run.

Run by the bench: python -m bench.minimal_receiver PORT DATABASE TOKEN_FILE
"""

from __future__ import annotations

import hmac
import json
import sqlite3
import sys
import time
from pathlib import Path

from aiohttp import web


def app(database: Path, token: str) -> web.Application:
    db = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE IF NOT EXISTS inbox (id INTEGER PRIMARY KEY, at REAL, body BLOB)")
    expected = f"Bearer {token}".encode()

    async def alerts(request: web.Request) -> web.Response:
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            return web.json_response({"error": "unauthorized"}, status=401)
        raw = await request.read()
        try:
            parsed = json.loads(raw)
        except ValueError:
            return web.json_response({"error": "not JSON"}, status=400)
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO inbox (at, body) VALUES (?, ?)", (time.time(), raw))
        db.execute("COMMIT")
        return web.json_response({"accepted": len(parsed.get("alerts", []))})

    application = web.Application()
    application.router.add_post("/api/v1/alerts", alerts)
    return application


def main() -> None:
    port, database, token_file = int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    token = token_file.read_text().strip()
    web.run_app(app(database, token), host="127.0.0.1", port=port, print=None)


if __name__ == "__main__":
    main()
