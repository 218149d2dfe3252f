"""Running an HTTP application on a loopback port in a background thread.

For tests, benchmarks and tools that need a real server beside synchronous code:

>>> with serve_in_thread(init_app(settings, catalog), port=8081) as base:
...     urllib.request.urlopen(f"{base}/oai?verb=Identify")

The server has its own event loop in a daemon thread and serves with the HTTP limits of the
application's settings (:func:`provider.http_server.start_http`, as ``koprik serve`` does);
leaving the block shuts the application down (running its cleanup contexts) and joins the
thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web

from provider.http_server import start_http
from provider.keys import SETTINGS


@contextmanager
def serve_in_thread(
    app: web.Application, host: str = "127.0.0.1", port: int = 0, *, reuse_port: bool = False
) -> Iterator[str]:
    """Serve ``app`` on ``host:port`` (0: any free port), sharing it with other processes with
    ``reuse_port`` (as ``koprik serve --workers`` does); yields ``http://host:port``."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None)
    thread = threading.Thread(target=loop.run_forever, name="koprik-http", daemon=True)
    thread.start()

    servers: list[asyncio.AbstractServer] = []

    async def start() -> str:
        await runner.setup()
        servers.append(await start_http(runner, app[SETTINGS], host, port,
                                        reuse_port=reuse_port, access_log=None))
        bound = servers[0].sockets[0].getsockname()
        return f"http://{bound[0]}:{bound[1]}"

    async def stop() -> None:
        for server in servers:
            server.close()
        await runner.cleanup()

    try:
        base = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=30)
        yield base
    finally:
        asyncio.run_coroutine_threadsafe(stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()
