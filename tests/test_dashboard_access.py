"""Access to the dashboard: sign-in, sessions, CSRF, write actions, the API's tokens."""

from __future__ import annotations

import asyncio
import dataclasses
import math
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import insert, select, update

from catalog.harvest_state import harvest_rejects, harvest_runs
from catalog.models import user_sessions, users
from config import ServerSettings
from koprik.dashboard import accounts, signin
from koprik.dashboard.accounts import new_token, remove_user, set_password
from koprik.dashboard.signin import LIMITED, REFUSED
from provider.keys import CATALOG, SETTINGS
from tests.dashboard_fixtures import (
    PASSWORD,
    UNREADABLE_FORMS,
    client,  # noqa: F401  (fixture)
    csrf_of,
    dashboard_settings,
    make_client,
    served,
    sign_in,
)
from tests.test_http_server import connect, head_of, post, response_of

PUBLIC_POSTS = {"/signin", "/signout", "/workbench"}
"""The dashboard's POST routes that need no operator: signing in and out, and the workbench
(it converts, it writes nothing). The protocols' own POSTs (OAI-PMH, SRU) are not the
dashboard's."""


def _post_routes(app: Any) -> list[tuple[str, str]]:
    found = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        ours = getattr(route.handler, "__module__", "").startswith("koprik.dashboard")
        if ours and route.method in ("POST", "PATCH", "DELETE") and path not in PUBLIC_POSTS:
            found.append((route.method, path.replace("{name}", "x").replace("{run}", "1")))
    return found


async def test_sign_in_goes_back_to_this_site_only(client: Any) -> None:  # noqa: F811
    """A browser drops tabs and line breaks from a Location and reads a backslash as a slash:
    ``/<TAB>/evil.example`` would send the operator to another site once signed in."""
    token = csrf_of(await (await client.get("/signin")).text())
    for target, expected in (("/runs/3?source=a%20b", "/runs/3?source=a%20b"),
                             ("//evil.example", "/"), ("/\\evil.example", "/"),
                             ("/\t/evil.example", "/"), ("/\n/evil.example", "/"),
                             ("/\r\n/evil.example", "/"), ("/\t\\evil.example", "/"),
                             ("https://evil.example/", "/")):
        client.session.cookie_jar.clear_domain("127.0.0.1")
        client.session.cookie_jar.update_cookies({"koprik_csrf": token})
        response = await client.post("/signin", data={"csrf": token, "name": "alice",
                                                      "password": PASSWORD, "next": target},
                                     allow_redirects=False)
        assert response.status == 303, target
        assert response.headers["Location"] == expected, target


async def test_sign_in_and_out(client: Any) -> None:  # noqa: F811
    response = await sign_in(client)
    assert response.status == 303 and response.headers["Location"] == "/sources"
    page = await client.get("/sources")
    assert page.status == 200 and "alice" in await page.text()
    token = csrf_of(await page.text())
    out = await client.post("/signout", data={"csrf": token}, allow_redirects=False)
    assert out.status == 303
    after = await client.get("/sources", allow_redirects=False)
    assert after.status == 303 and after.headers["Location"].startswith("/signin")


async def test_a_wrong_password_and_an_unknown_name_get_the_same_answer(client: Any) -> None:  # noqa: F811
    wrong_password = await sign_in(client, "alice", "not the password")
    unknown_name = await sign_in(client, "mallory", PASSWORD)
    for response in (wrong_password, unknown_name):
        assert response.status == 401
        text = await response.text()
        assert REFUSED in text
    assert (await wrong_password.text()).replace("alice", "") == (
        await unknown_name.text()).replace("mallory", "").replace(
            csrf_of(await unknown_name.text()), csrf_of(await wrong_password.text()))


async def test_failed_sign_ins_are_limited(client: Any, caplog: Any) -> None:  # noqa: F811
    for _ in range(5):
        assert (await sign_in(client, "alice", "guess")).status == 401
    limited = await sign_in(client, "alice", PASSWORD)  # even the right password, for now
    assert limited.status == 429 and LIMITED in await limited.text()
    window = client.app[SETTINGS].dashboard.login_window
    assert limited.headers["Retry-After"] == str(math.ceil(window))
    assert "failed sign-in for 'alice'" in caplog.text


async def test_every_write_action_needs_a_signed_in_operator(client: Any) -> None:  # noqa: F811
    routes = _post_routes(client.app)
    forms = [(m, p) for m, p in routes if not p.startswith("/api/")]
    api = [(m, p) for m, p in routes if p.startswith("/api/")]
    assert len(forms) >= 7 and len(api) >= 5
    page = await client.get("/signin")
    token = csrf_of(await page.text())  # even with a valid anonymous token
    for method, path in forms:
        response = await client.request(method, path, data={"csrf": token},
                                        allow_redirects=False)
        assert response.status == 303, (path, response.status)
        assert response.headers["Location"].startswith("/signin"), path
    for method, path in api:
        response = await client.request(method, path, json={})
        assert response.status == 401, (path, response.status)
        bad = await client.request(method, path, json={},
                                   headers={"Authorization": "Bearer kpk_forged"})
        assert bad.status == 401, path


async def test_a_form_without_its_csrf_token_is_refused(client: Any) -> None:  # noqa: F811
    await sign_in(client)
    for data in ({}, {"csrf": "forged-token-forged-token"}):
        for path in ("/sources/x/remove", "/sources", "/signout", "/runs/1/retry"):
            response = await client.post(path, data=data, allow_redirects=False)
            assert response.status == 403, (path, data)
    assert (await client.get("/sources")).status == 200  # still signed in
    client.session.cookie_jar.clear()
    anonymous = await client.post("/signin", data={"name": "alice", "password": PASSWORD},
                                  allow_redirects=False)
    assert anonymous.status == 403


async def test_a_form_that_cannot_be_read_is_a_bad_request(client: Any, caplog: Any) -> None:  # noqa: F811
    anonymous = csrf_of(await (await client.get("/signin")).text())
    for content_type, body in UNREADABLE_FORMS:
        response = await client.post("/signin", data=body.replace(b"TOKEN", anonymous.encode()),
                                     headers={"Content-Type": content_type})
        text = await response.text()
        assert response.status == 400, (content_type, body)
        assert text.startswith("The form could not be read") and "\n" not in text.strip()
    await sign_in(client)
    session = csrf_of(await (await client.get("/sources")).text())
    for content_type, body in UNREADABLE_FORMS:
        response = await client.post("/sources", data=body.replace(b"TOKEN", session.encode()),
                                     headers={"Content-Type": content_type})
        assert response.status == 400, (content_type, body)
    assert "Traceback" not in caplog.text


async def test_sessions_expire(client: Any) -> None:  # noqa: F811
    await sign_in(client)
    assert (await client.get("/sources", allow_redirects=False)).status == 200
    engine = client.app[CATALOG].engine
    with engine.begin() as connection:
        connection.execute(update(user_sessions).values(expires=1))
    assert (await client.get("/sources", allow_redirects=False)).status == 303


async def test_passwords_and_tokens_are_not_stored_in_clear(client: Any, tmp_path: Any) -> None:  # noqa: F811
    await sign_in(client)
    engine = client.app[CATALOG].engine
    token = new_token(engine, "alice")
    with engine.connect() as connection:
        stored = connection.execute(select(users.c.password_hash, users.c.token_hash)).one()
    assert stored.password_hash.startswith("$argon2id$")
    engine.dispose()
    database = (tmp_path / "catalog.sqlite3").read_bytes()
    for path in tmp_path.glob("catalog.sqlite3*"):
        database += path.read_bytes()
    assert PASSWORD.encode() not in database and token.encode() not in database


async def test_api_token(client: Any) -> None:  # noqa: F811
    token = new_token(client.app[CATALOG].engine, "alice")
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/sources", headers=headers)).status == 200
    assert await (await client.get("/api/runs", headers=headers)).json() == []
    refused = await client.post("/api/sources", headers=headers,
                                json={"name": "bad name!", "url": "http://127.0.0.1:9/oai"})
    assert refused.status == 400 and "source name" in (await refused.json())["error"]


async def test_records_are_public_unless_configured(aiohttp_client: Any, tmp_path: Any) -> None:
    public = await make_client(aiohttp_client, dashboard_settings(tmp_path / "a"))
    assert (await public.get("/records", allow_redirects=False)).status == 200
    assert (await public.get("/partner", allow_redirects=False)).status == 200
    closed = await make_client(aiohttp_client, dashboard_settings(
        tmp_path / "b", public_records=False, public_partner=False))
    for path in ("/records", "/partner", "/", "/workbench"):
        assert (await closed.get(path, allow_redirects=False)).status == 303, path
    await sign_in(closed)
    assert (await closed.get("/records", allow_redirects=False)).status == 200


async def test_a_form_must_arrive_within_the_request_timeout(
    aiohttp_client: Any, tmp_path: Any
) -> None:
    """A POST body trickled (or never finished) held its connection for ever: the request
    timeout stops when the handler starts, and forms were read without a bound in time."""
    settings = dataclasses.replace(dashboard_settings(tmp_path),
                                   server=ServerSettings(http_request_timeout=1.0))
    client = await make_client(aiohttp_client, settings)  # noqa: F811
    token = new_token(client.app[CATALOG].engine, "alice")
    for path, kind in (("/signin", "application/x-www-form-urlencoded"),
                       ("/workbench", "multipart/form-data; boundary=XX"),
                       ("/api/sources", "application/json")):
        reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
        writer.write(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {kind}\r\n"
                     f"Authorization: Bearer {token}\r\n"
                     f"Content-Length: 1000\r\n\r\n--XX\r\n".encode())  # and no more
        status = await asyncio.wait_for(reader.readline(), 60)
        assert status.startswith(b"HTTP/1.1 408"), (path, status)
        writer.close()


def test_expect_100_continue_over_the_form_limit_gets_no_100_on_any_form(tmp_path: Any) -> None:
    """Every dashboard form (and the workbench) sent with ``Expect: 100-continue`` and a
    Content-Length over what the route reads is answered at once, with no 100 (Continue) first
    and its connection closed, so its body is never sent: aiohttp sent the 100, and the client
    its body, of which aiohttp read up to client_max_size (1 MiB) to refuse it. A form anyone
    may send (the sign-in) is 413, one that needs an operator sends the client to sign in."""
    with served(dashboard_settings(tmp_path)) as (base, app):
        forms = [path for _, path in _post_routes(app) if not path.startswith("/api/")]
        for path in sorted(PUBLIC_POSTS) + forms:
            with connect(base) as sock:
                sock.sendall(post(path, b"", "Expect: 100-continue", f"Content-Length: {1 << 30}"))
                first = head_of(sock)
                assert first.startswith((b"HTTP/1.1 413", b"HTTP/1.1 303")), (path, first)
                assert b"Connection: close" in first + response_of(sock), path
    assert len(forms) == 9


async def test_a_page_shows_only_the_messages_the_server_gave(client: Any) -> None:  # noqa: F811
    """``?message=`` showed any text a link put in it (escaped, but a page of ours saying what
    a stranger wrote). A message is shown when a redirect of the server gave it to this
    operator (signed for the session), or when it is one of the fixed few ("saved")."""
    headers = {"Authorization": f"Bearer {new_token(client.app[CATALOG].engine, 'alice')}"}
    created = await client.post("/api/sources", headers=headers, json={
        "name": "p", "url": "http://127.0.0.1:9/oai", "prefix": "marc21", "check": False})
    assert created.status == 201, await created.text()
    await sign_in(client)
    forged = "/sources?message=Your+password+expired%3A+mail+it+to+evil%40example.org"
    assert "evil@example.org" not in await (await client.get(forged)).text()
    token = csrf_of(await (await client.get("/sources")).text())
    off = await client.post("/sources/p/enabled", data={"csrf": token, "enabled": "no"},
                            allow_redirects=False)
    given = off.headers["Location"]
    assert '<p class="message" role="status">disabled p</p>' in await (
        await client.get(given)).text()
    tampered = given.replace("disabled+p", "disabled+p+and+mail+your+password")
    assert 'class="message"' not in await (await client.get(tampered)).text()
    assert '<p class="message" role="status">saved</p>' in await (
        await client.get("/sources/p?message=saved")).text()
    await client.post("/signout", data={"csrf": token})
    await sign_in(client)  # another session: the message was not given to it
    assert 'class="message"' not in await (await client.get(given)).text()


def _then_after_verifying(monkeypatch: Any, change: Any) -> None:
    """``change()`` done by the sign-in handler between verifying the password and opening the
    session (where ``koprik users passwd`` or ``users remove`` from another process can land:
    verifying takes 0.3 s)."""
    verify = signin.check_password

    def verified_then_changed(*args: Any) -> Any:
        user = verify(*args)
        change()
        return user

    monkeypatch.setattr(signin, "check_password", verified_then_changed)


async def test_a_password_changed_as_it_is_checked_opens_no_session(
    client: Any, monkeypatch: Any, caplog: Any,  # noqa: F811
) -> None:
    """``koprik users passwd`` ends the user's sessions; one opened with the old password just
    after that (its password verified just before) stayed valid for its whole lifetime."""
    engine = client.app[CATALOG].engine
    _then_after_verifying(monkeypatch, lambda: set_password(engine, "alice", "a new password"))
    response = await sign_in(client)
    assert response.status == 401 and REFUSED in await response.text()
    with engine.connect() as connection:
        assert connection.execute(select(user_sessions)).all() == []
    assert "failed sign-in for 'alice' from 127.0.0.1: the password was changed" in caplog.text
    monkeypatch.undo()
    assert (await sign_in(client, password="a new password")).status == 303


async def test_a_password_changed_as_its_old_hash_is_renewed_stays_changed(
    client: Any, monkeypatch: Any,  # noqa: F811
) -> None:
    """A hash of older parameters is renewed at sign-in, from the password just verified: a
    ``koprik users passwd`` in between was undone, the old password written back over it."""
    engine = client.app[CATALOG].engine
    with engine.begin() as connection:
        connection.execute(update(users).values(
            password_hash=PasswordHasher(time_cost=1).hash(PASSWORD)))

    class ChangedAsItIsChecked(PasswordHasher):
        def check_needs_rehash(self, hash: str) -> bool:
            set_password(engine, "alice", "a new password")
            return super().check_needs_rehash(hash)

    monkeypatch.setattr(accounts, "_HASHER", ChangedAsItIsChecked())
    assert (await sign_in(client)).status == 401
    monkeypatch.undo()
    assert (await sign_in(client, password="a new password")).status == 303


async def test_a_user_removed_as_their_password_is_checked_is_a_failed_sign_in(
    client: Any, monkeypatch: Any, caplog: Any,  # noqa: F811
) -> None:
    """``koprik users remove`` between verifying the password and opening the session: the
    session's INSERT failed its foreign key, a 500 with a traceback in the log."""
    engine = client.app[CATALOG].engine
    _then_after_verifying(monkeypatch, lambda: remove_user(engine, "alice"))
    response = await sign_in(client)
    assert response.status == 401 and REFUSED in await response.text()
    said = [record.getMessage() for record in caplog.records if "'alice'" in record.getMessage()]
    assert said == ["failed sign-in for 'alice' from 127.0.0.1: the password was changed or "
                    "the user removed as it was checked"]
    assert "Traceback" not in caplog.text and not [r for r in caplog.records if r.exc_info]


async def test_failed_sign_ins_from_one_ipv6_64_count_together(
    aiohttp_client: Any, tmp_path: Any,
) -> None:
    """A client usually holds a whole IPv6 /64: keyed on the full address, 30 wrong passwords
    for one name from 30 addresses of one /64 were all answered 401, none 429. An IPv4-mapped
    IPv6 address is its IPv4 address."""
    settings = dashboard_settings(tmp_path)
    settings = dataclasses.replace(settings, server=dataclasses.replace(
        settings.server, trusted_proxies=["127.0.0.1"]))
    proxied = await make_client(aiohttp_client, settings)
    for n in range(5):
        forwarded = {"X-Forwarded-For": f"2001:db8::{n:x}"}
        assert (await sign_in(proxied, "alice", "guess", headers=forwarded)).status == 401
    same_64 = {"X-Forwarded-For": "2001:db8::ffff:1:2"}
    assert (await sign_in(proxied, "alice", PASSWORD, headers=same_64)).status == 429
    another_64 = {"X-Forwarded-For": "2001:db8:0:1::1"}
    assert (await sign_in(proxied, "alice", PASSWORD, headers=another_64)).status == 303
    mapped = {"X-Forwarded-For": "::ffff:192.0.2.1"}
    for _ in range(5):
        assert (await sign_in(proxied, "bob", "guess", headers=mapped)).status == 401
    ipv4 = {"X-Forwarded-For": "192.0.2.1"}
    assert (await sign_in(proxied, "bob", "guess", headers=ipv4)).status == 429


async def test_operator_pages_are_not_stored_nor_anything_sniffed(client: Any) -> None:  # noqa: F811
    """An operator's pages were kept by the browser (the back button showed them after
    sign-out); pages and a reject's download were sent without nosniff; sign-out deleted the
    session cookie without the attributes it was set with."""
    anonymous = await client.get("/signin")
    assert anonymous.headers["X-Content-Type-Options"] == "nosniff"
    assert "Cache-Control" not in anonymous.headers
    with client.app[CATALOG].engine.begin() as connection:
        run_id = connection.execute(insert(harvest_runs).values(
            source="partner", status="succeeded", started=1, finished=2,
        )).inserted_primary_key[0]
        reject_id = connection.execute(insert(harvest_rejects).values(
            source="partner", run_id=run_id, identifier="oai:x:1", reason="broken",
            raw=b"<html><script>alert(1)</script></html>",
        )).inserted_primary_key[0]
    await sign_in(client)
    for path in ("/sources", f"/runs/{run_id}", f"/rejects/{reject_id}", "/records"):
        response = await client.get(path, allow_redirects=False)
        assert response.status == 200, path
        assert response.headers["Cache-Control"] == "no-store", path
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
    token = csrf_of(await (await client.get("/sources")).text())
    out = await client.post("/signout", data={"csrf": token}, allow_redirects=False)
    deleted = out.cookies["koprik_session"]
    assert deleted.value == "" and deleted["httponly"] and deleted["samesite"] == "Lax"
