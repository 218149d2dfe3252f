"""provider/forwarded.py: behind a proxy in ``server.trusted_proxies`` the client and scheme are
the ones its ``X-Forwarded-For`` and ``X-Forwarded-Proto`` name, for the dashboard's sign-in
limit and cookies alike (real HTTP on 127.0.0.1, the test client's peer address); from any
other peer the headers change nothing."""

from __future__ import annotations

import dataclasses
import logging
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import pytest

from config import ServerSettings, Settings
from koprik.dashboard.access import ANONYMOUS_COOKIE, SESSION_COOKIE
from koprik.dashboard.signin import LIMITED
from provider.forwarded import MAX_FORWARDED_FOR, forwarded_client, forwarded_scheme
from tests.dashboard_fixtures import PASSWORD, dashboard_settings, make_client, sign_in

LOOPBACK = (ip_network("127.0.0.1/32"), ip_network("::1/128"))
NETWORKS = (ip_network("127.0.0.1/32"), ip_network("10.0.0.0/8"))


@pytest.mark.parametrize(("lines", "proxies", "client"), [
    (["203.0.113.7"], LOOPBACK, "203.0.113.7"),
    ([" 203.0.113.7 "], LOOPBACK, "203.0.113.7"),
    (["198.51.100.1, 203.0.113.7"], LOOPBACK, "203.0.113.7"),  # the client's own entry, forged
    (["198.51.100.1", "203.0.113.7"], LOOPBACK, "203.0.113.7"),  # two lines are one list
    (["203.0.113.7, 10.1.2.3, 127.0.0.1"], NETWORKS, "203.0.113.7"),  # proxies skipped
    (["10.1.2.3, 127.0.0.1"], NETWORKS, "10.1.2.3"),  # all of them proxies: the leftmost
    (["not an address, 203.0.113.7"], LOOPBACK, "203.0.113.7"),  # never read
    (["::ffff:203.0.113.7"], LOOPBACK, "203.0.113.7"),
    (["2001:DB8::7"], LOOPBACK, "2001:db8::7"),
    (["203.0.113.7, not an address"], LOOPBACK, None),
    (["203.0.113.7:51234"], LOOPBACK, None),  # a port
    (["203.0.113.7,"], LOOPBACK, None),
    ([""], LOOPBACK, None),
    ([], LOOPBACK, None),
    ([", ".join(["127.0.0.1"] * (MAX_FORWARDED_FOR // 11) + ["203.0.113.7"])], LOOPBACK, None),
])
def test_the_client_is_the_rightmost_entry_that_is_no_trusted_proxy(lines, proxies, client):
    assert forwarded_client(lines, proxies) == client


@pytest.mark.parametrize(("lines", "scheme"), [
    (["https"], "https"), (["HTTPS "], "https"), (["http"], "http"), (["wss"], None),
    (["https, http"], None), (["https", "https"], None), ([], None),
])
def test_the_scheme_is_http_or_https_or_left_alone(lines, scheme):
    assert forwarded_scheme(lines) == scheme


def _settings(tmp_path: Path, trusted_proxies: list[str]) -> Settings:
    return dataclasses.replace(dashboard_settings(tmp_path),
                               server=ServerSettings(trusted_proxies=trusted_proxies))


def _for(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def test_behind_a_trusted_proxy_failed_sign_ins_hold_back_their_client_only(
    aiohttp_client: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = await make_client(aiohttp_client, _settings(tmp_path, ["127.0.0.1"]))
    attempts = Settings().dashboard.login_attempts
    with caplog.at_level(logging.WARNING, logger="koprik.dashboard.signin"):
        for _ in range(attempts):
            assert (await sign_in(client, "alice", "guess", _for("203.0.113.7"))).status == 401
    assert "failed sign-in for 'alice' from 203.0.113.7" in caplog.text
    limited = await sign_in(client, "alice", PASSWORD, _for("203.0.113.7"))
    assert limited.status == 429 and LIMITED in await limited.text()
    forged = await sign_in(client, "alice", PASSWORD, _for("198.51.100.1, 203.0.113.7"))
    assert forged.status == 429
    other = await sign_in(client, "alice", PASSWORD, _for("203.0.113.8"))
    assert other.status == 303


async def test_behind_a_trusted_https_proxy_the_cookies_are_secure(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await make_client(aiohttp_client, _settings(tmp_path, ["127.0.0.1"]))
    page = await client.get("/signin", headers={"X-Forwarded-Proto": "https"})
    assert page.cookies[ANONYMOUS_COOKIE]["secure"]
    client.session.cookie_jar.clear()  # the test client sends no Secure cookie over http
    plain = await client.get("/signin", headers={"X-Forwarded-Proto": "http"})
    assert not plain.cookies[ANONYMOUS_COOKIE]["secure"]
    signed_in = await sign_in(client, headers={"X-Forwarded-Proto": "https"})
    assert signed_in.status == 303 and signed_in.cookies[SESSION_COOKIE]["secure"]


@pytest.mark.parametrize("trusted_proxies", [[], ["10.0.0.0/8", "::1"]])
async def test_from_a_peer_not_trusted_the_headers_change_nothing(
    aiohttp_client: Any, tmp_path: Path, trusted_proxies: list[str]
) -> None:
    client = await make_client(aiohttp_client, _settings(tmp_path, trusted_proxies))
    https = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
    page = await client.get("/signin", headers=https)
    assert page.status == 200 and not page.cookies[ANONYMOUS_COOKIE]["secure"]
    signed_in = await sign_in(client, headers=https)
    assert signed_in.status == 303 and not signed_in.cookies[SESSION_COOKIE]["secure"]
    for _ in range(Settings().dashboard.login_attempts):
        assert (await sign_in(client, "alice", "guess", _for("203.0.113.7"))).status == 401
    shared = await sign_in(client, "alice", PASSWORD, _for("203.0.113.8"))
    assert shared.status == 429  # one address, the peer's, for every client
