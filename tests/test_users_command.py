"""``koprik users``: operators added with a password read from stdin, stored only as a hash."""

from __future__ import annotations

import io
import sqlite3

import pytest

from koprik.cli import main
from tests.dashboard_fixtures import dashboard_settings, make_client, sign_in


@pytest.fixture
def config(tmp_path):  # type: ignore[no-untyped-def]
    path = tmp_path / "koprik.toml"
    path.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "c.sqlite3"}"\n')
    return path


def _run(config, monkeypatch, *args: str, stdin: str | bytes | None = "") -> int:  # type: ignore[no-untyped-def]
    """``koprik users ARGS`` with ``stdin`` piped (bytes as they are, text in UTF-8; None: it
    is closed, as with ``<&-``)."""
    if isinstance(stdin, str):
        stdin = stdin.encode()
    piped = None if stdin is None else io.TextIOWrapper(io.BytesIO(stdin), errors="surrogateescape")
    monkeypatch.setattr("sys.stdin", piped)
    return main(["--config", str(config), "users", *args])


def test_add_list_token_passwd_remove(config, monkeypatch, capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert _run(config, monkeypatch, "add", "alice", stdin="s3cret-password\n") == 0
    assert _run(config, monkeypatch, "add", "alice", stdin="s3cret-password\n") == 2
    assert "exists already" in capsys.readouterr().err
    assert _run(config, monkeypatch, "add", "bob", stdin="short\n") == 2
    assert "8 to 1024 characters" in capsys.readouterr().err
    assert _run(config, monkeypatch, "token", "alice") == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("kpk_")
    assert _run(config, monkeypatch, "list") == 0
    assert "alice" in capsys.readouterr().out
    stored = sqlite3.connect(tmp_path / "c.sqlite3").execute(
        "SELECT password_hash, token_hash FROM users").fetchone()
    assert stored[0].startswith("$argon2id$") and "s3cret" not in stored[0]
    assert token not in stored[1]
    assert _run(config, monkeypatch, "passwd", "alice", stdin="another-password\n") == 0
    assert _run(config, monkeypatch, "remove", "alice") == 0
    assert _run(config, monkeypatch, "remove", "alice") == 2


def test_an_unknown_or_taken_name_is_said_before_a_password_is_asked(
    config, monkeypatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    """With nothing on stdin, the name's problem is what is said (not the empty password's)."""
    assert _run(config, monkeypatch, "add", "alice", stdin="s3cret-password\n") == 0
    capsys.readouterr()
    assert _run(config, monkeypatch, "passwd", "nosuch") == 2
    assert capsys.readouterr().err == "koprik: no user named 'nosuch'\n"
    assert _run(config, monkeypatch, "add", "alice") == 2
    assert capsys.readouterr().err == "koprik: a user named 'alice' exists already\n"


@pytest.mark.parametrize(("stdin", "message"), [
    (b"\xfflongpassword\n", "the password on standard input is not UTF-8 text"),
    (bytes(range(256)) * 4096, "the password on standard input is longer than 1024 characters"),
    (b"longpassword\nsecond line\n", "the password on standard input has more than one line: "
                                      "pipe the password alone, as one line"),
    (None, "there is no standard input to read the password from (it is closed)"),
])  # fmt: skip
@pytest.mark.parametrize("action", ["add", "passwd"])
def test_a_password_that_cannot_be_read_whole_is_one_line(
    config, monkeypatch, capsys, stdin, message, action
) -> None:  # type: ignore[no-untyped-def]
    """A piped password that was not UTF-8 (``printf '\\xff...'``, 1 MB of /dev/urandom) was a
    traceback at the hash, "surrogates not allowed"; a closed standard input (``<&-``) one
    from ``isatty``; a second line piped was dropped without a word. Each is now one line,
    status 2, and nothing is changed."""
    if action == "passwd":
        assert _run(config, monkeypatch, "add", "alice", stdin="s3cret-password\n") == 0
    name = "alice" if action == "passwd" else "bob"
    capsys.readouterr()
    assert _run(config, monkeypatch, action, name, stdin=stdin) == 2
    assert capsys.readouterr().err == f"koprik: {message}\n"
    assert _run(config, monkeypatch, "list") == 0
    assert "bob" not in capsys.readouterr().out


def test_a_piped_password_may_end_its_line_or_not(config, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """One line, with ``\n``, ``\r\n`` or no line end, is the password (UTF-8 beyond ASCII too)."""
    assert _run(config, monkeypatch, "add", "a", stdin="pässwörd-1\r\n") == 0
    assert _run(config, monkeypatch, "add", "b", stdin="pässwörd-2") == 0
    assert _run(config, monkeypatch, "passwd", "b", stdin="pässwörd-3\n") == 0


async def test_a_revoked_token_is_refused_by_the_api(
    aiohttp_client, tmp_path, monkeypatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    """``users revoke-token``: the token made by ``users token`` opens the API over HTTP until
    it is revoked, then gets 401; the password still signs in. An unknown name is one line and
    status 2, as ``passwd`` says it."""
    settings = dashboard_settings(tmp_path)
    config = tmp_path / "koprik.toml"
    config.write_text(f'[database]\nurl = "{settings.database.url}"\n')
    client = await make_client(aiohttp_client, settings)  # alice, on the same catalogue
    assert _run(config, monkeypatch, "token", "alice") == 0
    bearer = {"Authorization": f"Bearer {capsys.readouterr().out.strip()}"}
    assert (await client.get("/api/sources", headers=bearer)).status == 200

    assert _run(config, monkeypatch, "revoke-token", "alice") == 0
    assert capsys.readouterr().out == "revoked the API token of alice\n"
    assert (await client.get("/api/sources", headers=bearer)).status == 401
    assert (await sign_in(client)).status == 303  # the password is untouched
    assert _run(config, monkeypatch, "list") == 0
    assert "api token" not in capsys.readouterr().out

    assert _run(config, monkeypatch, "revoke-token", "alice") == 0
    assert capsys.readouterr().out == "alice had no API token: nothing to revoke\n"
    assert _run(config, monkeypatch, "revoke-token", "nosuch") == 2
    assert capsys.readouterr() == ("", "koprik: no user named 'nosuch'\n")
