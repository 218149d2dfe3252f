from collections import Counter

from catalog.demo import DemoPlan, demo_records, isbn13, issn
from catalog.sets import material_type
from crosswalks.dublin_core import marc_languages


def test_same_seed_same_records_other_seed_other_records():
    first = [r.as_marc() for r in demo_records(50, seed=3)]
    assert first == [r.as_marc() for r in demo_records(50, seed=3)]
    assert first != [r.as_marc() for r in demo_records(50, seed=4)]


def test_the_mix_is_a_national_collection():
    records = list(demo_records(600))
    materials = Counter(material_type(r) for r in records)
    assert set(materials) == {"book", "serial", "map", "score", "music"}
    langs = Counter(marc_languages(r)[0] for r in records)
    assert {"uzb", "rus", "eng"} <= set(langs)
    titles = [r["245"]["a"] for r in records]
    assert any(any("\u0400" <= ch <= "\u04ff" for ch in t) for t in titles)  # Cyrillic
    assert any("ʻ" in t for t in titles)  # 1995 Latin with the modifier letter turned comma
    assert any(r.get("260") for r in records) and any(r.get("264") for r in records)
    linked = [r for r in records if r.get_fields("880")]
    assert linked
    for record in linked:
        for field in record.get_fields("880"):
            tag, number = field["6"].split("-")
            assert record[tag]["6"] == f"880-{number}"


def test_identifiers_have_valid_check_digits():
    assert isbn13("978994300001") == "9789943000018"
    assert issn("0317847") == "0317-8471"
    assert issn("2434561") == "2434-561X"
    for record in demo_records(200):
        for field in record.get_fields("020"):
            digits = field["a"]
            total = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(digits))
            assert total % 10 == 0
        assert len(record["008"].data) == 40


def test_plan_deletes_a_few():
    plan = DemoPlan(records=300)
    assert list(plan.deleted_ids()) == ["demo0000097", "demo0000194", "demo0000291"]


def test_the_demo_passes_the_validator_and_is_consistently_catalogued():
    from crosswalks.check import check_record

    records = list(demo_records(2000))
    problems = [str(p) for i, r in enumerate(records) for p in check_record(r, i)]
    assert problems == []
    assert all(check_record(r.as_marc()) == [] for r in records[:200])  # and as ISO 2709
    for record in records:
        rda = "rda" in record["040"].get_subfields("e")
        assert rda == (record.leader[18] == "i") == bool(record.get_fields("264", "336"))
        assert rda != bool(record.get_fields("260"))
        assert all(" -- " not in f.value() for f in record.get_fields("650", "651"))
        assert record["300"].get_subfields("c")
        tags = [f.tag for f in record.fields if f.tag != "880"]
        assert tags == sorted(tags)
    kinds = Counter((r.leader[6], r.leader[18]) for r in records)
    assert {("a", "i"), ("a", "a"), ("e", "i"), ("c", "i"), ("j", "a")} <= set(kinds)
    scripts = Counter(marc_languages(r)[0] for r in records)
    assert scripts["uzb"] and scripts["rus"] and scripts["eng"]


def test_koprik_demo_sets_up_logging_as_serve_does(tmp_path):
    """A log.file that cannot be opened was accepted (exit 0) by ``koprik demo``, which
    ``make serve`` runs before ``koprik serve``."""
    import subprocess
    import sys

    config = tmp_path / "koprik.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "k.sqlite3"}"\n'
                      f'[log]\nfile = "{tmp_path / "no" / "koprik.log"}"\n')
    done = subprocess.run([sys.executable, "-m", "koprik", "--config", str(config), "demo",
                           "--records", "5"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"koprik: {config}: log.file: cannot open {tmp_path / 'no' / 'koprik.log'} for appending: "
        "No such file or directory"]
