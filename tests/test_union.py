"""The union record of a group of members (catalog/union.py)."""

from pymarc import Field, Record, Subfield

from catalog.store import canonical_marc
from catalog.union import Member, completeness, union_record
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


def test_one_holding_per_institution_and_a_call_number_from_090():
    one = book("1", "Kimyo")
    one.add_field(book("x", "x", ids={"090": "54 K-45"}).get("090"))
    two = book("2", "Kimyo")
    union = union_record("union:1", "UzNL", [member(one, "UzSaRL", "1"),
                                             member(two, "UzSaRL", "2")])
    assert [(f["a"], f["h"]) for f in union.get_fields("852")] == [("UzSaRL", "54 K-45")]
    assert len(union.get_fields("035")) == 2


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
