"""SRU (Search/Retrieve via URL): what its client (:mod:`harvester.sru_client`) and its server
(:mod:`provider.sru`) share."""

VERSIONS = ("1.1", "1.2", "2.0")
"""The versions of the protocol spoken: 1.1 and 1.2 (the LoC's), 2.0 (OASIS searchRetrieve)."""
