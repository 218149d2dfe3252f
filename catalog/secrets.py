"""Secret keys kept in the catalogue: made at random on first use, then shared by every node."""

from __future__ import annotations

import secrets as random_source
from contextlib import suppress

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from catalog.models import secrets
from catalog.transactions import executed


def stored_secret(engine: Engine, name: str) -> bytes:
    """The key called ``name``; the first caller makes it (32 random bytes) and stores it.

    Two nodes starting at once may both try to store one; the second insert fails on the
    primary key and that node reads the winner's key.
    """
    query = select(secrets.c.value).where(secrets.c.name == name)
    with engine.connect() as connection:
        value = connection.execute(query).scalar()
    if value is not None:
        return bytes(value)
    new = random_source.token_bytes(32)
    with suppress(IntegrityError):  # another node stored it first
        executed(engine, insert(secrets).values(name=name, value=new), f"storing key {name!r}")
    with engine.connect() as connection:
        return bytes(connection.execute(query).scalar_one())
