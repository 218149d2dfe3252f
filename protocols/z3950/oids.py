"""Object identifiers Koprik uses in Z39.50, as dotted strings (the form asn1tools uses).

Record syntaxes are also known by the short names yaz-client uses (``usmarc``, ``xml``...);
:func:`record_syntax_oid` and :func:`record_syntax_name` convert between the two.
"""

from __future__ import annotations

Z3950 = "1.2.840.10003"

BIB1_ATTRIBUTE_SET = f"{Z3950}.3.1"
BIB1_DIAGNOSTIC_SET = f"{Z3950}.4.1"
CHARSET_NEGOTIATION_3 = f"{Z3950}.15.3"
#: yaz's private arc for naming a character set by string inside charset negotiation.
CHARSET_PRIVATE_NAME = f"{Z3950}.15.1000.81.1"
#: ISO 10646 transfer syntax UTF-8 (encodingLevel of an Iso10646 proposal).
ISO10646_UTF8 = "1.0.10646.1.0.8"

USMARC = f"{Z3950}.5.10"
UNIMARC = f"{Z3950}.5.1"
SUTRS = f"{Z3950}.5.101"
OPAC = f"{Z3950}.5.102"
XML = f"{Z3950}.5.109.10"  # text-XML
APPLICATION_XML = f"{Z3950}.5.109.11"  # .109.3 is HTML

RECORD_SYNTAXES: dict[str, str] = {
    "usmarc": USMARC,
    "unimarc": UNIMARC,
    "sutrs": SUTRS,
    "opac": OPAC,
    "xml": XML,
    "application-xml": APPLICATION_XML,
}
_NAMES = {oid: name for name, oid in RECORD_SYNTAXES.items()}


def record_syntax_oid(name_or_oid: str) -> str:
    """Return the OID of a record syntax named as yaz-client names it (case-insensitive),
    or the argument unchanged when it is already a dotted OID.

    >>> record_syntax_oid("USmarc")
    '1.2.840.10003.5.10'

    Raises :class:`KeyError` for an unknown name.
    """
    if name_or_oid[:1].isdigit():
        return name_or_oid
    return RECORD_SYNTAXES[name_or_oid.lower()]


def record_syntax_name(oid: str) -> str:
    """Return the short name of a record-syntax OID, or the OID itself when it has none."""
    return _NAMES.get(oid, oid)
