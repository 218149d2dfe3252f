"""Koprik's validator beside MARC::Lint (Perl, Debian libmarc-lint-perl) on the same records:
where both have a rule, both find the seeded error, and neither finds one in a valid record."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from crosswalks.check import check_record
from tests.test_check import SEEDED, datafield, embedded_holdings, rda_book

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(not Path("/usr/share/perl5/MARC/Lint.pm").exists(),
                       reason="libmarc-lint-perl not installed (make system-packages)"),
]

LINT = """
use MARC::File::USMARC; use MARC::Lint;
my $file = MARC::File::USMARC->in($ARGV[0]); my $lint = MARC::Lint->new; my $n = 0;
while (my $record = $file->next) {
    $lint->check_record($record);
    print "$n\\t$_\\n" for $lint->warnings;
    $n++;
}
"""
SHARED = ["field-not-repeatable", "indicator", "subfield-undefined", "subfield-not-repeatable",
          "1xx-count", "isbn", "required"]
"""Koprik's rules that MARC::Lint has too (it does not judge 008, linkage or punctuation)."""


def lint(records: list, tmp_path: Path) -> dict[int, list[str]]:
    path = tmp_path / "records.mrc"
    path.write_bytes(b"".join(record.as_marc() for record in records))
    result = subprocess.run(["perl", "-e", LINT, str(path)], capture_output=True, check=True,
                            timeout=60, text=True)
    warnings: dict[int, list[str]] = {}
    for line in result.stdout.splitlines():
        number, text = line.split("\t", 1)
        warnings.setdefault(int(number), []).append(text)
    return warnings


def test_both_validators_find_the_shared_seeded_errors(tmp_path: Path) -> None:
    records = [rda_book(), *(SEEDED[rule]() for rule in SHARED)]
    theirs = lint(records, tmp_path)
    assert theirs.get(0, []) == [] and check_record(records[0]) == []
    for number, rule in enumerate(SHARED, start=1):
        ours = [p for p in check_record(records[number]) if p.rule == rule]
        assert ours and theirs.get(number), (rule, theirs.get(number))
        assert {p.tag for p in ours} & {w.split(":")[0] for w in theirs[number]}, (rule, theirs)


def test_both_judge_490_by_its_definition_and_neither_a_local_x9x_field(tmp_path: Path) -> None:
    records = [rda_book(datafield("490", "7", " ", "a", "Series.", "q", "Odd.")),
               rda_book(datafield("590", "7", "5", "q", "Local note."))]
    theirs = lint(records, tmp_path)
    assert [w.split(":")[0] for w in theirs.get(0, [])] == ["490", "490"], theirs
    assert [(p.tag, p.rule) for p in check_record(records[0])] == [
        ("490", "indicator"), ("490", "subfield-undefined")]
    assert theirs.get(1, []) == [] and check_record(records[1]) == []


def test_neither_finds_fault_with_embedded_textual_holdings(tmp_path: Path) -> None:
    """MARC::Lint lists 866-868 as defined, with no rules it checks; Koprik judges them by
    the MARC 21 Holdings definitions, which this valid 852 with its 866-868 meets."""
    held = [datafield(tag, "4", "1", "8", "1", "a", "v. 1-3", "z", "Some missing.")
            for tag in ("866", "867", "868")]
    record = rda_book(datafield("852", " ", " ", "8", "1", "a", "UzSaRL"), *held)
    assert lint([record], tmp_path) == {} and check_record(record) == []



def test_neither_finds_fault_with_embedded_holdings_fields(tmp_path: Path) -> None:
    """MARC::Lint lists 841-845, 853-855, 863-865 and 876-878 by name only and never checks
    them (it loads no entry without rules, so not even a second 841, which is not
    repeatable); Koprik judges them by the MARC 21 Holdings definitions. Neither finds fault
    with valid ones; only Koprik finds the second 841."""
    held = embedded_holdings()
    records = [rda_book(*held), rda_book(held[0], *held)]
    theirs = lint(records, tmp_path)
    assert theirs == {} and check_record(records[0]) == []
    assert [(p.tag, p.rule) for p in check_record(records[1])] == [
        ("841", "field-not-repeatable")]
