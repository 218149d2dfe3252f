"""Z39.50 Character Set and Language Negotiation (version 3, 1.2.840.10003.15.3).

Negotiation travels in the ``otherInfo`` of the Init PDUs as an EXTERNAL whose
single-ASN1-type is a ``CharSetandLanguageNegotiation``. UTF-8 is proposed the way yaz does it,
as an ISO 10646 encoding level (``1.0.10646.1.0.8``); any other character set by name, as yaz's
private externally specified set (``1.2.840.10003.15.1000.81.1``, the name octet-aligned)::

    other_info = proposal_other_info("UTF-8")                 # origin, in the Init request
    names, records = proposed_charsets(other_info)            # target: ["UTF-8"], True
    reply = response_other_info("UTF-8", records=True)        # target, in the Init response
    agreed = negotiated_charset(reply)                        # origin: Agreement("UTF-8", True)

MARC-8 is never proposed (:func:`negotiable`): it is the character set MARC21 records are in
when their leader says nothing (Leader/09 blank), the one a MARC21 target sends without any
negotiation, and not one a target can be trusted to write its Init response in. Zebra
(2.2.7, YAZ 5.34) selects it, converts the strings of its Init response to MARC-8, and fails on
its own two-character implementationId ``81`` (YAZ's MARC-8 encoder wants ten bytes free for each
character it holds back; the ODR gives a string of n characters 4n + 2): it answers with a Close
(systemProblem) whose text begins with that held-back ``1`` (``1Unknown Error``). yaz-client
proposing ``marc-8`` gets the same Close; yaz-ztest ignores the proposal.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from protocols.z3950 import oids
from protocols.z3950.codec import decode_external, make_external

#: ISO 10646 transfer-syntax forms (last arc of 1.0.10646.1.0.N) and their names.
_ISO10646_FORMS = {"2": "UCS-2", "4": "UCS-4", "5": "UTF-16", "8": "UTF-8"}
_ISO10646_PREFIX = "1.0.10646.1.0."


_MARC8_NAMES = frozenset({"marc8", "marc8s", "marc8lossy", "marc8lossless", "ansel"})


def negotiable(charset: str) -> bool:
    """Whether ``charset`` is proposed in the Init at all: every set but MARC-8 (see the module
    docstring), which an origin gets by proposing nothing and reads from the records."""
    return charset.lower().replace("-", "").replace("_", "") not in _MARC8_NAMES


class Agreement(NamedTuple):
    """The outcome of negotiation: the character set (None if the target selected none) and
    whether records, too, are sent in it (None if the target did not say)."""

    charset: str | None
    records: bool | None


def proposal_other_info(charset: str, records: bool = True) -> list[dict[str, Any]]:
    """Return an OtherInformation value proposing ``charset`` (for records too if ``records``)."""
    proposal = {
        "proposedCharSets": [_charset_choice(charset)],
        "recordsInSelectedCharSets": records,
    }
    return _other_info(("proposal", proposal))


def response_other_info(charset: str | None, records: bool | None = None) -> list[dict[str, Any]]:
    """Return an OtherInformation value selecting ``charset`` (None selects no character set)."""
    response: dict[str, Any] = {
        "selectedCharSets": _charset_choice(charset) if charset else ("none", None)
    }
    if records is not None:
        response["recordsInSelectedCharSets"] = records
    return _other_info(("response", response))


def proposed_charsets(other_info: list[dict[str, Any]] | None) -> tuple[list[str], bool]:
    """Return the character sets an Init request proposes, in the origin's order of preference
    (ISO 2022 proposals are skipped), and whether it wants records in the selected set.

    Raises :class:`codec.PduError` if the negotiation record is undecodable.
    """
    negotiation = _negotiation(other_info)
    if negotiation is None or negotiation[0] != "proposal":
        return [], False
    proposal = negotiation[1]
    names = [
        name
        for choice in proposal.get("proposedCharSets", [])
        if (name := _charset_name(choice)) is not None
    ]
    return names, bool(proposal.get("recordsInSelectedCharSets", False))


def negotiated_charset(other_info: list[dict[str, Any]] | None) -> Agreement | None:
    """Return the agreement an Init response carries, or None if it carries no negotiation.

    Raises :class:`codec.PduError` if the negotiation record is undecodable.
    """
    negotiation = _negotiation(other_info)
    if negotiation is None or negotiation[0] != "response":
        return None
    response = negotiation[1]
    choice = response.get("selectedCharSets")
    charset = _charset_name(choice) if choice else None
    return Agreement(charset, response.get("recordsInSelectedCharSets"))


def _other_info(negotiation: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
    external = make_external(oids.CHARSET_NEGOTIATION_3, negotiation)
    return [{"information": ("externallyDefinedInfo", external)}]


def _negotiation(other_info: list[dict[str, Any]] | None) -> tuple[str, dict[str, Any]] | None:
    for unit in other_info or []:
        kind, information = unit["information"]
        if (
            kind == "externallyDefinedInfo"
            and information.get("direct-reference") == oids.CHARSET_NEGOTIATION_3
        ):
            return decode_external(information)
    return None


def _charset_choice(charset: str) -> tuple[str, Any]:
    forms = {name: form for form, name in _ISO10646_FORMS.items()}
    form = forms.get(charset.upper())
    if form is not None:
        return "iso10646", {"encodingLevel": _ISO10646_PREFIX + form}
    name = make_external(oids.CHARSET_PRIVATE_NAME, charset.encode("ascii"))
    return "private", ("externallySpecified", name)


def _charset_name(choice: tuple[str, Any]) -> str | None:
    kind, value = choice
    if kind == "iso10646":
        level = value["encodingLevel"]
        if level.startswith(_ISO10646_PREFIX):
            return _ISO10646_FORMS.get(level.removeprefix(_ISO10646_PREFIX))
        return None
    if kind == "private" and value[0] == "externallySpecified":
        content = decode_external(value[1])
        if isinstance(content, bytes):
            return content.decode("ascii", errors="replace")
    return None
