"""Per-verb argument schemas: required, optional, exclusive, unknown, repeated, syntax."""

from __future__ import annotations

import pytest

from protocols.oaipmh import BadArgument, BadVerb, parse_request


def pairs(query: str) -> list[tuple[str, str]]:
    return [tuple(item.split("=", 1)) for item in query.split("&") if item]  # type: ignore[misc]


@pytest.mark.parametrize(
    "query",
    [
        "verb=Identify",
        "verb=ListMetadataFormats",
        "verb=ListMetadataFormats&identifier=oai:natlib.uz:1",
        "verb=ListSets",
        "verb=ListSets&resumptionToken=abc",
        "verb=GetRecord&identifier=oai:x.y:1&metadataPrefix=oai_dc",
        "verb=ListRecords&metadataPrefix=marc21&from=2002-01-01&until=2003-01-01&set=lang:uzb",
        "verb=ListIdentifiers&metadataPrefix=oai_dc",
        "verb=ListIdentifiers&resumptionToken=abc",
    ],
)
def test_valid_requests_pass_with_their_arguments(query: str) -> None:
    request = parse_request(pairs(query))
    given = dict(pairs(query))
    assert request.verb == given.pop("verb")
    assert request.arguments == given


@pytest.mark.parametrize(
    "query", ["", "metadataPrefix=oai_dc", "verb=junk", "verb=Identify&verb=Identify", "verb="]
)
def test_bad_verbs(query: str) -> None:
    with pytest.raises(BadVerb):
        parse_request(pairs(query))


@pytest.mark.parametrize(
    "query",
    [
        "verb=GetRecord&metadataPrefix=oai_dc",
        "verb=GetRecord&identifier=oai:x.y:1",
        "verb=ListRecords",
        "verb=ListRecords&resumptionToken=t&until=2002-01-01",
        "verb=ListIdentifiers&resumptionToken=t&metadataPrefix=oai_dc",
        "verb=Identify&identifier=oai:x.y:1",
        "verb=ListSets&set=a",
        "verb=ListRecords&metadataPrefix=oai_dc&metadataPrefix=marc21",
        "verb=ListRecords&metadataPrefix=oai_dc&foo=bar",
        "verb=ListRecords&metadataPrefix=",
        "verb=ListRecords&metadataPrefix=oai dc",
        "verb=ListRecords&metadataPrefix=oai_dc&set=lang:",
        "verb=ListRecords&metadataPrefix=oai_dc&set=a b",
    ],
)
def test_bad_arguments(query: str) -> None:
    with pytest.raises(BadArgument):
        parse_request(pairs(query))


def test_bad_verb_wins_over_bad_arguments() -> None:
    with pytest.raises(BadVerb):
        parse_request(pairs("verb=junk&foo=1&foo=2"))
