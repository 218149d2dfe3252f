"""An aiohttp test client on the whole HTTP application (provider + dashboard), with an
operator ``alice``, and a helper that signs in through the real form."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from catalog import Catalog
from config import DatabaseSettings, Settings
from config.settings import DashboardSettings
from koprik.dashboard.accounts import add_user
from koprik.dashboard.app import setup_dashboard
from provider.app import init_app
from provider.background import serve_in_thread

PASSWORD = "correct horse battery"
UNREADABLE_FORMS = (
    ("application/x-www-form-urlencoded", b"csrf=TOKEN&name=\xff\xfe&password=\xff"),
    ("application/x-www-form-urlencoded; charset=no-such-charset", b"csrf=TOKEN&name=a"),
    ("multipart/form-data; boundary=XX", b"no boundary here"),
    ("multipart/form-data", b"--XX\r\n\r\n--XX--\r\n"),
    ("multipart/form-data; boundary=XX",
     b'--XX\r\nContent-Disposition: form-data; name="csrf"\r\n\r\nTOKEN\r\n'
     b'--XX\r\nContent-Disposition: form-data; name="name"\r\n\r\n\xff\xfe\r\n--XX--\r\n'),
)
"""Form bodies aiohttp cannot decode: bytes that are not UTF-8, an unknown charset, a multipart
body without its boundary (each was a 500 with a traceback in the log)."""
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def dashboard_settings(tmp_path: Path, **dashboard: Any) -> Settings:
    return dataclasses.replace(
        Settings(),
        database=DatabaseSettings(url=f"sqlite:///{tmp_path / 'catalog.sqlite3'}"),
        dashboard=DashboardSettings(**dashboard),
    )


async def make_client(aiohttp_client: Any, settings: Settings) -> Any:
    catalog = Catalog.open(settings)
    add_user(catalog.engine, "alice", PASSWORD)
    app = init_app(settings, catalog)
    setup_dashboard(app)
    return await aiohttp_client(app)


@contextmanager
def served(settings: Settings) -> Iterator[tuple[str, web.Application]]:
    """The whole application served on a port of its own in a thread, for raw sockets
    (tests/test_http_server.py's helpers); yields its ``http://host:port`` and itself."""
    catalog = Catalog.open(settings)
    app = init_app(settings, catalog)
    setup_dashboard(app)
    with serve_in_thread(app) as base:
        yield base, app


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


async def sign_in(client: Any, name: str = "alice", password: str = PASSWORD,
                  headers: dict[str, str] | None = None) -> Any:
    """The sign-in form's POST (``headers`` on it, not on the GET of the form), unfollowed."""
    page = await client.get("/signin")
    token = csrf_of(await page.text())
    return await client.post("/signin", data={"csrf": token, "name": name,
                                              "password": password, "next": "/sources"},
                             headers=headers, allow_redirects=False)


@pytest.fixture
async def client(aiohttp_client: Any, tmp_path: Path) -> Any:
    return await make_client(aiohttp_client, dashboard_settings(tmp_path))
