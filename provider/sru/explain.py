"""The ZeeRex explain record: where the server is, its context sets and indexes, the record
schemas it serves and its limits, all from the tables that drive the translation (so explain
can never promise an index the translator does not have)."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from config import Settings
from crosswalks.xmltext import xml_safe
from provider.sru.cql_query import CONTEXT_SETS, INDEXES
from provider.sru.request import SCHEMAS

ZEEREX = "http://explain.z3950.org/dtd/2.0/"
_SORTABLE = {"title", "author", "date"}
_INDEX_NAMES = {
    "cql": {"serverchoice": "serverChoice", "anywhere": "anywhere", "keywords": "keywords",
            "allindexes": "allIndexes"},
    "bath": {"personalname": "personalName", "corporatename": "corporateName",
             "conferencename": "conferenceName", "keytitle": "keyTitle",
             "uniformtitle": "uniformTitle", "seriestitle": "seriesTitle",
             "topicalsubject": "topicalSubject", "geographicname": "geographicName",
             "standardidentifier": "standardIdentifier"},
}  # fmt: skip
"""Index names as the context sets spell them (the translation table keys are lower case)."""


def explain_record(settings: Settings, version: str, host: str, port: int, database: str) -> str:
    """The ZeeRex record for SRU ``version`` served at ``host``:``port``/``database``."""
    search = settings.search
    sets = "".join(
        f"<set name={quoteattr(name)} identifier={quoteattr(uri)}/>"
        for name, uri in CONTEXT_SETS.items()
    )
    indexes = []
    for context, names in INDEXES.items():
        for key, index in names.items():
            name = _INDEX_NAMES.get(context, {}).get(key, key)
            sort = ' sort="true"' if index in _SORTABLE else ""
            indexes.append(
                f'<index search="true" scan="true"{sort}><title>{escape(index)}</title>'
                f"<map><name set={quoteattr(context)}>{escape(name)}</name></map></index>"
            )
    indexes.append(  # matches every record (cql_query.Every): searched, never scanned
        '<index search="true" scan="false"><title>every record</title>'
        '<map><name set="cql">allRecords</name></map></index>'
    )
    schemas = "".join(
        f"<schema identifier={quoteattr(s.identifier)} name={quoteattr(s.name)}"
        f' retrieve="true"><title>{escape(s.name)}</title></schema>'
        for s in SCHEMAS
    )
    title = escape(settings.repository.name)
    about = settings.repository.description
    description = (f'<description lang="en" primary="true">{escape(xml_safe(about))}</description>'
                   if about else "")  # fmt: skip
    host = escape(xml_safe(host))  # from the client's Host header
    return (
        f'<explain xmlns="{ZEEREX}"><serverInfo protocol="SRU" version="{version}"'
        f' transport="http" method="GET POST"><host>{host}</host><port>{port}</port>'
        f"<database>{escape(database)}</database></serverInfo>"
        f'<databaseInfo><title lang="en" primary="true">{title}</title>{description}'
        f"</databaseInfo>"
        f"<indexInfo>{sets}{''.join(indexes)}</indexInfo><schemaInfo>{schemas}</schemaInfo>"
        f'<configInfo><default type="numberOfRecords">{search.sru_default_records}</default>'
        f'<setting type="maximumRecords">{search.sru_max_records}</setting>'
        f'<default type="contextSet">dc</default>'
        f'<setting type="resultSetTTL">{search.sru_result_set_ttl}</setting>'
        f'<supports type="sort"/><supports type="resultSets"/>'
        f'<supports type="relation">=</supports><supports type="relation">all</supports>'
        f'<supports type="relation">any</supports><supports type="relation">adj</supports>'
        f'<supports type="relation">exact</supports><supports type="relation">==</supports>'
        f'<supports type="relation">&lt;</supports><supports type="relation">&lt;=</supports>'
        f'<supports type="relation">&gt;</supports><supports type="relation">&gt;=</supports>'
        f'<supports type="relation">within</supports>'
        f'<supports type="maskingCharacter">*</supports>'
        f"</configInfo></explain>"
    )
