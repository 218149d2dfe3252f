"""``koprik dedup`` as an operator runs it (a subprocess, one line on error)."""

import io
import re

import pytest

from koprik.cli import main
from tests.books import book, write_marc
from tests.test_db_command import demo_catalogue, stopped_after_first_batch, stopped_at
from tests.test_import_command import koprik

CONFIG = """[database]
url = "sqlite:///{db}"
[[file_sources]]
name = "sam"
institution_code = "UzSaRL"
[[file_sources]]
name = "bux"
institution_code = "UzBuRL"
"""


def test_import_groups_then_explain_review_merge_and_split(tmp_path):
    (tmp_path / "koprik.toml").write_text(CONFIG.format(db=tmp_path / "c.sqlite3"))
    write_marc(tmp_path / "sam.mrc", [
        book("1", "O‘zbekiston tarixi", author="Karimov, Alisher", isbn="978-9943-01-234-5"),
        book("2", "Xalq dostonlari", pages=None), book("3", "Kimyo", author="Rahimov, Botir")])
    write_marc(tmp_path / "bux.mrc", [
        book("1", "Ўзбекистон тарихи", author="Каримов, Алишер"),
        book("2", "Xalq dostonlari", pages=None),
        book("3", "Kimyo asoslari", author="Rahimov, Botir")])
    assert koprik(tmp_path, "import", "--source", "sam", "sam.mrc").returncode == 0
    imported = koprik(tmp_path, "import", "--source", "bux", "bux.mrc")
    # bux:1 looked at joined sam:1, which was not looked at: two records in a group
    assert "dedup: 3 records looked at; 2 records put in a group (those looked at, and the " \
        "ungrouped records they matched), 0 taken out of one," in imported.stdout, imported.stdout

    why = koprik(tmp_path, "dedup", "explain", "bux:1").stdout
    assert "union record: union:1" in why and "joined" in why and "sam:1" in why
    sam = koprik(tmp_path, "dedup", "explain", "sam:1").stdout
    assert "kept aside (invalid): 978-9943-01-234-5" in sam and "joined by" in sam
    assert "union record of sam:1, bux:1" in koprik(tmp_path, "dedup", "explain", "union:1").stdout

    listed = koprik(tmp_path, "dedup", "review").stdout
    assert "sam:2\tbux:2" in listed and "1 pairs waiting" in listed
    accepted = koprik(tmp_path, "dedup", "review", "accept", "sam:2", "bux:2")
    assert "1 union records written" in accepted.stdout, accepted.stdout

    merged = koprik(tmp_path, "dedup", "merge", "sam:3", "bux:3")
    assert merged.stdout.startswith("dedup: merged into union:3"), merged.stdout
    # the summary counts what the merge did (it said "0 union records written", then "0
    # records put in a group" and "1 groups merged" for two records in none)
    assert merged.stdout.splitlines()[1].startswith(
        "dedup: 0 records looked at; 2 records put in a group (those looked at, and the "
        "ungrouped records they matched), 0 taken out of one, 0 groups merged into another, "
        "0 pairs for review; 1 union records written, 0 deleted ("), merged.stdout
    parted = koprik(tmp_path, "dedup", "split", "bux:3").stdout
    assert parted.startswith("dedup: split off\n") and "1 taken out of one" in parted, parted
    refused = koprik(tmp_path, "dedup", "merge", "sam:1", "sam:2")
    assert refused.returncode == 2 and "one record per source" in refused.stderr
    assert "Traceback" not in refused.stderr
    same = koprik(tmp_path, "dedup", "merge", "sam:1", "sam:1")  # said "already in one group"
    assert (same.returncode, same.stderr) == (
        2, "koprik: name at least two different records to merge\n")
    assert "0 records looked at" in koprik(tmp_path, "dedup").stdout
    assert "records looked at" in koprik(tmp_path, "dedup", "--all").stdout


def test_review_accept_of_a_pair_in_two_groups_merges_them_or_says_why_not(tmp_path):
    """``review accept`` of two records already in two groups stored "same", reported "0
    groups merged" and exited 0 with both groups as they were."""
    (tmp_path / "koprik.toml").write_text(CONFIG.format(db=tmp_path / "c.sqlite3")
                                          + '[[file_sources]]\nname = "xor"\n')
    history, pages = "O‘zbekiston tarixi", "Tarix sahifalari"  # one book; no key in common
    write_marc(tmp_path / "sam.mrc", [book("1", history, author="Karimov, Alisher")])
    write_marc(tmp_path / "bux.mrc", [book("1", history, author="Karimov, Alisher")])
    write_marc(tmp_path / "xor.mrc", [book("1", pages, author="Karimov, Alisher")])
    write_marc(tmp_path / "own.mrc", [book("9", pages, author="Karimov, Alisher"),
                                       book("8", history, author="Karimov, Alisher", year=1990)])
    for source in ("sam", "bux", "xor"):
        assert koprik(tmp_path, "import", "--source", source, f"{source}.mrc").returncode == 0
    assert koprik(tmp_path, "import", "own.mrc").returncode == 0
    assert "union record: union:2" in koprik(tmp_path, "dedup", "explain", "xor:1").stdout

    refused = koprik(tmp_path, "dedup", "review", "accept", "sam:1", "8")
    assert refused.returncode == 2 and refused.stdout == "", refused.stdout
    assert refused.stderr == (
        "koprik: sam:1 and 8 not grouped: that would put bux:1 and 8 in one group, but they "
        "differ (year: 2001 / 1990); merge the groups to override\n")

    accepted = koprik(tmp_path, "dedup", "review", "accept", "sam:1", "xor:1")
    assert accepted.returncode == 0, accepted.stderr
    lines = accepted.stdout.splitlines()
    assert lines[0] == "dedup: sam:1 and xor:1 are in union:1", accepted.stdout
    assert "1 groups merged into another" in lines[1] and "1 deleted" in lines[1], accepted.stdout
    assert "union record: union:1" in koprik(tmp_path, "dedup", "explain", "xor:1").stdout
    assert "union record of sam:1, bux:1, xor:1, 9" in koprik(
        tmp_path, "dedup", "explain", "union:1").stdout

    rejected = koprik(tmp_path, "dedup", "review", "reject", "sam:1", "xor:1")
    assert rejected.returncode == 0 and rejected.stdout.startswith(
        "dedup: sam:1 and xor:1 kept apart\n"), rejected.stdout
    sam, xor = (koprik(tmp_path, "dedup", "explain", i).stdout.splitlines()[1]
                for i in ("sam:1", "xor:1"))
    assert sam != xor, (sam, xor)


def test_an_upgraded_catalogue_gets_its_match_keys_from_dedup_all(tmp_path):
    import shutil

    from sqlalchemy import func, select

    from catalog import Catalog, models
    from config import load_settings
    from tests.conftest import DATA

    shutil.copy(DATA / "catalog-before-revisions.sqlite3", tmp_path / "c.sqlite3")
    (tmp_path / "koprik.toml").write_text(CONFIG.format(db=tmp_path / "c.sqlite3"))
    assert koprik(tmp_path, "db", "upgrade").returncode == 0
    result = koprik(tmp_path, "dedup", "--all")
    assert result.returncode == 0, result.stderr
    catalog = Catalog.open(load_settings(tmp_path / "koprik.toml"))
    try:
        with catalog.engine.connect() as connection:
            live = connection.execute(select(func.count()).select_from(models.records)
                                      .where(~models.records.c.deleted)).scalar_one()
            deleted = connection.execute(select(func.count()).select_from(models.records)
                                         .where(models.records.c.deleted)).scalar_one()
            keyed = connection.execute(select(func.count(func.distinct(
                models.match_keys.c.record_id)))).scalar_one()
    finally:
        catalog.close()
    assert live > 0 and keyed == live
    total = live + deleted  # every record is looked at (a deleted one leaves no group)
    assert f"dedup: {total} records looked at; 0 records put in a group" in result.stdout, \
        result.stdout


def test_a_feed_switched_to_named_holdings_has_its_union_records_written_again(tmp_path):
    """``holdings = "named"`` for a regional centre's feed: ``koprik dedup --all --source``
    writes its union records again, each copy the library its 852 $a names (in the OAI set
    ``inst`` of that library), the feed's code for a copy that names none."""
    from pymarc import Field, Record, Subfield

    from catalog import Catalog
    from config import load_settings

    config = tmp_path / "koprik.toml"
    config.write_text(CONFIG.format(db=tmp_path / "c.sqlite3"))
    feed = book("1", "Kimyo", author="Rahimov, Botir", call_number="54 K-45",
                organization="UzSaRL-Urgut")
    feed.add_field(Field(tag="852", indicators=[" ", " "],
                         subfields=[Subfield("h", "54 K-46")]))
    write_marc(tmp_path / "sam.mrc", [feed])
    write_marc(tmp_path / "bux.mrc", [book("1", "Kimyo", author="Rahimov, Botir")])
    for source in ("sam", "bux"):
        assert koprik(tmp_path, "import", "--source", source, f"{source}.mrc").returncode == 0

    def union() -> tuple[list[tuple[str | None, str | None]], tuple[str, ...]]:
        catalog = Catalog.open(load_settings(config))
        try:
            entry = catalog.get_entry("union:1")
            assert entry is not None
            record = Record(data=catalog.marc_of("union:1"), force_utf8=True)
        finally:
            catalog.close()
        inst = tuple(spec for spec in entry.set_specs if spec.startswith("inst:"))
        return [(f.get("a"), f.get("h")) for f in record.get_fields("852")], inst

    assert union() == ([("UzSaRL", "54 K-45"), ("UzSaRL", "54 K-46"), ("UzBuRL", None)],
                       ("inst:UzBuRL", "inst:UzSaRL"))
    config.write_text(config.read_text().replace(
        'institution_code = "UzSaRL"\n', 'institution_code = "UzSaRL"\nholdings = "named"\n'))
    again = koprik(tmp_path, "dedup", "--all", "--source", "sam").stdout
    assert "1 records looked at;" in again and "1 union records written" in again, again
    assert union() == ([("UzSaRL-Urgut", "54 K-45"), ("UzSaRL", "54 K-46"), ("UzBuRL", None)],
                       ("inst:UzBuRL", "inst:UzSaRL", "inst:UzSaRL-Urgut"))
    wrong = koprik(tmp_path, "dedup", "--all", "--source", "samarqand")
    assert (wrong.returncode, wrong.stderr) == (
        2, "koprik: --source samarqand: no records of that source\n")
    alone = koprik(tmp_path, "dedup", "--source", "sam")
    assert (alone.returncode, alone.stderr) == (
        2, "koprik: --source names the records --all looks at again: give --all too\n")


class _Terminal(io.StringIO):
    """Standard error as a terminal shows it (progress is drawn only on one)."""

    def isatty(self) -> bool:
        return True


def _config(tmp_path):  # type: ignore[no-untyped-def]
    config = tmp_path / "koprik.toml"
    config.write_text(CONFIG.format(db=tmp_path / "c.sqlite3"))
    return str(config)


def test_dedup_all_shows_its_progress_on_a_terminal_only(tmp_path, monkeypatch, capsys):
    """``koprik dedup --all`` (42 s on 120,000 records) showed nothing but its summary at the
    end, even on a terminal; now both its steps (match keys, then the queue) draw a progress
    line there, as the import's reading does, and nothing more is written elsewhere."""
    config = _config(tmp_path)
    assert main(["--config", config, "demo", "--records", "1200"]) == 0
    capsys.readouterr()
    assert main(["--config", config, "dedup", "--all"]) == 0
    assert capsys.readouterr().err == ""  # not a terminal
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert main(["--config", config, "dedup", "--all"]) == 0
    shown = terminal.getvalue()
    assert "\r\x1b[Kmatch keys: 1,200/1,200 records 100.0%" in shown, shown
    assert "\r\x1b[Kdedup: 1,200/1,200 records 100.0%" in shown, shown
    assert shown.endswith("\n")


def test_the_deduplication_ending_an_import_shows_its_progress_on_a_terminal(
    tmp_path, monkeypatch
):
    """After the import's progress line stopped, its deduplication (27-128 s on a large file)
    showed nothing; now it has a line of its own."""
    config = _config(tmp_path)
    write_marc(tmp_path / "sam.mrc", [book(str(n), f"Kitob {n}") for n in range(1, 40)])
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert main(["--config", config, "import", "--source", "sam",
                 "--rejects", str(tmp_path / "r.txt"), "--report", str(tmp_path / "p.txt"),
                 str(tmp_path / "sam.mrc")]) == 0  # fmt: skip
    shown = terminal.getvalue()
    assert "\r\x1b[Kimport sam.mrc: 39 records" in shown, shown
    assert "\n\r\x1b[Kdedup: 39/39 records 100.0%" in shown, shown


def test_an_import_interrupted_while_grouping_says_koprik_dedup_finishes_it(
    tmp_path, monkeypatch, capsys
):
    """A ^C once the files were read, while their records were grouped into union records,
    said "import the files again to go on", nothing of the grouping cut short: the catalogue
    then served duplicates until ``koprik dedup`` ran. Now the line says so."""
    config = _config(tmp_path)
    write_marc(tmp_path / "sam.mrc", [book(str(n), f"Kitob {n}") for n in range(1, 4)])

    def interrupted(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    monkeypatch.setattr("catalog.dedup._next_batch", interrupted)
    assert main(["--config", config, "import", "--source", "sam",
                 "--rejects", str(tmp_path / "r.txt"), "--report", str(tmp_path / "p.txt"),
                 str(tmp_path / "sam.mrc")]) == 130  # fmt: skip
    assert capsys.readouterr().err.splitlines()[-1] == (
        "koprik: interrupted after 3 added, 0 updated, 0 unchanged, 0 rejected: those stay "
        "stored, but grouping them into union records was interrupted: `koprik dedup` "
        "finishes it")
    monkeypatch.undo()
    assert main(["--config", config, "dedup"]) == 0
    assert "dedup: 3 records looked at" in capsys.readouterr().out


def test_dedup_interrupted_says_how_far_it_got_and_to_run_it_again(tmp_path):
    """A ^C after the first batch of the queue ``koprik dedup --all`` works through (50 records
    a transaction here): one line saying how many were deduplicated and that ``koprik dedup``
    goes on, which then works through the rest. It said only "koprik: interrupted"."""
    demo_catalogue(tmp_path, 300)
    stopped = stopped_at(tmp_path, stopped_after_first_batch(
        "koprik.commands.dedup.run_dedup", "advance", 50), "dedup", "--all")
    assert stopped.returncode == 130, stopped.stderr
    assert stopped.stderr.splitlines() == [
        "koprik: interrupted after 50 records of the queue were deduplicated: the rest stay "
        "queued; run `koprik dedup` again to go on"]
    again = koprik(tmp_path, "dedup")
    assert again.returncode == 0, again.stderr
    looked = int(again.stdout.split("dedup: ")[1].split(" records looked at")[0])
    assert looked >= 250


def test_dedup_all_interrupted_while_keying_says_to_run_it_again(tmp_path):
    """A ^C as ``koprik dedup --all`` works out the match keys again (100 records a
    transaction here), after the first transaction: one line saying how many of how many were
    done and to run the same command again; it said only "koprik: interrupted"."""
    demo_catalogue(tmp_path, 300)
    stopped = stopped_at(tmp_path, (
        "koprik.commands.dedup.REKEY_BATCH = 100\n"
        "rekeyed, chunks = koprik.commands.dedup._rekeyed, []\n"
        "def rekeyed_until_stopped(writer, ids):\n"
        "    chunks.append(ids)\n"
        "    if len(chunks) == 2:\n"
        "        stop()\n"
        "    rekeyed(writer, ids)\n"
        "koprik.commands.dedup._rekeyed = rekeyed_until_stopped\n"), "dedup", "--all")
    assert stopped.returncode == 130, stopped.stderr
    said = re.fullmatch(r"koprik: interrupted after the match keys of 100 of (\d+) records "
                        r"were worked out again: run `koprik dedup --all` again \(it begins "
                        r"anew\)\n", stopped.stderr)  # fmt: skip
    assert said is not None, stopped.stderr
    assert int(said[1]) >= 300


def _pair_for_review(tmp_path):
    """A SQLite catalogue named by ``tmp_path/koprik.toml`` whose pair sam:2 / bux:2 waits for
    an operator's review."""
    (tmp_path / "koprik.toml").write_text(CONFIG.format(db=tmp_path / "c.sqlite3"))
    write_marc(tmp_path / "sam.mrc", [book("2", "Xalq dostonlari", pages=None)])
    write_marc(tmp_path / "bux.mrc", [book("2", "Xalq dostonlari", pages=None)])
    for source in ("sam", "bux"):
        assert koprik(tmp_path, "import", "--source", source, f"{source}.mrc").returncode == 0
    assert "sam:2\tbux:2" in koprik(tmp_path, "dedup", "review").stdout


@pytest.mark.parametrize(("signal_name", "said", "status"),
                         [("SIGINT", "interrupted", 130), ("SIGTERM", "terminated", 143)])
def test_review_interrupted_in_the_queues_run_says_the_answer_is_kept(
    tmp_path, signal_name, said, status
):
    """A ^C (or SIGTERM) as ``review reject`` works through the queue, its answer kept, after
    the first of the two records it queued: one line saying the answer is kept, how many of
    the queue were deduplicated and that ``koprik dedup`` goes on, which takes the other. It
    said only "koprik: interrupted"."""
    _pair_for_review(tmp_path)
    stopped = stopped_at(tmp_path, stopped_after_first_batch(
        "koprik.commands.dedup.run_dedup", "advance", 1), "dedup", "review", "reject",
        "sam:2", "bux:2", signal_name=signal_name)  # fmt: skip
    assert stopped.returncode == status, stopped.stderr
    assert stopped.stderr.splitlines() == [
        f"koprik: {said} after the answer was kept (sam:2 and bux:2 are different; the queue's "
        "run takes them apart if they share a group) and 1 records of the queue were "
        "deduplicated: the rest stay queued; run `koprik dedup` again to go on"]
    assert "0 pairs waiting" in koprik(tmp_path, "dedup", "review").stdout
    again = koprik(tmp_path, "dedup")
    assert again.returncode == 0 and "dedup: 1 records looked at" in again.stdout, again.stdout


def test_review_interrupted_before_its_answer_is_kept_says_nothing_was_changed(tmp_path):
    """A ^C inside the one transaction of ``review accept``: one line saying nothing was
    changed and to answer again, which then groups the pair. It said only "koprik:
    interrupted"."""
    _pair_for_review(tmp_path)
    stopped = stopped_at(tmp_path, (
        "import catalog.dedup_operators\n"
        "set_pair = catalog.dedup_operators._set_pair\n"
        "def set_then_stopped(*given):\n"
        "    set_pair(*given)\n"
        "    stop()\n"
        "catalog.dedup_operators._set_pair = set_then_stopped\n"),
        "dedup", "review", "accept", "sam:2", "bux:2")  # fmt: skip
    assert stopped.returncode == 130, stopped.stderr
    assert stopped.stderr.splitlines() == [
        "koprik: interrupted before the answer on sam:2 and bux:2 was kept: nothing was "
        "changed; run `koprik dedup review accept sam:2 bux:2` again"]
    assert "sam:2\tbux:2" in koprik(tmp_path, "dedup", "review").stdout  # still waiting
    accepted = koprik(tmp_path, "dedup", "review", "accept", "sam:2", "bux:2")
    assert accepted.returncode == 0, accepted.stderr
    assert accepted.stdout.startswith("dedup: sam:2 and bux:2 are in union:"), accepted.stdout
