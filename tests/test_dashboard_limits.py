"""Failed sign-ins counted in a sliding window, per (address, name) and per address."""

from __future__ import annotations

from koprik.dashboard import limits
from koprik.dashboard.limits import LoginLimiter


def test_window_slides() -> None:
    limiter = LoginLimiter(attempts=3, window=60)
    for second in range(3):
        assert limiter.allowed("10.0.0.1", "alice", now=second)
        limiter.failed("10.0.0.1", "alice", now=second)
    assert not limiter.allowed("10.0.0.1", "Alice", now=10)  # names compared case-folded
    assert limiter.allowed("10.0.0.2", "alice", now=10)  # another address
    assert limiter.allowed("10.0.0.1", "bob", now=10)
    assert limiter.allowed("10.0.0.1", "alice", now=61)  # the first failure has aged out


def test_one_address_trying_many_names_is_limited_too() -> None:
    limiter = LoginLimiter(attempts=2, window=60)
    for n in range(2 * limits.PER_ADDRESS_FACTOR):
        limiter.failed("10.0.0.1", f"user{n}", now=1)
    assert not limiter.allowed("10.0.0.1", "someone-new", now=2)


def test_success_clears_the_name_and_memory_is_bounded(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    limiter = LoginLimiter(attempts=2, window=60)
    limiter.failed("a", "alice", now=1)
    limiter.succeeded("a", "alice")
    limiter.failed("a", "alice", now=2)
    assert limiter.allowed("a", "alice", now=3)
    monkeypatch.setattr(limits, "MAX_KEYS", 10)
    for n in range(100):
        limiter.failed(f"host{n}", "x", now=5)
    assert len(limiter._failures) <= 10
