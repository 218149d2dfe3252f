"""Z39.50 on the wire, shared by the origin (harvester) and the target (provider).

- :mod:`~protocols.z3950.codec`: PDUs to and from BER (``encode_pdu``, ``decode_pdu``).
- :mod:`~protocols.z3950.framing`: one PDU at a time from a stream (``read_pdu``).
- :mod:`~protocols.z3950.pqf`: the Type-1 query model, PQF text, RPN PDU values.
- :mod:`~protocols.z3950.bib1`: Bib-1 attributes and diagnostics (with SRU mapping).
- :mod:`~protocols.z3950.charset`: character-set negotiation in the Init PDUs.
- :mod:`~protocols.z3950.oids`: object identifiers and record-syntax names.
"""
