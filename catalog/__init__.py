"""The collection: records in canonical MARC21, their renditions, sets and provenance."""

from catalog.schema import SchemaError
from catalog.store import Catalog, CatalogWriter, Entry, Outcome, Provenance, RecordError

__all__ = [
    "Catalog", "CatalogWriter", "Entry", "Outcome", "Provenance", "RecordError", "SchemaError",
]
