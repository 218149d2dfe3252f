"""Operators, their sessions and API tokens, in the catalogue database.

Passwords are hashed with Argon2id (``argon2-cffi``, the maintained binding of the reference
implementation; passlib is unmaintained and bcrypt truncates at 72 bytes) and never stored or
logged in clear. Session cookies and API tokens are random 256-bit values; only their SHA-256
is stored, so a copy of the database lets nobody sign in.

>>> add_user(engine, "alice", "correct horse battery staple")
>>> user = check_password(engine, "alice", "correct horse battery staple")   # None if wrong
>>> cookie, session = open_session(engine, user, lifetime=3600)   # None if changed meanwhile
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Engine, delete, insert, select, update

from catalog.models import user_sessions, users
from catalog.transactions import executed, transaction

_HASHER = PasswordHasher()
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}\Z")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
"""Longer passwords are refused before hashing: a megabyte 'password' is a cheap attack."""
_DUMMY_HASH = _HASHER.hash("not a password anyone has")


class AccountError(ValueError):
    """A user that cannot be added or changed (the message says why)."""


@dataclass(frozen=True)
class Session:
    user: str
    csrf: str
    expires: int


@dataclass(frozen=True)
class Verified:
    """A user whose password was verified, and the stored hash it was verified against."""

    name: str
    password_hash: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def add_user(engine: Engine, name: str, password: str) -> None:
    """Store a new operator with an Argon2id hash of ``password``; AccountError if refused."""
    if _NAME.match(name) is None:
        raise AccountError(f"user name {name!r}: use letters, digits, '.', '_', '@' or '-'")
    _check_password(password)
    hashed = _HASHER.hash(password)

    def add(connection: Connection) -> None:
        if connection.execute(select(users.c.name).where(users.c.name == name)).first():
            raise AccountError(f"a user named {name!r} exists already")
        connection.execute(
            insert(users).values(name=name, password_hash=hashed, created=int(time.time()))
        )

    transaction(engine, add, f"adding user {name!r}")


def user_exists(engine: Engine, name: str) -> bool:
    with engine.connect() as connection:
        found = connection.execute(select(users.c.name).where(users.c.name == name)).first()
    return found is not None


def set_password(engine: Engine, name: str, password: str) -> None:
    _check_password(password)
    hashed = _HASHER.hash(password)

    def change(connection: Connection) -> int:
        changed = connection.execute(
            update(users).where(users.c.name == name).values(password_hash=hashed)
        ).rowcount
        connection.execute(delete(user_sessions).where(user_sessions.c.user == name))
        return int(changed)

    if not transaction(engine, change, f"changing the password of user {name!r}"):
        raise AccountError(f"no user named {name!r}")


def remove_user(engine: Engine, name: str) -> None:
    def remove(connection: Connection) -> None:
        # the user's row locked first: a session opened meanwhile (open_session locks it too)
        # is either deleted here or not opened
        connection.execute(select(users.c.name).where(users.c.name == name).with_for_update())
        connection.execute(delete(user_sessions).where(user_sessions.c.user == name))
        if not connection.execute(delete(users).where(users.c.name == name)).rowcount:
            raise AccountError(f"no user named {name!r}")

    transaction(engine, remove, f"removing user {name!r}")


def list_users(engine: Engine) -> list[tuple[str, int, bool]]:
    """``(name, created, has an API token)`` of every user, by name."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(users.c.name, users.c.created, users.c.token_hash).order_by(users.c.name)
        ).all()
    return [(row.name, row.created, row.token_hash is not None) for row in rows]


def _check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise AccountError(f"a password needs {MIN_PASSWORD} to {MAX_PASSWORD} characters")


def check_password(engine: Engine, name: str, password: str) -> Verified | None:
    """The user and the hash ``password`` was verified against when it is theirs, else None
    (whichever part was wrong, or the password changed meanwhile).

    An unknown name costs one hash verification too, so timing does not tell names apart.
    """
    if len(password) > MAX_PASSWORD:
        return None
    with engine.connect() as connection:
        stored = connection.execute(
            select(users.c.password_hash).where(users.c.name == name)
        ).scalar()
    try:
        _HASHER.verify(stored or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if stored is None:
        return None
    if _HASHER.check_needs_rehash(stored):
        hashed = _HASHER.hash(password)
        rehashed = update(users).where(users.c.name == name, users.c.password_hash == stored)
        if not executed(engine, rehashed.values(password_hash=hashed),
                        f"hashing the password of user {name!r} again"):
            return None  # changed meanwhile: the old one is not written back over it
        stored = hashed
    return Verified(name, stored)


def new_token(engine: Engine, name: str) -> str:
    """Make (or replace) the user's API token; returns it (it is shown this once)."""
    token = "kpk_" + secrets.token_urlsafe(32)
    made = update(users).where(users.c.name == name).values(token_hash=_digest(token))
    if not executed(engine, made, f"making an API token of user {name!r}"):
        raise AccountError(f"no user named {name!r}")
    return token


def revoke_token(engine: Engine, name: str) -> bool:
    """Clear the user's API token, so requests with it are refused from now on (the password
    and sessions stay); returns whether there was one. AccountError for an unknown user."""
    def revoke(connection: Connection) -> bool:
        had = connection.execute(
            select(users.c.token_hash).where(users.c.name == name)
        ).first()
        if had is None:
            raise AccountError(f"no user named {name!r}")
        connection.execute(update(users).where(users.c.name == name).values(token_hash=None))
        return had.token_hash is not None

    return transaction(engine, revoke, f"revoking the API token of user {name!r}")


def user_of_token(engine: Engine, token: str) -> str | None:
    if not token or len(token) > 200:
        return None
    with engine.connect() as connection:
        return connection.execute(
            select(users.c.name).where(users.c.token_hash == _digest(token))
        ).scalar()


def open_session(engine: Engine, user: Verified, lifetime: int) -> tuple[str, Session] | None:
    """A new session of ``user`` for ``lifetime`` seconds: the cookie value and the session;
    None when the user's password is no longer the one verified, or the user is gone.

    The check is in the session's own transaction, with the user's row locked: verifying a
    password takes 0.3 s, and a ``koprik users passwd`` that ended the user's sessions in
    that time left the session opened next, with the old password, alive for its lifetime.
    """
    cookie = secrets.token_urlsafe(32)
    session = Session(user.name, secrets.token_urlsafe(32), int(time.time()) + lifetime)
    now = int(time.time())

    def open_(connection: Connection) -> bool:
        # a write first: on SQLite the transaction holds the write lock from here on
        connection.execute(delete(user_sessions).where(user_sessions.c.expires < now))
        stored = connection.execute(
            select(users.c.password_hash).where(users.c.name == user.name).with_for_update()
        ).scalar()
        if stored is None or not same_secret(stored, user.password_hash):
            return False
        connection.execute(
            insert(user_sessions).values(
                id_hash=_digest(cookie), user=user.name, csrf=session.csrf,
                expires=session.expires,
            )
        )
        return True

    if not transaction(engine, open_, f"opening a session of user {user.name!r}"):
        return None
    return cookie, session


def find_session(engine: Engine, cookie: str) -> Session | None:
    """The live session of a cookie value, or None (unknown, ended or expired)."""
    if not cookie or len(cookie) > 200:
        return None
    with engine.connect() as connection:
        row = connection.execute(
            select(user_sessions).where(user_sessions.c.id_hash == _digest(cookie))
        ).first()
    if row is None or row.expires <= time.time():
        return None
    return Session(row.user, row.csrf, row.expires)


def close_session(engine: Engine, cookie: str) -> None:
    closed = delete(user_sessions).where(user_sessions.c.id_hash == _digest(cookie))
    executed(engine, closed, "closing a session")


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison of two tokens."""
    return hmac.compare_digest(given.encode(), expected.encode())
