"""Whether a URL is an address an HTTP request can go to: what a harvest source, an SRU copy
target, ``koprik sru`` and the base URL Identify announces are each checked with, in one place
(and without loading an HTTP client, as the settings are read by every command)."""

from __future__ import annotations

from urllib.parse import urlsplit


def http_url_problem(url: str) -> str | None:
    """Why ``url`` is no address an HTTP request can go to (None: it is one): its scheme is
    not http or https, it names no host or one with white space, its port is not a number from 1
    to 65535 (0 is no port to connect to), its IPv6 address is not closed, or it is not text that
    can be sent (undecodable bytes), or its host is not a valid internationalized domain name
    (:func:`idna_problem`)."""
    try:
        url.encode("utf-8")
    except UnicodeError:
        return "not UTF-8 text"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        return str(error)
    if parts.scheme not in ("http", "https"):
        return "expected http:// or https://"
    if not parts.hostname:
        return "no host"
    if any(character.isspace() for character in parts.hostname):
        return f"white space in its host {parts.hostname!r}"  # no run could reach it
    if port == 0:
        return "port 0 is no port to connect to"
    return idna_problem(parts.hostname, http=True)


def idna_problem(host: str, *, http: bool) -> str | None:
    """Why ``host`` has no IDNA form to be looked up by (None: it has one, or is ASCII), as
    :func:`ascii_host` writes it. ``a..bücher.example`` (an empty label beside one in Unicode)
    has none."""
    try:
        ascii_host(host, http=http)
    except ValueError as error:  # UnicodeError is one
        reason = error.__cause__ or error  # the codec's own words, without its wrapper
        return f"host {host!r} is not a valid internationalized domain name (IDNA: {reason})"
    return None


def ascii_host(host: str, *, http: bool) -> str:
    """``host`` in lowercase, a name with characters beyond ASCII in its IDNA form
    (``bücher.example`` is ``xn--bcher-kva.example``) as a request looks it up: over HTTP as
    aiohttp writes it (yarl, IDNA 2008: ``straße`` is ``xn--strae-oqa``), else as the socket
    module does (Python's ``idna`` codec, IDNA 2003: ``straße`` is ``strasse``; a Z39.50
    target's); raises ValueError (a UnicodeError) for one it cannot write."""
    if host.isascii():
        return host.lower()
    if not http:
        return host.encode("idna").decode("ascii").lower()
    from yarl import URL  # here: only a name beyond ASCII needs it

    return URL.build(scheme="http", host=host).raw_host or ""


def z3950_in_place_of_http(url: str, protocol: str) -> str | None:
    """Why ``url``, given where an HTTP address of ``protocol`` is expected (an OAI-PMH or SRU
    source's, an SRU copy target's), is not one when it is a Z39.50 address (None otherwise):
    its protocol was left out, and "expected http:// or https://" said nothing of that."""
    if not url.lower().startswith("z3950://"):
        return None
    return f"a Z39.50 address; give protocol z3950 (it is {protocol})"
