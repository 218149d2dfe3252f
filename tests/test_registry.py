"""The format registry: names, aliases, lazy crosswalks, XML collection outputs read back."""

from __future__ import annotations

import io

import pytest

from crosswalks import registry
from crosswalks.framing import MAX_RECORD_BYTES
from crosswalks.marc_io import iter_records
from tests.conftest import DATA

MARC21 = DATA / "marc21"


def test_names_and_aliases() -> None:
    assert set(registry.INPUTS) == {
        "marc21",
        "marcxml",
        "marcjson",
        "mrk",
        "oai_dc",
        "mods",
        "unimarc",
    }
    assert set(registry.OUTPUTS) == {
        "marc21", "marc8", "marcxml", "marcjson", "mrk", "mrk8", "oai_dc", "mods"
    }
    assert registry.input_format("rusmarc") is registry.INPUTS["unimarc"]
    with pytest.raises(KeyError):
        registry.output_format("unimarc")


def test_a_missing_crosswalk_is_reported_when_used_not_when_loaded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(
        registry.OUTPUTS,
        "oai_dc",
        registry.OutputFormat(
            "oai_dc", "test", registry._xml_collection("no_such_module", "f", b"<c>", b"</c>"),
            "xml",
        ),
    )
    with pytest.raises(registry.CrosswalkUnavailable, match="no_such_module"):
        registry.output_format("oai_dc").open(io.BytesIO())


def test_unimarc_input_reads_blank_extra_indicators_without_loss() -> None:
    (item,) = iter_records(DATA / "unimarc" / "ur.iso", "unimarc")
    assert item.record is not None
    assert item.record["200"]["a"].startswith("ПЕДАГОГИКА И ПСИХОЛОГИЯ")
    assert {f.indicators for f in item.record.get_fields("610")} == {(" ", " ")}


@pytest.mark.parametrize("fmt", ["oai_dc", "mods"])
def test_xml_outputs_are_read_back_by_the_matching_input(fmt: str) -> None:
    out = io.BytesIO()
    writer = registry.output_format(fmt).open(out)
    originals = [item.record for item in iter_records(MARC21 / "marc.dat")]
    for record in originals:
        writer.write(record)  # type: ignore[arg-type]
    writer.close()
    back = list(registry.input_format(fmt).read(io.BytesIO(out.getvalue()), MAX_RECORD_BYTES))
    assert len(back) == len(originals)
    assert all(item.record is not None for item in back), [i.error for i in back]
    title = " ".join(back[0].record["245"]["a"].split())  # type: ignore[index]
    assert title.startswith(originals[0]["245"]["a"].rstrip(" /:"))  # type: ignore[index]
