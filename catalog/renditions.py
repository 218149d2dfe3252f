"""The formats served from the catalogue, made once when a record is written.

Each format is a crosswalk from the canonical MARC21 record to XML bytes, with the namespace
and schema that OAI-PMH ListMetadataFormats announces. Serving reads the stored bytes; no
crosswalk runs per request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from pymarc import Record

from crosswalks.dublin_core import marc_to_dc
from crosswalks.marcxml import record_to_marcxml
from crosswalks.mods import marc_to_mods
from crosswalks.namespaces import MARCXML_NS, MODS_NS, OAI_DC_NS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RenditionFormat:
    prefix: str
    namespace: str
    schema: str
    make: Callable[[Record], bytes]


FORMATS: dict[str, RenditionFormat] = {
    f.prefix: f
    for f in (
        RenditionFormat(
            "oai_dc",
            OAI_DC_NS,
            "http://www.openarchives.org/OAI/2.0/oai_dc.xsd",
            marc_to_dc,
        ),
        RenditionFormat(
            "marc21",
            MARCXML_NS,
            "http://www.loc.gov/standards/marcxml/schema/MARC21slim.xsd",
            record_to_marcxml,
        ),
        RenditionFormat(
            "mods",
            MODS_NS,
            "http://www.loc.gov/standards/mods/v3/mods-3-7.xsd",
            marc_to_mods,
        ),
    )
}


def make_renditions(record: Record, local_id: str) -> dict[str, bytes]:
    """Every format's bytes for ``record``. A crosswalk that fails leaves its format out.

    The record is still stored and served in the other formats; the failure is logged with the
    record's identifier so an operator can find it (a record whose marc21 rendition fails is
    rejected by the caller, since that format is the canonical one).
    """
    made: dict[str, bytes] = {}
    for prefix, rendition in FORMATS.items():
        try:
            made[prefix] = rendition.make(record)
        except Exception:
            log.exception("record %s: %s crosswalk failed; format not offered", local_id, prefix)
    return made
