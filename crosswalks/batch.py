"""Converting records held in memory from one format to another, as the dashboard's workbench
does: every record that cannot be converted is a warning, the rest go on.

>>> result = convert(data, "unimarc", "marcxml", "latin", max_record_bytes=100_000)
>>> result.read, result.converted, result.warnings[:1], result.output[:20]

It imports only :mod:`crosswalks` (no web server, no templates), so a process of its own that
runs it (:class:`koprik.dashboard.workbench.Conversions`) starts in a few milliseconds.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field

from pymarc import Record, Subfield

from crosswalks import iso2709, marc_io, registry
from crosswalks.uzbek import (
    add_script_880,
    cyrillic_to_latin,
    latin_to_cyrillic,
    romanize_alalc,
)


def _each_subfield(change: Callable[[str], str]) -> Callable[[Record], Record]:
    """A step applying ``change`` to the text of every subfield (not to $0-$9 or control
    fields, which hold codes and linkage)."""

    def apply(record: Record) -> Record:
        for data_field in record.get_fields():
            if not data_field.is_control_field():
                data_field.subfields = [
                    Subfield(s.code, s.value if s.code.isdigit() else change(s.value))
                    for s in data_field.subfields
                ]
        return record

    return apply


SCRIPTS: dict[str, tuple[str, Callable[[Record], Record] | None]] = {
    "": ("as it is", None),
    "880": ("add 880 fields in the other Uzbek script", add_script_880),
    "latin": ("Uzbek Cyrillic to Latin (1995)", _each_subfield(cyrillic_to_latin)),
    "cyrillic": ("Uzbek Latin to Cyrillic", _each_subfield(latin_to_cyrillic)),
    "alalc": ("ALA-LC romanization (Uzbek)", _each_subfield(romanize_alalc)),
}


@dataclass
class Conversion:
    output: bytes = b""
    read: int = 0
    converted: int = 0
    warnings: list[str] = field(default_factory=list)
    detected: str = ""


def convert(
    data: bytes, from_format: str, to_format: str, script: str, max_record_bytes: int
) -> Conversion:
    """Convert ``data``; every record that cannot be (one over ``max_record_bytes`` among
    them) is a warning, the rest go on. MemoryError is not a record's: it ends the
    conversion (the workbench's is limited, :class:`koprik.dashboard.workbench.Conversions`)."""
    result = Conversion()
    stream = marc_io.peekable(io.BytesIO(data))
    if not from_format:
        try:
            from_format = marc_io.detect_format(stream.peek(marc_io.HEAD_BYTES))
        except marc_io.NothingToRead as error:
            result.warnings.append(str(error))
            return result
        except ValueError as error:
            result.warnings.append(f"{error}; choose the input format")
            return result
    result.detected = from_format
    step = SCRIPTS[script][1]
    out = io.BytesIO()
    output = registry.output_format(to_format)
    writer = output.open(out)
    try:
        for item in registry.input_format(from_format).read(stream, max_record_bytes):
            result.read += 1
            where = f"record {item.index + 1}"
            result.warnings.extend(f"{where}: {note}" for note in item.notes)
            if item.record is None:
                result.warnings.append(f"{where}: {item.error or 'unreadable'}")
                continue
            try:
                record = output.declared(item.record)
                writer.write(step(record) if step else record)
            except MemoryError:
                raise  # not one record's failure: the conversion's
            except Exception as error:  # one record's failure must not end the batch
                result.warnings.append(f"{where}: conversion failed: {iso2709.describe(error)}")
                continue
            result.converted += 1
    except marc_io.NoRecords as error:
        result.warnings.append(str(error))
    except MemoryError:
        raise
    except Exception as error:  # a reader's unforeseen failure: report it, keep what was done
        result.warnings.append(f"reading stopped: {iso2709.describe(error)}")
    writer.close()
    result.output = out.getvalue()
    return result
