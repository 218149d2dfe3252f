"""The union record of a group of members (catalog/union.py)."""

from pymarc import Field, Record, Subfield

from catalog.store import canonical_marc
from catalog.union import Member, base, completeness, union_record
from crosswalks.iso2709 import MAX_RECORD_BYTES
from tests.books import book


def member(record: Record, code: str, identifier: str) -> Member:
    return Member(canonical_marc(record), code, identifier)


def test_the_most_complete_member_is_the_base_and_the_others_add_what_it_lacks():
    sparse = book("a1", "Kimyo", isbn="978-9943-01-234-9", subjects=("Kimyo",),
                  ids={"035": "(OCoLC)12345"}, pages=None)
    rich = book("b7", "Kimyo :", subtitle="darslik", author="Rahimov, Botir",
                isbn="994301234X", subjects=("Кимё", "Darsliklar"), call_number="24 R-12",
                sublocation="Abonement", organization="UzBuRL", ids={"035": "(OCoLC)12345"})
    assert completeness(rich) > completeness(sparse)
    union = union_record("union:5", "UzNL", [member(sparse, "UzSaRL", "a1"),
                                             member(rich, "UzBuRL", "b7")])
    assert union["001"].data == "union:5" and union["003"].data == "UzNL"
    assert union["245"]["b"] == "darslik" and union["100"]["a"] == "Rahimov, Botir"
    assert [f["a"] for f in union.get_fields("020")] == ["994301234X"]  # one ISBN, two forms
    assert sorted(f["a"] for f in union.get_fields("650")) == ["Darsliklar", "Кимё"]
    assert [f["a"] for f in union.get_fields("035")] == [
        "(OCoLC)12345", "(UzSaRL)a1", "(UzBuRL)b7"]
    holdings = [(f.get("a"), f.get("b"), f.get("h")) for f in union.get_fields("852")]
    assert holdings == [("UzSaRL", None, None), ("UzBuRL", "Abonement", "24 R-12")]
    tags = [f.tag for f in union.get_fields()]
    assert tags == sorted(tags)


def test_an_institutions_holding_without_a_location_is_not_repeated_beside_one_with_it():
    one = book("1", "Kimyo")
    one.add_field(book("x", "x", ids={"090": "54 K-45"}).get("090"))
    two = book("2", "Kimyo")
    union = union_record("union:1", "UzNL", [member(one, "UzSaRL", "1"),
                                             member(two, "UzSaRL", "2")])
    assert [(f["a"], f["h"]) for f in union.get_fields("852")] == [("UzSaRL", "54 K-45")]
    assert len(union.get_fields("035")) == 2


def test_every_holding_of_every_member_is_on_the_union_record():
    branches = book("1", "Kimyo", sublocation="Abonement", call_number="54 K-45",
                    organization="UzSaRL")
    branches.add_field(Field(tag="852", indicators=["8", " "], subfields=[
        Subfield("a", "UzSaRL-2"), Subfield("b", "Filial 2"), Subfield("h", "54"),
        Subfield("i", "K-45"), Subfield("t", "2"), Subfield("x", "shelf 3, back row")]))
    koha = book("2", "Кимё", pages=None)
    for branch, barcode in (("BUX1", "000123"), ("BUX2", "000124")):
        koha.add_field(Field(tag="952", indicators=[" ", " "], subfields=[
            Subfield("a", branch), Subfield("b", branch), Subfield("c", "GEN"),
            Subfield("o", "54 K-45"), Subfield("p", barcode), Subfield("y", "BK")]))
    again = book("3", "Kimyo", sublocation="Abonement", call_number="54 K-45")
    union = union_record("union:1", "UzNL", [member(branches, "UzSaRL", "1"),
                                             member(koha, "UzBuRL", "2"),
                                             member(again, "UzSaRL", "3")])
    assert [(f.indicator1, [(sf.code, sf.value) for sf in f.subfields])
            for f in union.get_fields("852")] == [
        (" ", [("a", "UzSaRL"), ("b", "Abonement"), ("h", "54 K-45")]),
        ("8", [("a", "UzSaRL"), ("b", "Filial 2"), ("h", "54"), ("i", "K-45"), ("t", "2")]),
        (" ", [("a", "UzBuRL"), ("b", "BUX1"), ("c", "GEN"), ("h", "54 K-45"), ("p", "000123")]),
        (" ", [("a", "UzBuRL"), ("b", "BUX2"), ("c", "GEN"), ("h", "54 K-45"), ("p", "000124")]),
    ]
    assert union.get_fields("952") == []  # the base's own items are among the 852s


def test_another_members_isbn_with_a_wrong_check_digit_is_added_as_invalid():
    right = book("1", "Kimyo", isbn="978-9943-01-234-9 (pbk.)", subjects=("Kimyo",))
    typo = book("2", "Кимё", isbn="9789943012340", pages=None)  # the check digit mistyped
    union = union_record("union:1", "UzNL", [member(right, "UzSaRL", "1"),
                                             member(typo, "UzBuRL", "2")])
    assert [(f.get("a"), f.get("z")) for f in union.get_fields("020")] == [
        ("978-9943-01-234-9 (pbk.)", None), (None, "9789943012340")]


def test_each_members_cancelled_isbn_is_added_once():
    records = [book(str(n), "Kimyo") for n in (1, 2, 3)]
    for record, cancelled in zip(records, ["9789943099995", "9789943088885",
                                           "9789943088885 (pbk.)"], strict=True):
        record.add_field(Field(tag="020", indicators=[" ", " "],
                               subfields=[Subfield("z", cancelled)]))
    union = union_record("union:1", "UzNL", [member(r, f"Uz{n}", str(n))
                                             for n, r in enumerate(records)])
    assert sorted(f.get("z") for f in union.get_fields("020")) == ["9789943088885", "9789943099995"]


def test_the_base_stays_in_the_script_of_the_oldest_member():
    oldest = book("1", "Кимё", pages=None)
    richer = book("2", "Кимё", subtitle="дарслик", author="Раҳимов, Ботир")
    richest = book("3", "Kimyo", subtitle="darslik", author="Rahimov, Botir",
                   subjects=("Kimyo",), isbn="978-9943-01-234-9")
    members = [member(r, f"Uz{n}", str(n)) for n, r in enumerate([oldest, richer, richest])]
    assert max(completeness(m.record) for m in members) == completeness(richest)
    assert base(members) == 1
    union = union_record("union:1", "UzNL", members)
    assert (union["245"]["a"], union["100"]["a"]) == ("Кимё :", "Раҳимов, Ботир")
    assert [f["a"] for f in union.get_fields("020")] == ["978-9943-01-234-9"]  # added all the same
    assert base(members[2:]) == 0 and base(members[:1]) == 0


def test_holdings_past_what_iso_2709_holds_are_left_out_but_each_institutions_first(caplog):
    def copies(control, count):
        record = book(control, "Kimyo")
        for n in range(count):
            record.add_field(Field(tag="852", indicators=[" ", " "], subfields=[
                Subfield("a", "X"), Subfield("b", f"Filial {n}"), Subfield("h", f"54 K-{n}"),
                Subfield("p", f"{control}{n:08d}")]))
        return record

    members = [member(copies("1", 1400), "UzSaRL", "1"), member(copies("2", 1400), "UzBuRL", "2"),
               member(copies("3", 1), "UzXoRL", "3")]
    assert all(len(m.marc) < MAX_RECORD_BYTES for m in members)
    union = union_record("union:1", "UzNL", members)
    assert len(canonical_marc(union)) <= MAX_RECORD_BYTES  # it can be stored and served
    held = [f["a"] for f in union.get_fields("852")]
    assert set(held) == {"UzSaRL", "UzBuRL", "UzXoRL"} and len(held) < 2801
    assert held == sorted(held, key=["UzSaRL", "UzBuRL", "UzXoRL"].index)  # in member order
    assert f"union record union:1: {2801 - len(held)} of its 2801 holdings left out" in caplog.text


def test_a_rusmarc_members_holdings_reach_the_union_record_beside_a_marc21_members():
    """A RUSMARC member (a National Library of Russia record, converted as every UNIMARC record
    that comes in is) holds its copies in 899: the union record carries them as 852, its
    collection, shelf mark and inventory numbers, beside the MARC21 member's."""
    from crosswalks.unimarc import decode_unimarc, to_marc21
    from tests.test_unimarc import raw_records

    wanted = "RU\\NLR\\bibl\\340141"
    rusmarc = next(r for r in (to_marc21(decode_unimarc(raw)).record
                               for raw in raw_records("TEST1.ISO")) if r["001"].data == wanted)
    marc21 = book("b7", "Kimyo", sublocation="Abonement", call_number="24 R-12")
    union = union_record("union:1", "UzNL", [member(rusmarc, "RuSpRNB", wanted),
                                             member(marc21, "UzBuRL", "b7")])
    assert [[(sf.code, sf.value) for sf in f.subfields] for f in union.get_fields("852")] == [
        [("a", "RuSpRNB"), ("b", "С"), ("j", "2002-1/555"), ("p", "377567")],
        [("a", "UzBuRL"), ("b", "Abonement"), ("h", "24 R-12")]]
