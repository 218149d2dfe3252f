"""``koprik serve``: OAI-PMH (and the other protocols) over the catalogue."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from aiohttp import web

from catalog import Catalog
from config import Settings, load_settings
from provider.app import init_app

log = logging.getLogger("koprik.serve")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="serve the catalogue (OAI-PMH, SRU, Z39.50)")
    parser.add_argument("--host", help="address to listen on (default from settings)")
    parser.add_argument("--port", type=int, help="HTTP port (default from settings)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    catalog = Catalog.open(settings)
    try:
        asyncio.run(serve(settings, catalog, host=args.host, port=args.port))
    finally:
        catalog.close()
    return 0


async def serve(
    settings: Settings, catalog: Catalog, *, host: str | None = None, port: int | None = None
) -> None:
    """Run every server until SIGINT or SIGTERM."""
    host = host or settings.server.host
    port = port or settings.server.http_port
    runner = web.AppRunner(init_app(settings, catalog), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    print(f"koprik: OAI-PMH at http://{host}:{port}/oai", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
