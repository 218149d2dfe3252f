"""provider/sru/cql_query.py: CQL onto the catalogue's query model.

The table lists the example queries of the CQL specification (the LoC CQL page
https://www.loc.gov/standards/sru/cql/spec.html and the examples of its earlier versions:
simple queries, booleans, relations, relation and boolean modifiers, proximity, sorting and
prefix assignment), each with the query of ``catalog/query.py`` it becomes, written compactly
(``index:term``, ``"…"`` a phrase, ``*`` truncation, ``index>=term`` a relation), or the SRU
diagnostic it is refused with. Examples that name indexes Koprik does not have (the spec's
``lengthOfFemur``, ``bioMass``...) are refused with 16, as they must be.
"""

from __future__ import annotations

import pytest

from catalog.query import And, AndNot, Every, Ids, Match, Or, Relation
from catalog.query import Query as ModelQuery
from protocols.cql import parse
from provider.search import SearchError
from provider.sru.cql_query import sort_keys_of, translate


def compact(query: ModelQuery) -> str:
    if isinstance(query, Match):
        term = query.term.replace("*", "\\*")
        term = f'"{term}"' if query.phrase else term
        if query.relation == Relation.WITHIN:
            return f"{query.index} within {query.term}..{query.upper}"
        relation = ":" if query.relation == Relation.EQUAL else str(query.relation)
        return f"{query.index}{relation}{term}{'*' if query.truncation else ''}"
    if isinstance(query, Ids):
        return f"set{list(query.ids)}"
    if isinstance(query, Every):
        return "every"
    op = {And: "AND", Or: "OR", AndNot: "NOT"}[type(query)]
    return f"({compact(query.left)} {op} {compact(query.right)})"


def becomes(text: str) -> str:
    try:
        query, keys = translate(parse(text), lambda name: [7, 9] if name == "rs1" else [])
    except SearchError as error:
        return f"diagnostic {error.sru}"
    sort = " ".join(f"{k.index}{'-' if k.descending else '+'}" for k in keys)
    return compact(query) + (f" sortBy {sort}" if sort else "")


SPEC_EXAMPLES: list[tuple[str, str]] = [
    # Simple queries
    ("dinosaur", "any:dinosaur"),
    ('"complete dinosaur"', "any:complete dinosaur"),
    ('title = "complete dinosaur"', "title:complete dinosaur"),
    ('title exact "the complete dinosaur"', 'title:"the complete dinosaur"'),
    # Booleans
    ("dinosaur or bird", "(any:dinosaur OR any:bird)"),
    ("dinosaur not reptile", "(any:dinosaur NOT any:reptile)"),
    ("dinosaur and bird or dinobird", "((any:dinosaur AND any:bird) OR any:dinobird)"),
    ("(bird or dinosaur) and (feathers or scales)",
     "((any:bird OR any:dinosaur) AND (any:feathers OR any:scales))"),
    ('"feathered dinosaur" and (yixian or jehol)',
     "(any:feathered dinosaur AND (any:yixian OR any:jehol))"),
    # Publication indexes and relations
    ("publicationYear < 1980", "diagnostic 16"),
    ("lengthOfFemur > 2.4", "diagnostic 16"),
    ("bioMass >= 100", "diagnostic 16"),
    ("dc.date < 1980", "date<1980"),
    # Proximity: the index keeps no word positions
    ("ribs prox/distance<=5 chevrons", "diagnostic 39"),
    ("ribs prox/unit=sentence chevrons", "diagnostic 39"),
    ("ribs prox/distance>0/unit=paragraph chevrons", "diagnostic 39"),
    ("dc.title any fish prox/unit=word/distance>3 dc.title any squirrel", "diagnostic 39"),
    # Multiple dimensions
    ('date within "2002 2005"', "date within 2002..2005"),
    ('date within "2005 2002"', "date within 2002..2005"),  # was >=2005 and <=2002: nothing
    ('date within "2005 20x2"', "date within 2005..20x2"),  # refused (36) when evaluated
    ("dateRange encloses 2003", "diagnostic 16"),
    ("dc.date encloses 2003", "diagnostic 19"),
    # Relevance (answered unranked) and other relation modifiers
    ('subject any/relevant "fish frog"', "(subject:fish OR subject:frog)"),
    ('subject any/rel.lr "fish frog"', "(subject:fish OR subject:frog)"),
    ("dc.title any/rel.algorithm=cori fish", "title:fish"),
    ("dc.title any/stem fish", "diagnostic 20"),
    ("dc.title =/cql.string fish", 'title:"fish"'),
    # The spec's query-structure examples
    ("dc.title any fish", "title:fish"),
    ("dc.title any fish or dc.creator any sanderson", "(title:fish OR author:sanderson)"),
    ("dc.title any fish sortBy dc.date/sort.ascending", "title:fish sortBy date+"),
    ('> dc = "info:srw/cql-context-set/1/dc-v1.1" dc.title any fish', "title:fish"),
    ("fish", "any:fish"),
    ("cql.serverChoice = fish", "any:fish"),
    ('"squirrels fish"', "any:squirrels fish"),
    ('""', "any:"),  # refused (27) where it is evaluated: catalog/query.py, for every protocol
    ("title any fish", "title:fish"),
    ('dc.title any fish or (dc.creator any sanderson and dc.identifier = "id:1234567")',
     "(title:fish OR (author:sanderson AND identifier:id:1234567))"),
    ("dc.title any fish or/rel.combine=sum dc.creator any sanderson",
     "(title:fish OR author:sanderson)"),
    ('"cat" sortBy dc.title', "any:cat sortBy title+"),
    ('"dinosaur" sortBy dc.date/sort.descending dc.title/sort.ascending',
     "any:dinosaur sortBy date- title+"),
    # records without a date come last: missingLow descending, missingHigh ascending; case
    # is ignored
    ("dc.title any fish sortBy dc.date/sort.descending/sort.missingLow", "title:fish sortBy date-"),
    ("fish sortBy dc.date/sort.missingHigh", "any:fish sortBy date+"),
    ("fish sortBy dc.date/sort.missingLow", "diagnostic 92"),
    ("fish sortBy dc.date/sort.missingOmit/sort.descending", "diagnostic 92"),
    ('fish sortBy dc.date/sort.missingValue="1900"', "diagnostic 92"),
    ("fish sortBy dc.title/sort.respectCase", "diagnostic 91"),
    # Masking
    ("dc.title = fish*", "title:fish*"),
    # a mask before the end of a word is 49 (the SRU list's example: xyz* but not x*yz)
    ("dc.title = f*sh", "diagnostic 49"),
    ('dc.title any "fi* fro*"', "(title:fi* OR title:fro*)"),
    ('dc.title all "fi* frog"', "(title:fi* AND title:frog)"),
    ('dc.title = "fish fro*"', "title:fish fro*"),
    ("dc.title = fis?", "diagnostic 28"),
    ("dc.title = ^fish", "diagnostic 31"),
    ('dc.title = "fish\\*"', "title:fish\\*"),  # an escaped * is a character, not masking
    ('dc.title = "fish\\?"', "title:fish?"),
    ('dc.title = "\\^fish"', "title:^fish"),
    ('dc.title = "fish\\\\"', "title:fish\\"),
    ('dc.title = "say \\"fish\\""', "title:say \"fish\""),
    # CQL escapes only * ? ^ " and the backslash, any other escape is an error: the backslash
    # of na\voiy was dropped, silently (26, non special character escaped in term)
    ('dc.title = "na\\voiy"', "diagnostic 26"),
    ("dc.title = na\\voiy", "diagnostic 26"),
    ('dc.title any "fish na\\voiy"', "diagnostic 26"),
    ('dc.date within "19\\90 2000"', "diagnostic 26"),
    ('dc.title =/cql.unmasked "na\\voiy"', "title:na\\voiy"),  # every character literal
    # Result sets and our own context sets
    ("cql.resultSetId = rs1 and dc.title = fish", "(set[7, 9] AND title:fish)"),
    ("cql.anywhere = toshkent", "any:toshkent"),
    # the cql context set's allIndexes searches them all, as anywhere does (it was 16)
    ("cql.allIndexes = toshkent", "any:toshkent"),
    ("allIndexes any toshkent", "any:toshkent"),
    # every record, whatever the relation and term (it was 16: SRU harvesters page with it)
    ("cql.allRecords = 1", "every"),
    ("allRecords = 1", "every"),
    ('cql.allRecords any "whatever"', "every"),
    ("cql.allRecords = 1 not dc.title = fish", "(every NOT title:fish)"),
    ('> "info:srw/cql-context-set/1/dc-v1.1" allRecords = 1', "diagnostic 16"),
    ("dc.allRecords = 1", "diagnostic 16"),
    ("bath.isbn = 9789943012349", "isbn:9789943012349"),
    ("rec.identifier = uz-ovozi", "local:uz-ovozi"),
    ("dc.creator = navoiy", "author:navoiy"),
    ('> x = "http://unknown.example/" x.title = fish', "diagnostic 15"),
    ("foo.title = fish", "diagnostic 15"),
    ("dc.title <> fish", "diagnostic 19"),
    ("dc.title any/foo.bar fish", "diagnostic 20"),
    ("a and/cql.foo b", "diagnostic 46"),
    # the relevance context set assigned by the query, as the unassigned rel prefix is taken:
    # the relation modifier was 15 and the boolean's under another prefix 46
    ('> rel = "info:srw/cql-context-set/2/relevance-1.2" dc.title any/rel.algorithm=cori fish',
     "title:fish"),
    ('> r = "info:srw/cql-context-set/2/relevance-1.0" dc.title any/r.lr fish', "title:fish"),
    ('> r = "info:srw/cql-context-set/2/relevance-1.1" dc.title any fish or/r.combine=sum'
     " dc.creator any sanderson", "(title:fish OR author:sanderson)"),
    ('a and (> r = "info:srw/cql-context-set/2/relevance-1.2" b or/r.combine=sum c)',
     "(any:a AND (any:b OR any:c))"),
    # a boolean's prefix means what the query assigns it (rel here was taken as relevance)
    ('> rel = "http://unknown.example/" a or/rel.combine=sum b', "diagnostic 15"),
    ('> rel = "http://unknown.example/" dc.title any/rel.lr fish', "diagnostic 15"),
    ('> r = "info:srw/cql-context-set/1/dc-v1.1" a or/r.combine=sum b', "diagnostic 46"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "query"), SPEC_EXAMPLES)
def test_each_spec_example_becomes_its_query(text: str, query: str) -> None:
    assert becomes(text) == query


def test_sru_1_1_sort_keys() -> None:
    keys = sort_keys_of("dc.date,,0 title,,1")
    assert [(k.index, k.descending) for k in keys] == [("date", True), ("title", False)]
    with pytest.raises(SearchError) as raised:
        sort_keys_of("dc.identifier,,1")
    assert raised.value.sru == 88
    keys = sort_keys_of("dc.date,,0,0,lowValue title,,1,,highValue")
    assert [(k.index, k.descending) for k in keys] == [("date", True), ("title", False)]


@pytest.mark.parametrize(("keys", "code"), [
    ("dc.date,,1,,omit", 92), ("dc.date,,0,,highValue", 92), ("dc.date,,1,,lowValue", 92),
    ("dc.date,,1,,abort", 92), ('dc.date,,1,,"1900"', 92), ("dc.title,,1,1", 91),
])  # fmt: skip
def test_sru_1_1_sort_keys_asking_for_what_the_sort_does_not_do_are_refused(
    keys: str, code: int
) -> None:
    """Records without a value for a key come last, in either direction, and case is ignored:
    a ``missingValue`` asking for anything else is 92 (unsupported missing value action), and
    ``caseSensitive`` 1 is 91 (unsupported case value); both were accepted and not done."""
    with pytest.raises(SearchError) as raised:
        sort_keys_of(keys)
    assert raised.value.sru == code
