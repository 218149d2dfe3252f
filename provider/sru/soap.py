"""SRU's SOAP binding (SRW), which Koprik does not serve: a request sent that way gets a SOAP
fault saying how to ask instead.

SRU 1.1 and 1.2 define a SOAP binding beside GET and POST; clients such as ``yaz-client``
(``sru soap``) still offer it. Answered as any other POST that is not a form (an SRU 2.0
explain document carrying diagnostic 6), such a client read an explain record where it waited
for its search. A SOAP 1.1 fault (``text/xml``, HTTP 500, as SOAP 1.1 sends every fault) is
what it understands as a refusal.
"""

from __future__ import annotations

SOAP_CONTENT_TYPES = frozenset({"text/xml", "application/soap+xml"})
"""Content types of a SOAP request (SOAP 1.1, 1.2)."""
FAULT_STATUS = 500
FAULT_CONTENT_TYPE = "text/xml; charset=utf-8"
FAULT = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/">'
    b"<SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>SOAP-ENV:Client</faultcode>"
    b"<faultstring>SRU over SOAP is not served here: send the request as GET, or as POST "
    b"application/x-www-form-urlencoded</faultstring></SOAP-ENV:Fault></SOAP-ENV:Body>"
    b"</SOAP-ENV:Envelope>\n"
)


def is_soap(content_type: str) -> bool:
    """Whether a POST of ``content_type`` (its media type, lower case) is a SOAP request."""
    return content_type in SOAP_CONTENT_TYPES
