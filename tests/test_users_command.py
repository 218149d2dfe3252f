"""``koprik users``: operators added with a password read from stdin, stored only as a hash."""

from __future__ import annotations

import io
import sqlite3

import pytest

from koprik.cli import main


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
    assert _run(config, monkeypatch, "passwd", "nosuch") == 2
    assert capsys.readouterr().err == "koprik: no user named 'nosuch'\n"
    assert _run(config, monkeypatch, "add", "alice", stdin="s3cret-password\n") == 0
    capsys.readouterr()
    assert _run(config, monkeypatch, "add", "alice") == 2
    assert capsys.readouterr().err == "koprik: a user named 'alice' exists already\n"
