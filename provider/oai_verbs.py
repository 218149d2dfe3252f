"""The six OAI-PMH verbs over the catalogue: request pairs in, response bytes out.

:class:`OaiResponder` is synchronous (the HTTP layer runs it in a thread) and does one keyset
query per list page, plus one count at the first page of a list longer than a page. Errors are
raised as :class:`protocols.oaipmh.OaiError` where they are found and rendered in one place,
:meth:`OaiResponder.respond`.

>>> responder = OaiResponder(settings, catalog)
>>> xml = responder.respond([("verb", "ListRecords"), ("metadataPrefix", "oai_dc")])
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

from catalog import Catalog, Entry
from catalog.renditions import FORMATS
from catalog.secrets import stored_secret
from config import Settings
from protocols.oaipmh import (
    BadResumptionToken,
    CannotDisseminateFormat,
    IdDoesNotExist,
    ListPosition,
    NoMetadataFormats,
    NoRecordsMatch,
    NoSetHierarchy,
    OaiError,
    TokenCodec,
    format_datestamp,
    parse_range,
    parse_request,
)
from protocols.oaipmh.dates import GRANULARITY
from provider import oai_xml
from provider.damped_log import SaidOnce
from provider.oai_xml import Identifiers, element

COMPRESSIONS = ("gzip", "deflate")
PAGE_ENVELOPE = 4096
"""Bytes of a ListRecords page kept for what is not its records: the XML declaration, the
root element, responseDate, the request echoed (a resumption token of ours, or a few short
arguments) and the next resumption token (about 1 KB in all)."""

log = logging.getLogger(__name__)
_OVERSIZE = SaidOnce(log)

Body = list[bytes]


def token_secret(settings: Settings, catalog: Catalog) -> bytes:
    """The configured token key, or a random one kept in the catalogue (made on first use, so
    it survives restarts and every node on the same catalogue shares it)."""
    if settings.oai.token_secret:
        return settings.oai.token_secret.encode()
    return stored_secret(catalog.engine, "oai-resumption-token")


class OaiResponder:
    """Answers OAI-PMH requests from one catalogue with one repository's settings."""

    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        self.settings = settings
        self.catalog = catalog
        self.identifiers = Identifiers(settings.repository.identifier_prefix)
        self.codec = TokenCodec(token_secret(settings, catalog), settings.oai.token_lifetime)
        self.page_size = settings.oai.page_size
        self.max_record_bytes = settings.limits.max_record_bytes
        self.max_page_bytes = settings.oai.max_page_bytes
        self.max_list_count = settings.oai.max_list_count
        self._verbs: Mapping[str, Callable[[Mapping[str, str], int], Body]] = {
            "Identify": self._identify,
            "ListMetadataFormats": self._list_metadata_formats,
            "ListSets": self._list_sets,
            "GetRecord": self._get_record,
            "ListIdentifiers": lambda arguments, now: self._list("ListIdentifiers", arguments, now),
            "ListRecords": lambda arguments, now: self._list("ListRecords", arguments, now),
        }

    def respond(self, pairs: list[tuple[str, str]], now: int | None = None) -> bytes:
        """The whole response document for a request's ``(name, value)`` argument pairs."""
        now = int(time.time()) if now is None else now
        base_url = self.settings.repository.base_url
        try:
            request = parse_request(pairs)
        except OaiError as problem:
            return oai_xml.document(base_url, now, None, {}, [oai_xml.error(problem)])
        try:
            body = self._verbs[request.verb](request.arguments, now)
        except OaiError as problem:
            if not problem.echoes_arguments:
                return oai_xml.document(base_url, now, None, {}, [oai_xml.error(problem)])
            body = [oai_xml.error(problem)]
        return oai_xml.document(base_url, now, request.verb, request.arguments, body)

    # -- verbs ----------------------------------------------------------------------------

    def _identify(self, _arguments: Mapping[str, str], _now: int) -> Body:
        repository = self.settings.repository
        earliest = self.catalog.earliest_datestamp() or 0
        first = self.catalog.list_entries(None, limit=1, with_data=False)
        sample = self.identifiers.to_oai(first[0].local_id if first else "demo0000001")
        parts = [
            "<Identify>",
            element("repositoryName", repository.name),
            element("baseURL", repository.base_url),
            "<protocolVersion>2.0</protocolVersion>",
            *(element("adminEmail", email) for email in repository.admin_email),
            f"<earliestDatestamp>{format_datestamp(earliest)}</earliestDatestamp>",
            "<deletedRecord>persistent</deletedRecord>",
            f"<granularity>{GRANULARITY}</granularity>",
            *(element("compression", name) for name in COMPRESSIONS),
            oai_xml.oai_identifier_description(repository.identifier_prefix, sample),
            "</Identify>",
        ]
        return ["".join(parts).encode()]

    def _list_metadata_formats(self, arguments: Mapping[str, str], _now: int) -> Body:
        prefixes = list(FORMATS)
        if "identifier" in arguments:
            prefixes = self._formats_of(arguments["identifier"])
            if not prefixes:
                raise NoMetadataFormats()
        formats = "".join(
            "<metadataFormat>"
            f"{element('metadataPrefix', prefix)}"
            f"{element('schema', FORMATS[prefix].schema)}"
            f"{element('metadataNamespace', FORMATS[prefix].namespace)}"
            "</metadataFormat>"
            for prefix in prefixes
        )
        return [f"<ListMetadataFormats>{formats}</ListMetadataFormats>".encode()]

    def _list_sets(self, arguments: Mapping[str, str], _now: int) -> Body:
        if "resumptionToken" in arguments:
            # Every set fits in one response, so this repository never issues ListSets tokens.
            raise BadResumptionToken("this repository issues no resumption tokens for ListSets")
        sets = self.catalog.list_sets()
        if not sets:
            raise NoSetHierarchy("the collection has no sets yet")
        listed = "".join(
            f"<set>{element('setSpec', spec)}{element('setName', name)}</set>"
            for spec, name in sets
        )
        return [f"<ListSets>{listed}</ListSets>".encode()]

    def _get_record(self, arguments: Mapping[str, str], _now: int) -> Body:
        local_id = self._local_id(arguments["identifier"])
        prefix = arguments["metadataPrefix"]
        entry = None
        if prefix in FORMATS:
            entry = self.catalog.get_entry(local_id, prefix, max_bytes=self.max_record_bytes)
        if entry is None or self._oversize(entry, prefix):
            if self.catalog.formats_of(local_id) is None:
                raise IdDoesNotExist(f"no record {arguments['identifier']}")
            raise CannotDisseminateFormat(
                f"record {arguments['identifier']} is not available as {prefix!r}"
            )
        return [b"<GetRecord>", oai_xml.record(entry, self.identifiers), b"</GetRecord>"]

    def _list(self, verb: str, arguments: Mapping[str, str], now: int) -> Body:
        """One page of ListRecords or ListIdentifiers, from the arguments or from a token."""
        resumed: ListPosition | None = None
        if "resumptionToken" in arguments:
            resumed = self.codec.decode(arguments["resumptionToken"], verb, now)
            prefix, set_spec = resumed.prefix, resumed.set_spec
            from_, until = resumed.from_, resumed.until
        else:
            from_, until = parse_range(arguments.get("from"), arguments.get("until"))
            prefix, set_spec = arguments["metadataPrefix"], arguments.get("set")
            if prefix not in FORMATS:
                raise CannotDisseminateFormat(f"metadataPrefix {prefix!r} is not offered")
        after, passed = (resumed.after if resumed else None), 0
        while True:
            page, more = self._page(verb, prefix, set_spec, from_, until, after)
            served = [entry for entry in page if not self._oversize(entry, prefix)]
            if served or not more or not page:
                break
            after, passed = page[-1].key, passed + len(page)  # a page of none we serve
        if not served:
            if set_spec is not None and not self.catalog.list_sets():
                raise NoSetHierarchy("the collection has no sets yet")
            if resumed:
                # The schema wants a record or header before any token, so an empty rest of a
                # list can only be noRecordsMatch; its message says that the list ends here.
                raise NoRecordsMatch(
                    f"the list ends here: the records after its first {resumed.cursor} have "
                    "changed since the previous page and no longer match"
                )
            raise NoRecordsMatch()
        items: list[bytes] = []
        if verb == "ListRecords":
            page, more = self._add_records(items, page, served, more)
        else:
            items += (oai_xml.header(entry, self.identifiers) for entry in served)
        cursor = passed + (resumed.cursor if resumed else 0)
        size: int | None
        if resumed:
            size = resumed.complete_list_size
        elif more:
            size = self.catalog.count(prefix, set_spec=set_spec, from_=from_, until=until,
                                      at_most=self.max_list_count)  # fmt: skip
        else:
            size = len(page)
        if size is not None and not more:
            # The last page knows the list's size: the count taken at its first page also held
            # records that have since left it (changed after an until, or out of the set).
            size = cursor + len(page)
        elif size is not None:
            # The count is taken once; records changed since then are listed again at the end.
            size = max(size, cursor + len(page) + 1)
        if more:
            # The seek key is the last entry's (datestamp, id); with a set, the catalogue pages on
            # the set membership's copy of the same pair.
            token = self.codec.encode(
                ListPosition(
                    verb, prefix, set_spec, from_, until, page[-1].key, cursor + len(page), size
                ),
                now,
            )
            items.append(oai_xml.resumption_token(token.text, cursor, size, token.expires))
        elif resumed:
            items.append(oai_xml.resumption_token("", cursor, size, None))
        open_tag, close_tag = f"<{verb}>".encode(), f"</{verb}>".encode()
        return [open_tag, *items, close_tag]

    def _page(
        self,
        verb: str,
        prefix: str,
        set_spec: str | None,
        from_: int | None,
        until: int | None,
        after: tuple[int, int] | None,
    ) -> tuple[list[Entry], bool]:
        """The entries of one page after the key ``after``, and whether more follow.

        A ListRecords page ends early where its records would add up to more than
        ``oai.max_page_bytes`` (the catalogue stops reading just past that), so no page holds
        more than that in memory however large the records are.
        """
        records = verb == "ListRecords"
        entries = self.catalog.list_entries(
            prefix, set_spec=set_spec, from_=from_, until=until, after=after,
            limit=self.page_size + 1, with_data=records, max_bytes=self.max_record_bytes,
            max_total_bytes=self.max_page_bytes if records else None,
        )  # fmt: skip
        fits, total = min(len(entries), self.page_size), 0
        for index, entry in enumerate(entries[:fits]):
            total += len(entry.data or b"")
            if total > self.max_page_bytes and index > 0:
                fits = index
                break
        more = len(entries) > fits
        if not more and total > self.max_page_bytes:
            # The page is one record larger than a page: the catalogue stopped reading at it,
            # so whether any follow is asked apart (else the list would end here, unsaid).
            more = bool(self.catalog.list_entries(
                prefix, set_spec=set_spec, from_=from_, until=until, after=entries[0].key,
                limit=1, with_data=False,
            ))  # fmt: skip
        return entries[:fits], more

    def _add_records(
        self, items: list[bytes], page: list[Entry], served: list[Entry], more: bool
    ) -> tuple[list[Entry], bool]:
        """Append the ``<record>`` s of ``served`` (the entries of ``page`` served) to
        ``items`` while the page stays within ``oai.max_page_bytes`` with what wraps each
        rendition (its header, provenance) and :data:`PAGE_ENVELOPE` for the response's own:
        :meth:`_page` counted the renditions alone, and 5,000 MODS records' headers took a page
        1.3 MB past the bound. Returns the page as cut, and whether more entries follow."""
        room, used = self.max_page_bytes - PAGE_ENVELOPE, 0
        for index, entry in enumerate(served):
            start = len(items)
            oai_xml.add_record(items, entry, self.identifiers)
            used += sum(len(part) for part in items[start:])
            if used > room and index > 0:  # (a first record larger than a page is a page)
                del items[start:]
                end = next(place for place, listed in enumerate(page) if listed is entry)
                return page[:end], True
        return page, more

    def _oversize(self, entry: Entry, prefix: str) -> bool:
        """Whether ``entry``'s rendition is over ``limits.max_record_bytes`` (then logged, as
        the operator must see why a record is not served: once, not at each request that
        meets it)."""
        if entry.data is not None or entry.size is None or entry.size <= self.max_record_bytes:
            return False
        _OVERSIZE.warning((entry.local_id, prefix, entry.size, self.max_record_bytes),
                          "record %s: its %s rendition of %d bytes is over "
                          "limits.max_record_bytes (%d); not served", entry.local_id, prefix,
                          entry.size, self.max_record_bytes)  # fmt: skip
        return True

    # -- identifiers ----------------------------------------------------------------------

    def _local_id(self, identifier: str) -> str:
        local_id = self.identifiers.to_local(identifier)
        if local_id is None:
            raise IdDoesNotExist(f"{identifier} is not an identifier of this repository")
        return local_id

    def _formats_of(self, identifier: str) -> list[str]:
        formats = self.catalog.formats_of(self._local_id(identifier), self.max_record_bytes)
        if formats is None:
            raise IdDoesNotExist(f"no record {identifier}")
        return formats
