"""The Z39.50 target: Init, Search, Present, Scan, Sort, Delete and Close (profile: README).

- :mod:`~provider.z3950.server`: the asyncio server, one session per connection.
- :mod:`~provider.z3950.session`: one association's state and its answer to each PDU.
- :mod:`~provider.z3950.backend`: search, fetch, scan and sort over the catalogue.
- :mod:`~provider.z3950.attributes`: Bib-1 attributes onto the catalogue's query model.
- :mod:`~provider.z3950.records`: record syntaxes and element sets for Present.
"""

from provider.z3950.server import start_target

__all__ = ["start_target"]
