"""``koprik serve``: OAI-PMH (and the other protocols) over the catalogue."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from aiohttp import web

from catalog import Catalog
from config import Settings, load_settings
from harvester.scheduler import start_scheduler
from koprik.dashboard import setup_dashboard
from provider.app import init_app
from provider.keys import SERVICE
from provider.z3950.server import start_target

log = logging.getLogger("koprik.serve")

SHUTDOWN_GRACE = 5.0
"""Seconds open sessions get to end when the server stops."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve", help="serve the catalogue (OAI-PMH, SRU, Z39.50) and run harvest schedules"
    )
    parser.add_argument("--host", help="address to listen on (default from settings)")
    parser.add_argument("--port", type=int, help="HTTP port (default from settings)")
    parser.add_argument(
        "--no-scheduler",
        action="store_true",
        help="do not run scheduled harvests here (when another node or `koprik scheduler` does)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    catalog = Catalog.open(settings)
    try:
        asyncio.run(
            serve(settings, catalog, host=args.host, port=args.port,
                  scheduler=not args.no_scheduler)
        )
    finally:
        catalog.close()
    return 0


async def serve(
    settings: Settings,
    catalog: Catalog,
    *,
    host: str | None = None,
    port: int | None = None,
    scheduler: bool = True,
) -> None:
    """Run every server, and the harvest scheduler, until SIGINT or SIGTERM."""
    host = host or settings.server.host
    port = port or settings.server.http_port
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    app = init_app(settings, catalog)
    setup_dashboard(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    target = await start_target(settings, catalog, app[SERVICE])
    z3950_port = target.sockets[0].getsockname()[1]
    print(f"koprik: OAI-PMH at http://{host}:{port}/oai", flush=True)
    print(f"koprik: dashboard at http://{host}:{port}/", flush=True)
    print(f"koprik: SRU at http://{host}:{port}/sru", flush=True)
    print(f"koprik: Z39.50 at tcp:{host}:{z3950_port}/{settings.server.z3950_database}",
          flush=True)
    harvests = await asyncio.to_thread(start_scheduler, settings, catalog) if scheduler else None
    try:
        await stop.wait()
    finally:
        if harvests is not None:
            # Waits for a harvest in progress to end. Each page is committed with its
            # resumption token, so killing the process instead loses nothing: it resumes.
            await asyncio.to_thread(harvests.shutdown)
        target.close()
        # Python 3.12+ waits for idle Z39.50 sessions here; do not let one hold up a shutdown.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(target.wait_closed(), SHUTDOWN_GRACE)
        await runner.cleanup()
