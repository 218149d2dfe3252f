"""SRU's SOAP binding (SRW), which Koprik does not serve: a request sent that way gets a SOAP
fault saying how to ask instead.

SRU 1.1 and 1.2 define a SOAP binding beside GET and POST; clients such as ``yaz-client``
(``sru soap``) still offer it. Answered as any other POST that is not a form (an SRU 2.0
explain document carrying diagnostic 6), such a client read an explain record where it waited
for its search. A fault in the client's own SOAP version is what it understands as a refusal:
SOAP 1.1 (``text/xml``) with HTTP 500, SOAP 1.2 (``application/soap+xml``) a Sender fault with
HTTP 400 (its HTTP binding, W3C SOAP 1.2 Part 2, 7.5.2.2).
"""

from __future__ import annotations

from typing import NamedTuple

REASON = ("SRU over SOAP is not served here: send the request as GET, or as POST "
          "application/x-www-form-urlencoded")  # fmt: skip


class Fault(NamedTuple):
    status: int
    content_type: str
    body: bytes


SOAP11 = Fault(
    500,
    "text/xml; charset=utf-8",
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/">'
    b"<SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>SOAP-ENV:Client</faultcode>"
    b"<faultstring>" + REASON.encode() + b"</faultstring></SOAP-ENV:Fault></SOAP-ENV:Body>"
    b"</SOAP-ENV:Envelope>\n",
)
SOAP12 = Fault(
    400,
    "application/soap+xml; charset=utf-8",
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><env:Fault>'
    b"<env:Code><env:Value>env:Sender</env:Value></env:Code><env:Reason>"
    b'<env:Text xml:lang="en">' + REASON.encode() + b"</env:Text></env:Reason></env:Fault>"
    b"</env:Body></env:Envelope>\n",
)
FAULTS = {"text/xml": SOAP11, "application/soap+xml": SOAP12}
"""The fault answering a POST of each SOAP content type (its media type, lower case)."""
