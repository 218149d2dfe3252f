"""Terms extracted per index, and the search index kept in step with the record store."""

from __future__ import annotations

from pymarc import Field, Indicators, Record, Subfield
from sqlalchemy import select

from catalog.search_index import (
    FIELDS,
    MAX_TERM_CHARS,
    SORTABLE,
    IndexEntries,
    check_fts,
    entries_of,
    forms_of,
    isbn_keys,
    issn_keys,
    phrase_of,
    query_keys,
    rebuild,
    sort_keys,
    stored_terms,
    terms_of,
    words_of,
    write_entries,
)
from tests.z3950_target_fixtures import ISBN10_HERITAGE, handmade_records


def records() -> dict[str, Record]:
    """Fresh hand-made records by 001 (tests may change them)."""
    return {record["001"].data: record for record in handmade_records()}


def stored(connection, record_id: int | None = None) -> set[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    """The index's rows (of one record, or all) as ``(index, kind, term)``, sort keys too."""
    names = {number: pair for pair, number in FIELDS.items()}
    found = set()
    sort_rows = select(sort_keys)
    if record_id is not None:
        sort_rows = sort_rows.where(sort_keys.c.record_id == record_id)
    check_fts(connection)
    for field, term, _ in stored_terms(connection, None if record_id is None else [record_id]):
        found.add((*names[field], term))
    for row in connection.execute(sort_rows).mappings():
        found.update((index, "s", key) for index, key in row.items()
                     if index != "record_id" and key is not None)
    return found


def residual(found: set[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
    """``found`` (a record's :func:`terms_of`) as stored: ``any`` without the terms another
    index of the same kind has (worked out here, apart from :func:`entries_of`)."""
    elsewhere = {(k, t) for i, k, t in found if i != "any"}
    return {(i, k, t) for i, k, t in found if i != "any" or (k, t) not in elsewhere}


def index_terms(local: str, index: str, kind: str = "w") -> set[str]:
    return {t for i, k, t in terms_of(records()[local]) if i == index and k == kind}


def test_script_folded_words_meet_across_cyrillic_latin_and_alalc() -> None:
    authors = [
        index_terms(local, "author") for local in ("uz-nav-cyr", "uz-nav-lat", "us-nav-alalc")
    ]
    assert all({"navoii", "alisher", "1441", "1501"} <= words for words in authors)
    titles = [index_terms(local, "title") for local in ("uz-history-cyr", "uz-history-lat",
                                                         "uz-ovozi", "us-adabiyoti")]  # fmt: skip
    assert all("ozbekiston" in words for words in titles)


def test_phrases_are_the_whole_field_and_its_first_subfield_with_and_without_article() -> None:
    assert index_terms("uz-nav-cyr", "title", "p") == {"xamsa besh doston", "xamsa"}
    assert index_terms("en-heritage", "title", "p") == {
        "the heritage of central asia from antiquiti",
        "the heritage of central asia",
        "heritage of central asia from antiquiti",
        "heritage of central asia",
    }
    assert "245" not in str(index_terms("en-heritage", "title", "p"))


def test_statement_of_responsibility_and_control_subfields_are_not_title_words() -> None:
    assert "navoii" not in index_terms("us-nav-alalc", "title")  # 245 $c
    assert "uzbsh" not in index_terms("uz-nav-cyr", "subject")  # 650 $2


def test_linked_880_fields_are_indexed_under_the_field_they_stand_for() -> None:
    record = records()["ru-tolstoy"]
    record["245"].add_subfield("6", "880-01", 0)
    record.add_field(Field(tag="880", indicators=Indicators("1", "0"),
                           subfields=[Subfield("6", "245-01/(B"),
                                      Subfield("a", "Voĭna i mir")]))  # fmt: skip
    found = terms_of(record)
    assert ("title", "p", "voina i mir") in found
    assert not any("880" in term or "245 01" in term for _, _, term in found)


def test_keys_isbn_issn_date_language_local_and_identifier() -> None:
    assert index_terms("en-heritage", "isbn") == {ISBN10_HERITAGE, "9780521801652"}
    assert index_terms("uz-history-cyr", "issn") == {"03178471"}
    assert index_terms("en-heritage", "date") == {"1996"}
    assert index_terms("en-heritage", "language") == {"eng"}
    assert index_terms("uz-ovozi", "local") == {"uzovozi"}
    assert {"123456789", "ocolc", "uzhistorilat"} <= index_terms("uz-history-lat", "identifier")
    assert {"https", "example", "org", "heritage", "9780521801652"} <= index_terms(
        "en-heritage", "identifier"
    )


def test_any_holds_every_other_index_and_every_text_field() -> None:
    found = terms_of(records()["en-heritage"])
    others = {(k, t) for i, k, t in found if i not in ("any",) and k != "s"}
    anywhere = {(k, t) for i, k, t in found if i == "any"}
    assert others < anywhere
    # place of publication (260 $a), the date as written (260 $c), 041 $h: text fields too
    assert {("w", "princeton"), ("w", "c1996"), ("w", "rus"), ("p", "princeton")} <= anywhere
    assert not {("w", "princeton"), ("w", "c1996")} & others


def test_any_takes_notes_series_and_linked_880() -> None:
    record = Record(force_utf8=True)
    record.add_field(Field(tag="001", data="x"))
    record.add_field(
        Field(
            tag="490",
            indicators=Indicators("0", " "),
            subfields=[Subfield("a", "Adabiyot durdonalari")],
        )
    )
    record.add_field(
        Field(
            tag="500",
            indicators=Indicators(" ", " "),
            subfields=[Subfield("a", "Matn lotin yozuvida.")],
        )
    )
    record.add_field(
        Field(
            tag="880",
            indicators=Indicators(" ", " "),
            subfields=[Subfield("6", "260-02/(N"), Subfield("a", "Тошкент")],
        )
    )
    anywhere = {t for i, k, t in terms_of(record) if i == "any" and k == "w"}
    assert set(words_of("Adabiyot durdonalari Matn lotin yozuvida Тошкент")) <= anywhere
    assert not any("260" in term for term in anywhere)  # $6 linkage is never text


def test_forms_are_the_words_and_phrases_as_catalogued() -> None:
    record = records()["uz-history-cyr"]
    words = forms_of(record, "title", "w")
    assert words == {"ozbekiston": "Ўзбекистон", "tarixi": "тарихи"}
    assert forms_of(record, "any", "w")["toshkent"] == "Тошкент"  # without the ISBD " :"
    assert forms_of(record, "title", "p")["ozbekiston tarixi"] == "Ўзбекистон тарихи"
    assert forms_of(record, "isbn", "w") == {}


def test_a_form_keeps_a_closing_bracket_it_opened() -> None:
    """Punctuation around a form goes, but not the parenthesis or bracket closing one the form
    opens: ``(Хасанби Хажбеталович),`` lost its ``)`` with the ``,``."""
    record = Record(force_utf8=True)
    for tag, subfields in (
        ("700", [("a", "Амшоков, Х. Х."), ("q", "(Хасанби Хажбеталович),")]),
        ("710", [("a", "Фан (Тошкент :"), ("b", "нашриёт Н.)."), ("c", "[Ташкент]")]),
        ("700", [("a", "[Навоий]")]),
    ):
        record.add_field(Field(tag=tag, indicators=Indicators("1", " "),
                               subfields=[Subfield(c, v) for c, v in subfields]))  # fmt: skip
    phrases = forms_of(record, "author", "p")
    assert phrases[phrase_of("Амшоков Х Х Хасанби Хажбеталович")] == (
        "Амшоков, Х. Х. (Хасанби Хажбеталович)")
    assert phrases[phrase_of("Амшоков Х Х")] == "Амшоков, Х. Х"
    assert phrases[phrase_of("Фан Тошкент нашриёт Н Ташкент")] == (
        "Фан (Тошкент : нашриёт Н.). [Ташкент]")
    assert phrases[phrase_of("Навоий")] == "Навоий"  # a bracket around it all still goes
    words = forms_of(record, "author", "w")
    assert [words[words_of(w)[0]] for w in ("Хажбеталович", "Н", "Ташкент")] == [
        "Хажбеталович", "Н", "Ташкент"]  # a word's own brackets still go: (Хасанби, Н.).


def test_sort_keys_are_one_per_index() -> None:
    found = terms_of(records()["en-heritage"])
    sort_keys = {i: t for i, k, t in found if k == "s"}
    assert sort_keys == {"title": phrase_of("heritage of central asia from antiquity"),
                         "author": phrase_of("Frye, Richard N."), "date": "1996"}  # fmt: skip


def test_isbn_and_issn_keys() -> None:
    assert isbn_keys("978-0-306-40615-7 (pbk.)") == ["9780306406157", "0306406152"]
    assert isbn_keys("0-8044-2957-X") == ["080442957x", "9780804429573"]
    assert isbn_keys("no isbn here") == []
    assert issn_keys("ISSN 0317-847X") == ["0317847x"]
    assert query_keys("isbn", "978-0-306-40615-7") == ["9780306406157"]
    assert query_keys("isbn", "978030") == ["978030"]  # a truncated prefix stays digits
    assert query_keys("local", "uz-ovozi") == ["uzovozi"]


def test_isbn_and_issn_keys_of_numbers_typed_with_a_cyrillic_x_or_typographic_hyphens() -> None:
    """A check digit X typed on a Cyrillic keyboard (Х, U+0425) or a word processor's hyphens
    are the number's own characters, in the record and in the query: the record's ISBN was not
    found by a search for it, and searched so, found nothing."""
    assert isbn_keys("0-8044-2957-Х") == isbn_keys("0-8044-2957-х") == ["080442957x",
                                                                      "9780804429573"]
    assert isbn_keys("978\u20110\u2011306\u201140615\u20117") == ["9780306406157", "0306406152"]
    assert isbn_keys("978\u20130\u2013306\u201340615\u20137") == ["9780306406157", "0306406152"]
    assert issn_keys("ISSN 0317-847Х") == ["0317847x"]
    assert query_keys("isbn", "0-8044-2957-Х") == ["080442957x"]
    assert isbn_keys("978-0-306-40615-7 Хамса") == ["9780306406157", "0306406152"]


def test_long_fields_are_cut_at_the_term_limit() -> None:
    record = records()["uz-ovozi"]
    record["245"]["a"] = "soʻz " * 100
    assert max(len(t) for _, _, t in terms_of(record)) <= MAX_TERM_CHARS


def test_index_entries_are_the_terms_numbered_by_field_any_only_what_no_other_index_has() -> None:
    for record in handmade_records():
        found = terms_of(record)
        entries = entries_of(record)
        expected = {(FIELDS[i, k], t) for i, k, t in residual(found) if k != "s"}
        assert entries.pairs == expected
        assert len(expected) < len([k for _, k, _ in found if k != "s"])  # copies left out
        assert {k for i, k, _ in found if i == "any"} == {"w", "p"}
        sorts = {i: t for i, k, t in found if k == "s"}
        assert entries.sorts == tuple(sorts.get(i) for i in ("title", "author", "date"))
        assert entries.pairs and any(entries.sorts)


def test_terms_follow_put_update_and_delete(catalog) -> None:  # type: ignore[no-untyped-def]
    record = records()["uz-ovozi"]
    with catalog.writer() as writer:
        writer.put(record)
    with catalog.engine.connect() as connection:
        assert stored(connection) == residual(terms_of(record))

    record["245"]["a"] = "Yangi nom"
    with catalog.writer() as writer:
        writer.put(record)
    with catalog.engine.connect() as connection:
        words = {term for field, term, _ in stored_terms(connection)
                 if field == FIELDS["title", "w"]}  # fmt: skip
        assert stored(connection) == residual(terms_of(record))
    assert words == set(words_of("Yangi nom gazeta"))

    with catalog.writer() as writer:
        writer.delete("uz-ovozi")
    with catalog.engine.connect() as connection:
        assert stored(connection) == set()


def test_a_records_terms_go_with_it_whatever_made_them(catalog) -> None:  # type: ignore[no-untyped-def]
    """A record's rows are removed by its id: rows that making its terms again would not give
    (other rules, other Unicode tables, a value ISO 2709 cannot carry) go as well."""
    record = records()["uz-ovozi"]
    record["245"]["a"] = "Ikki\x1fbqism"  # a subfield delimiter inside a value
    with catalog.writer() as writer:
        writer.put(record)
    with catalog.engine.begin() as connection:
        (record_id,) = {record_id for _, _, record_id in stored_terms(connection)}
        _add_stale(connection, record_id, "oldrules")
    record["245"]["a"] = "Boshqa nom"
    with catalog.writer() as writer:
        writer.put(record)
    with catalog.engine.connect() as connection:
        assert stored(connection) == residual(terms_of(record))
    with catalog.writer() as writer:
        writer.delete("uz-ovozi")
    with catalog.engine.connect() as connection:
        assert stored(connection) == set()


def test_rebuild_recomputes_every_live_record(catalog) -> None:  # type: ignore[no-untyped-def]
    with catalog.writer() as writer:
        for record in handmade_records():
            writer.put(record)
        writer.delete("ru-tolstoy")
    with catalog.engine.begin() as connection:
        before = stored_terms(connection), set(connection.execute(select(sort_keys)))
        held = sorted({record_id for _, _, record_id in before[0]})
        write_entries(connection, [(record_id, None) for record_id in held[::2]])
        _add_stale(connection, held[1], "stale")
        assert stored_terms(connection) != before[0]
    assert rebuild(catalog.engine, batch=4) == len(handmade_records()) - 1
    with catalog.engine.connect() as connection:
        check_fts(connection)
        after = stored_terms(connection), set(connection.execute(select(sort_keys)))
    assert after == before and before[1]


def _add_stale(connection, record_id: int, term: str) -> None:  # type: ignore[no-untyped-def]
    """Give record ``record_id`` a title word that its rules do not make (as other rules, or
    other Unicode tables, might have), besides what it has."""
    held = sorted((field, text) for field, text, _ in stored_terms(connection, [record_id]))
    fields = bytes([field for field, _ in held] + [FIELDS["title", "w"]])
    entries = IndexEntries(fields, (*(text for _, text in held), term), (None,) * len(SORTABLE))
    write_entries(connection, [(record_id, entries)])
    assert (FIELDS["title", "w"], term, record_id) in stored_terms(connection, [record_id])


def test_digits_that_are_not_ascii_make_no_isbn_and_no_date() -> None:
    record = records()["en-heritage"]
    record.remove_fields("020", "008", "260", "264")
    superscripts = "\u00b2" * 9  # digits to str.isdigit(), not to int()
    record.add_field(
        Field("020", Indicators(" ", " "), [Subfield("a", superscripts + "X")]),
        Field(tag="008", data=f"000000s{superscripts[:4]}    xx            000 0 eng d"),
        Field("260", Indicators(" ", " "), [Subfield("c", "\u0662\u0660\u0660\u0663")]),  # ٢٠٠٣
    )
    found = terms_of(record)
    assert not {t for i, _, t in found if i in ("isbn", "date") and not t.isascii()}
    assert not {t for i, _, t in found if i == "date"}
    assert isbn_keys(superscripts + "X") == []



def test_language_codes_worked_out_once_are_taken_as_given() -> None:
    record = records()["en-heritage"]
    language = FIELDS["language", "w"]
    assert {t for f, t in entries_of(record).pairs if f == language} == {"eng"}
    given = entries_of(record, language_codes=["kaa"])
    assert {t for f, t in given.pairs if f == language} == {"kaa"}
