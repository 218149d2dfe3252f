"""The OAI-PMH schema's ``xs:anyURI`` (identifiers, baseURL, the ``<request>`` element), as
libxml2 checks it: what a response may hold where the schema wants a URI."""

from __future__ import annotations

import re


def _uri_reference() -> re.Pattern[str]:
    """RFC 3986's URI-reference (a port of at least one digit, an IP literal loosely)."""
    unreserved, sub_delims, pct = r"A-Za-z0-9\-._~", r"!$&'()*+,;=", r"%[0-9A-Fa-f]{2}"
    pchar = rf"(?:[{unreserved}{sub_delims}:@]|{pct})"
    query = rf"(?:{pchar}|[/?])*"
    host = rf"(?:\[[0-9A-Fa-f:.]+\]|(?:[{unreserved}{sub_delims}]|{pct})*)"
    authority = rf"(?:(?:[{unreserved}{sub_delims}:]|{pct})*@)?{host}(?::[0-9]+)?"
    path_abempty = rf"(?:/{pchar}*)*"
    path_absolute = rf"/(?:{pchar}+{path_abempty})?"
    tail = rf"(?:\?{query})?(?:#{query})?"
    uri = (rf"[A-Za-z][A-Za-z0-9+\-.]*:(?://{authority}{path_abempty}|{path_absolute}"
           rf"|{pchar}+{path_abempty}|){tail}")  # fmt: skip
    noscheme = rf"(?:[{unreserved}{sub_delims}@]|{pct})+{path_abempty}"
    relative = rf"(?://{authority}{path_abempty}|{path_absolute}|{noscheme}|){tail}"
    return re.compile(rf"{uri}|{relative}")


_URI_REFERENCE = _uri_reference()
_NOT_IN_URIS = re.compile(r"[^\x21-\x7e]|[<>\"{}|\\^`']")
"""What libxml2 turns into ``_`` before it parses an xs:anyURI: it takes IRIs, spaces..."""


def any_uri(value: str) -> bool:
    """Whether the schemas' xs:anyURI holds ``value`` (an attribute's value) as libxml2 checks
    it: surrounding white space collapsed, :data:`_NOT_IN_URIS` as ``_``, then RFC 3986 (a
    little stricter here, never looser: "oai:natlib.uz:a b" passes, "1:x", "%zz" do not)."""
    return _URI_REFERENCE.fullmatch(_NOT_IN_URIS.sub("_", value.strip(" \t\n\r"))) is not None
