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


def _run(config, monkeypatch, *args: str, stdin: str = "") -> int:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
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
