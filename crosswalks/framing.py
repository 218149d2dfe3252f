"""What every record reader shares: the size limit on one record, and its reject reason.

Readers frame records on the bytes, so a record larger than the limit is rejected while it is
read, without ever being held whole; reading resumes at the next record boundary its format
allows. The default matches the ``limits.max_record_bytes`` setting's.
"""

from __future__ import annotations

MAX_RECORD_BYTES = 1024 * 1024
"""Default largest record, in bytes as serialized (``limits.max_record_bytes``)."""
SAMPLE_BYTES = 4096
"""Bytes of a refused or unframeable record kept as its raw sample for the reject."""
BOM = b"\xef\xbb\xbf"
"""UTF-8's byte-order mark, which tools saving "UTF-8 with BOM" put at the start of any file,
a file of records included: every reader skips one there, and so does telling the format."""


def too_large(limit: int, size: int | None = None) -> str:
    """The reject reason for a record over ``limit`` bytes (``size`` when it is known)."""
    what = f"record of {size} bytes" if size is not None else "record"
    return f"{what} larger than the limit of {limit} bytes (limits.max_record_bytes)"
