"""Secret keys kept in the catalogue: made at random on first use, then shared by every node."""

from __future__ import annotations

import secrets as random_source

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from catalog.models import secrets


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
    try:
        with engine.begin() as connection:
            connection.execute(insert(secrets).values(name=name, value=new))
    except IntegrityError:
        pass  # another node stored it first
    with engine.connect() as connection:
        return bytes(connection.execute(query).scalar_one())
