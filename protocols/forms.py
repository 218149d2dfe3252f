"""The parameters of a query string or an ``application/x-www-form-urlencoded`` body, as OAI-PMH
and SRU both take them: UTF-8, %-escaped or raw.

A byte that is not part of UTF-8 is kept as a lone surrogate (Python's ``surrogateescape``)
rather than turned into U+FFFD, so that each protocol can refuse the parameter by name: read as
U+FFFD, a Cyrillic title sent in windows-1251 was searched for, matched nothing, and the client
was told "no hits" instead of what was wrong with its request.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qsl


def form_pairs(form: bytes | str) -> list[tuple[str, str]]:
    """The ``(name, value)`` pairs of ``form`` in order, bytes not in UTF-8 kept as surrogates."""
    text = form.decode("utf-8", "surrogateescape") if isinstance(form, bytes) else form
    return parse_qsl(text, keep_blank_values=True, errors="surrogateescape")


def first_not_utf8(pairs: Iterable[tuple[str, str]]) -> tuple[str, str] | None:
    """The first pair whose name or value held a byte that is not UTF-8, as it can be shown."""
    for name, value in pairs:
        if not (is_utf8(name) and is_utf8(value)):
            return shown(name), shown(value)
    return None


def is_utf8(text: str) -> bool:
    """Whether ``text`` holds no byte that was not UTF-8 (each is a lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def shown(text: str) -> str:
    """``text`` with each byte that was not UTF-8 as U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
