"""One XML Schema for whole OAI-PMH responses: the envelope and every payload we know.

``OAI-PMH.xsd`` declares ``<metadata>``, ``<about>`` and ``<description>`` content as strict
``xs:any``, so a response validates only with the payload schemas loaded beside it.
:func:`response_schema` builds a small driver schema that imports the envelope, oai_dc,
MARCXML, MODS 3.7, oai-identifier and the OAI provenance container (kept beside this module,
as the official schema folder has none), and compiles it with the network off.

>>> schema = response_schema(Path("../shared/schemas"))
>>> schema.assertValid(etree.fromstring(response_bytes))
"""

from __future__ import annotations

from pathlib import Path

from lxml import etree

PROVENANCE_XSD = Path(__file__).with_name("provenance.xsd")

IMPORTS = (
    ("http://www.openarchives.org/OAI/2.0/", "OAI-PMH.xsd"),
    ("http://www.openarchives.org/OAI/2.0/oai_dc/", "oai_dc.xsd"),
    ("http://www.loc.gov/MARC21/slim", "MARC21slim.xsd"),
    ("http://www.loc.gov/mods/v3", "mods-3-7.xsd"),
    ("http://www.openarchives.org/OAI/2.0/oai-identifier", "oai-identifier.xsd"),
)
"""(namespace, file in the official schema folder) for each imported schema: a table of the
standards' facts, written out here because ``protocols`` imports no other part of Koprik (the
rest of Koprik names these namespaces from :mod:`crosswalks.namespaces`)."""
PROVENANCE_NAMESPACE = "http://www.openarchives.org/OAI/2.0/provenance"


def response_schema(schemas: Path) -> etree.XMLSchema:
    """The compiled driver schema over the official schemas in the folder ``schemas``."""
    locations = [(namespace, (schemas / name).resolve()) for namespace, name in IMPORTS]
    locations.append((PROVENANCE_NAMESPACE, PROVENANCE_XSD.resolve()))
    imports = "".join(
        f'<xs:import namespace="{namespace}" schemaLocation="{path.as_uri()}"/>'
        for namespace, path in locations
    )
    driver = f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">{imports}</xs:schema>'
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    return etree.XMLSchema(etree.fromstring(driver.encode(), parser))
