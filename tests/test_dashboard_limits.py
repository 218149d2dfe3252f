"""Failed sign-ins counted in a sliding window, per (address, name) and per address, in the
catalogue's ``login_failures`` table: every limiter on one catalogue (each worker and node has
its own) shares the count. On SQLite and on PostgreSQL."""

from __future__ import annotations

from sqlalchemy import func, select

from catalog import Catalog
from catalog.models import login_failures
from koprik.dashboard import limits
from koprik.dashboard.limits import LoginLimiter


def _rows(catalog: Catalog) -> int:
    with catalog.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(login_failures)).scalar())


def test_two_limiters_on_one_catalogue_share_the_count(catalog: Catalog) -> None:
    one, other = (LoginLimiter(catalog.engine, attempts=3, window=60) for _ in range(2))
    for second in range(3):
        assert other.allowed("10.0.0.1", "alice", now=second)
        one.failed("10.0.0.1", "alice", now=second)
    assert not other.allowed("10.0.0.1", "Alice", now=10)  # names compared case-folded
    assert other.allowed("10.0.0.2", "alice", now=10)  # another address
    assert other.allowed("10.0.0.1", "bob", now=10)
    assert not other.allowed("10.0.0.1", "alice", now=59.5)  # all three still in the window
    assert other.allowed("10.0.0.1", "alice", now=60)  # the first failure has aged out


def test_failures_spread_over_limiters_add_up(catalog: Catalog) -> None:
    limiters = [LoginLimiter(catalog.engine, attempts=4, window=60) for _ in range(2)]
    for n in range(4):
        assert limiters[0].allowed("10.0.0.1", "alice", now=n)
        limiters[n % 2].failed("10.0.0.1", "alice", now=n)  # two each: neither reached 4 alone
    assert not limiters[0].allowed("10.0.0.1", "alice", now=5)
    assert not limiters[1].allowed("10.0.0.1", "alice", now=5)


def test_one_address_trying_many_names_is_limited_too(catalog: Catalog) -> None:
    limiter = LoginLimiter(catalog.engine, attempts=2, window=60)
    for n in range(2 * limits.PER_ADDRESS_FACTOR):
        assert limiter.allowed("10.0.0.1", "someone-new", now=1)
        limiter.failed("10.0.0.1", f"user{n}", now=1)
    assert not limiter.allowed("10.0.0.1", "someone-new", now=2)
    assert limiter.allowed("10.0.0.2", "someone-new", now=2)


def test_success_clears_the_name_on_every_limiter(catalog: Catalog) -> None:
    one, other = (LoginLimiter(catalog.engine, attempts=2, window=60) for _ in range(2))
    one.failed("a", "alice", now=1)
    one.failed("a", "alice", now=2)
    assert not other.allowed("a", "alice", now=3)
    other.succeeded("a", "Alice")
    assert one.allowed("a", "alice", now=3)
    one.failed("a", "alice", now=4)
    assert one.allowed("a", "alice", now=5)


def test_the_table_is_bounded(catalog: Catalog) -> None:
    """Each key keeps its newest ``limit`` rows, and rows out of the window go on the next
    failure, whatever its key: the table holds at most the failures of one window."""
    limiter = LoginLimiter(catalog.engine, attempts=2, window=60)
    for second in range(50):
        limiter.failed("10.0.0.1", "alice", now=second)
    assert _rows(catalog) == 2 + 2 * limits.PER_ADDRESS_FACTOR  # the name's and the address's
    assert not limiter.allowed("10.0.0.1", "alice", now=50)
    for n in range(30):
        limiter.failed(f"host{n}", "x", now=200)
    assert _rows(catalog) == 30 * 2  # alice's rows were out of the window at 200
    limiter.failed("other", "y", now=1000)
    assert _rows(catalog) == 2
    long_name = "ß" * 100  # folds to 200 characters: cut to the column
    for _ in range(2):
        limiter.failed("::1" * 30, long_name, now=1000)
    assert not limiter.allowed("::1" * 30, long_name, now=1001)
