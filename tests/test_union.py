"""The union record of a group of members (catalog/union.py)."""

from pymarc import Field, Indicators, Record, Subfield

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



def test_another_members_isbn_typed_with_a_cyrillic_x_is_no_invalid_isbn():
    """The Cyrillic Х of a check digit was added as $z, a number the book does not bear."""
    latin = book("1", "Kimyo", isbn="978-9943-01-555-5")
    cyrillic = book("2", "Кимё", isbn=["978-9943-01-555-5", "9943-01-234-Х"])
    union = union_record("union:1", "UzNL", [member(latin, "UzSaRL", "1"),
                                             member(cyrillic, "UzBuRL", "2")])
    assert [(f.get("a"), f.get("z")) for f in union.get_fields("020")] == [
        ("978-9943-01-555-5", None), ("9943-01-234-Х", None)]

def test_each_members_cancelled_isbn_is_added_once():
    records = [book(str(n), "Kimyo") for n in (1, 2, 3)]
    for record, cancelled in zip(records, ["9789943099995", "9789943088885",
                                           "9789943088885 (pbk.)"], strict=True):
        record.add_field(Field(tag="020", indicators=[" ", " "],
                               subfields=[Subfield("z", cancelled)]))
    union = union_record("union:1", "UzNL", [member(r, f"Uz{n}", str(n))
                                             for n, r in enumerate(records)])
    assert sorted(f.get("z") for f in union.get_fields("020")) == ["9789943088885", "9789943099995"]



def test_another_members_title_the_base_does_not_say_is_a_variant_title():
    """A union record hides its members from search: a word only another member's title has
    ("besh doston") found nothing. The same title in the other script is not repeated."""
    cyrillic = book("1", "Хамса", author="Навоий, Алишер")
    latin = book("2", "Xamsa", subtitle="besh doston", author="Navoiy, Alisher")
    latin["245"].add_subfield("c", "Alisher Navoiy.")
    latin["245"]["b"] = "besh doston /"
    again = book("3", "Xamsa", author="Navoiy, Alisher")
    union = union_record("union:1", "UzNL", [member(r, f"Uz{n}", str(n))
                                             for n, r in enumerate([cyrillic, latin, again])])
    assert union["245"]["a"] == "Хамса"
    assert [(f.indicators, [(sf.code, sf.value) for sf in f.subfields])
            for f in union.get_fields("246")] == [
        (Indicators("3", " "), [("a", "Xamsa :"), ("b", "besh doston")])]

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
    from crosswalks.unimarc import to_marc21
    from tests.test_unimarc import raw_records, read_unimarc

    wanted = "RU\\NLR\\bibl\\340141"
    rusmarc = next(r for r in (to_marc21(read_unimarc(raw)).record
                               for raw in raw_records("TEST1.ISO")) if r["001"].data == wanted)
    marc21 = book("b7", "Kimyo", sublocation="Abonement", call_number="24 R-12")
    union = union_record("union:1", "UzNL", [member(rusmarc, "RuSpRNB", wanted),
                                             member(marc21, "UzBuRL", "b7")])
    assert [[(sf.code, sf.value) for sf in f.subfields] for f in union.get_fields("852")] == [
        [("a", "RuSpRNB"), ("b", "С"), ("j", "2002-1/555"), ("p", "377567")],
        [("a", "UzBuRL"), ("b", "Abonement"), ("h", "24 R-12")]]


def _textual(tag: str, link: str | None, text: str, note: str | None = None) -> Field:
    subfields = [Subfield("8", link)] if link is not None else []
    subfields.append(Subfield("a", text))
    if note:
        subfields.append(Subfield("x", note))
    return Field(tag=tag, indicators=["4", "1"], subfields=subfields)


def _linked_holdings(union: Record) -> list[tuple[str, str | None, list[tuple[str, str]]]]:
    """Each 852 of ``union`` as (institution, $b, [(tag, $a) of the 866-868 its $8 links])."""
    textual = union.get_fields("866", "867", "868")
    return [(f["a"], f.get("b"), [(t.tag, t["a"]) for t in textual
                                  if f.get("8") is not None and t.get("8") == f["8"]])
            for f in union.get_fields("852")]


def test_each_members_textual_holdings_go_with_the_852_they_belong_to():
    """A member's 866-868 reach the union record linked by $8 to the 852 of their location (the
    852's $8 numbered 1, 2... among those with textual holdings, the 866-868's link number
    the same), whatever numbers the members used: a record of one 852 (its 866 linked to no
    pattern, $8 0), one of two branches that links its own (852 $8 2, 866 $8 2), one of Koha
    items. Their nonpublic notes stay out, and the base's own 866 is not there twice."""
    one = book("1", "Fan", sublocation="Davriy nashrlar", call_number="Ж 5",
               type_of_record="a", level="s")
    one.add_field(_textual("866", "0", "1991-2010", note="2003 yo'q, so'ralgan"),
                  _textual("868", "0", "Ko'rsatkich 1991-2000"))
    branches = book("2", "Fan", level="s")
    for sequence, branch in (("1", "Markaz"), ("2", "Filial 2")):
        branches.add_field(Field(tag="852", indicators=[" ", " "], subfields=[
            Subfield("8", sequence), Subfield("a", "X"), Subfield("b", branch)]))
    branches.add_field(_textual("866", "2", "2001-2015"), _textual("867", "2.1", "Ilova 2005"))
    koha = book("3", "Фан", level="s", pages=None)
    koha.add_field(Field(tag="952", indicators=[" ", " "], subfields=[
        Subfield("a", "BUX1"), Subfield("b", "BUX1"), Subfield("o", "Ж 5")]))
    koha.add_field(_textual("866", None, "2010-"))
    union = union_record("union:1", "UzNL", [member(one, "UzSaRL", "1"),
                                             member(branches, "UzBuRL", "2"),
                                             member(koha, "UzXoRL", "3")])
    assert _linked_holdings(union) == [
        ("UzSaRL", "Davriy nashrlar", [("866", "1991-2010"), ("868", "Ko'rsatkich 1991-2000")]),
        ("UzBuRL", "Markaz", []),
        ("UzBuRL", "Filial 2", [("866", "2001-2015"), ("867", "Ilova 2005")]),
        ("UzXoRL", "BUX1", [("866", "2010-")])]
    assert [f.get("8") for f in union.get_fields("852")] == ["1", None, "2", "3"]
    assert [f.get("8") for f in union.get_fields("866", "867", "868")] == ["1", "2", "3", "2", "1"]
    for field in union.get_fields("852", "866", "867", "868"):
        assert field.get("8") is None or field.subfields[0].code == "8"  # first, as MARC 21 has it
    assert not [f for f in union.get_fields("866") if f.get("x")]
    assert union.get_fields("866")[0].indicators == Indicators("4", "1")


def test_the_same_location_with_other_textual_holdings_is_another_holding():
    first = book("1", "Fan", sublocation="Zal", level="s")
    first.add_field(_textual("866", None, "1991-2010"))
    again = book("2", "Fan", sublocation="Zal", level="s")
    again.add_field(_textual("866", None, "1991-2010"))
    other = book("3", "Fan", sublocation="Zal", level="s")
    other.add_field(_textual("866", None, "2011-"))
    bare = book("4", "Fan", level="s")
    union = union_record("union:1", "UzNL", [member(first, "UzSaRL", "1"),
                                             member(again, "UzSaRL", "2"),
                                             member(other, "UzSaRL", "3"),
                                             member(bare, "UzSaRL", "4")])
    assert _linked_holdings(union) == [("UzSaRL", "Zal", [("866", "1991-2010")]),
                                       ("UzSaRL", "Zal", [("866", "2011-")])]


def test_a_holding_left_out_past_iso_2709_takes_its_textual_holdings_with_it(caplog):
    def copies(control, count):
        record = book(control, "Fan", level="s")
        for n in range(count):
            record.add_field(Field(tag="852", indicators=[" ", " "], subfields=[
                Subfield("8", str(n + 1)), Subfield("a", "X"), Subfield("b", f"Filial {n}"),
                Subfield("h", f"54 K-{n}")]))
            record.add_field(_textual("866", str(n + 1), f"{1900 + n % 100}-{control}{n:06d}"))
        return record

    members = [member(copies("1", 800), "UzSaRL", "1"), member(copies("2", 800), "UzBuRL", "2"),
               member(copies("3", 1), "UzXoRL", "3")]
    assert all(len(m.marc) < MAX_RECORD_BYTES for m in members)
    union = union_record("union:1", "UzNL", members)
    assert len(canonical_marc(union)) <= MAX_RECORD_BYTES
    locations, textual = union.get_fields("852"), union.get_fields("866")
    assert 3 <= len(locations) == len(textual) < 1601
    assert {f["a"] for f in locations} == {"UzSaRL", "UzBuRL", "UzXoRL"}
    assert [f["8"] for f in locations] == [f["8"] for f in textual] == [
        str(n) for n in range(1, len(locations) + 1)]  # numbered again among those kept
    assert [f["b"].split()[1] for f in locations] == [
        t["a"].split("-")[1][-6:].lstrip("0") or "0" for t in textual]
    assert f"{1601 - len(locations)} of its 1601 holdings left out" in caplog.text


def test_a_feed_whose_holdings_are_named_credits_each_copy_to_the_library_it_names():
    """A regional centre's feed (``holdings = "named"``): each 852 $a, or Koha item's branch
    (952 $a home, else $b holding), is the holding's institution; the feed's own code goes to
    a copy that names none, and stays in the 035 of its record. Each library's first holding is
    kept apart from the others' (a bare one only when that library has no other)."""
    centre = book("7", "Kimyo", sublocation="Abonement", call_number="54 K-45",
                  organization="UzSaRL-A")
    for code, shelf in (("UzSaRL-B", "54 K-46"), (" ", "54 K-47")):
        centre.add_field(Field(tag="852", indicators=[" ", " "], subfields=[
            Subfield("a", code), Subfield("h", shelf)]))
    koha = book("8", "Kimyo", pages=None)
    for home, holding, barcode in (("BUX1", "BUX2", "000123"), ("", "BUX3", "000124")):
        koha.add_field(Field(tag="952", indicators=[" ", " "], subfields=[
            Subfield("a", home), Subfield("b", holding), Subfield("c", "GEN"),
            Subfield("p", barcode)]))
    named = [Member(canonical_marc(centre), "UzSaRIK", "7", named=True),
             Member(canonical_marc(koha), "UzBuRIK", "8", named=True)]
    union = union_record("union:1", "UzNL", named)
    assert [tuple(f.get(c) for c in "abchp") for f in union.get_fields("852")] == [
        ("UzSaRL-A", "Abonement", None, "54 K-45", None), ("UzSaRL-B", None, None, "54 K-46", None),
        ("UzSaRIK", None, None, "54 K-47", None), ("BUX1", None, "GEN", None, "000123"),
        ("BUX3", None, "GEN", None, "000124")]
    assert [f["a"] for f in union.get_fields("035")] == ["(UzSaRIK)7", "(UzBuRIK)8"]

    ordinary = union_record("union:1", "UzNL", [Member(m.marc, m.institution, m.identifier)
                                                for m in named])
    assert [(f.get("a"), f.get("b")) for f in ordinary.get_fields("852")] == [
        ("UzSaRIK", "Abonement"), ("UzSaRIK", None), ("UzSaRIK", None), ("UzBuRIK", "BUX1"),
        ("UzBuRIK", None)]


def _holdings_field(tag: str, link: str, *subfields: str) -> Field:
    pairs = [Subfield("8", link)] + [Subfield(subfields[i], subfields[i + 1])
                                     for i in range(0, len(subfields), 2)]
    return Field(tag=tag, indicators=["2" if tag < "860" else "4", "0"], subfields=pairs)


def _cluster(union: Record, location: Field) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """The 853-868 of ``union`` whose $8 link number is the $8 of ``location`` (an 852), as
    (tag, $8, the other subfields)."""
    return [(f.tag, f["8"], [(sf.code, sf.value) for sf in f.subfields[1:]])
            for f in union.get_fields(*(str(tag) for tag in range(853, 869)))
            if f["8"].split(".")[0] == location.get("8")]


def test_captions_and_enumerations_go_with_the_852_they_belong_to_linked_by_8():
    """A member's 853-855 (captions and patterns) and 863-865 (enumeration and chronology),
    the base's as every other member's, reach the union record linked by $8 to the 852 of
    their location as its 866-868 are: the link number the 852's, so that each 853 still names
    its 863 (854 its 864), an 863's sequence number numbered again in the order of the
    member's (the base's given 1.2 before 1.1, the other's 2.1). The 863's nonpublic note
    ($x) stays out, the 853's calendar change ($x) stays; the base's own are not also there
    unlinked."""
    serial = book("1", "Fan", author="Rahimov, Botir", sublocation="Davriy nashrlar",
                  call_number="Ж 5", type_of_record="a", level="s")
    serial.add_field(
        _holdings_field("853", "1", "a", "v.", "b", "no.", "u", "12", "v", "r", "i", "(year)",
                        "w", "m", "x", "01"),
        _holdings_field("863", "1.2", "a", "2", "b", "1-12", "i", "2002"),
        _holdings_field("863", "1.1", "a", "1", "b", "1-12", "i", "2001", "x", "ichki"),
        _holdings_field("866", "0", "a", "2001-2002"))
    branches = book("2", "Fan", level="s", pages=None)
    for sequence, branch in (("1", "Markaz"), ("2", "Filial 2")):
        branches.add_field(Field(tag="852", indicators=[" ", " "], subfields=[
            Subfield("8", sequence), Subfield("a", "X"), Subfield("b", branch)]))
    branches.add_field(
        _holdings_field("853", "2", "a", "jild", "i", "(yil)"),
        _holdings_field("854", "2", "a", "ilova"),
        _holdings_field("863", "2.1", "a", "5", "i", "2005"),
        _holdings_field("864", "2.1", "a", "1"))
    union = union_record("union:1", "UzNL", [member(branches, "UzBuRL", "2"),
                                             member(serial, "UzSaRL", "1")])
    assert union["245"]["a"] == "Fan" and union["100"]["a"] == "Rahimov, Botir"  # the base
    assert [(f.get("8"), f["a"], f.get("b")) for f in union.get_fields("852")] == [
        (None, "UzBuRL", "Markaz"), ("1", "UzBuRL", "Filial 2"),
        ("2", "UzSaRL", "Davriy nashrlar")]
    markaz, filial, davriy = union.get_fields("852")
    assert _cluster(union, markaz) == []
    assert _cluster(union, filial) == [
        ("853", "1", [("a", "jild"), ("i", "(yil)")]), ("854", "1", [("a", "ilova")]),
        ("863", "1.1", [("a", "5"), ("i", "2005")]), ("864", "1.1", [("a", "1")])]
    assert _cluster(union, davriy) == [
        ("853", "2", [("a", "v."), ("b", "no."), ("u", "12"), ("v", "r"), ("i", "(year)"),
                      ("w", "m"), ("x", "01")]),
        ("863", "2.1", [("a", "1"), ("b", "1-12"), ("i", "2001")]),
        ("863", "2.2", [("a", "2"), ("b", "1-12"), ("i", "2002")]),
        ("866", "2", [("a", "2001-2002")])]
    assert len(union.get_fields("853", "854", "863", "864", "866")) == 8  # none unlinked
    for field in union.get_fields("853", "863"):
        assert field.subfields[0].code == "8" and field.indicators == Indicators(
            "2" if field.tag == "853" else "4", "0")


def test_a_holding_left_out_past_iso_2709_takes_its_captions_and_enumerations_with_it(caplog):
    def copies(control, count):
        record = book(control, "Fan", level="s")
        for n in range(count):
            record.add_field(Field(tag="852", indicators=[" ", " "], subfields=[
                Subfield("8", str(n + 1)), Subfield("a", "X"), Subfield("b", f"Filial {n}")]))
            record.add_field(_holdings_field("853", str(n + 1), "a", "v.", "i", "(year)"),
                             _holdings_field("863", f"{n + 1}.1", "a", f"{n}", "i", "2001"),
                             _holdings_field("863", f"{n + 1}.2", "a", f"{control}{n:06d}"))
        return record

    members = [member(copies("1", 500), "UzSaRL", "1"), member(copies("2", 500), "UzBuRL", "2"),
               member(copies("3", 1), "UzXoRL", "3")]
    assert all(len(m.marc) < MAX_RECORD_BYTES for m in members)
    union = union_record("union:1", "UzNL", members)
    assert len(canonical_marc(union)) <= MAX_RECORD_BYTES
    locations = union.get_fields("852")
    assert 3 <= len(locations) < 1001
    assert {f["a"] for f in locations} == {"UzSaRL", "UzBuRL", "UzXoRL"}
    numbers = [str(n) for n in range(1, len(locations) + 1)]
    assert [f["8"] for f in locations] == [f["8"] for f in union.get_fields("853")] == numbers
    assert [f["8"] for f in union.get_fields("863")] == [
        f"{n}.{s}" for n in numbers for s in (1, 2)]
    assert [f["b"].split()[1] for f in locations] == [
        f["a"] for f in union.get_fields("863") if f["8"].endswith(".1")]
    assert f"{1001 - len(locations)} of its 1001 holdings left out" in caplog.text


def test_enumerations_whose_8_is_no_number_are_kept_after_the_numbered():
    """An 863 whose $8 sequence number is no decimal number (a superscript digit, which Python
    calls a digit but cannot read as a number, letters, nothing) does not stop its union
    record: it is kept, after those numbered, in the member's order."""
    serial = book("1", "Fan", level="s")
    serial.add_field(
        _holdings_field("853", "1", "a", "v."),
        _holdings_field("863", "1.²", "a", "superscript"),
        _holdings_field("863", "1.x", "a", "letter"),
        _holdings_field("863", "1.2", "a", "two"),
        _holdings_field("863", "²", "a", "no link"),
        _holdings_field("863", "1.1", "a", "one"))
    union = union_record("union:1", "UzNL", [member(serial, "UzSaRL", "1")])
    assert [f["a"] for f in union.get_fields("863")] == [
        "one", "two", "superscript", "letter", "no link"]
