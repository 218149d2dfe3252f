"""A deterministic generator of realistic demo records, as a cataloger would sign them.

The same ``seed`` and number always give the same records, so benchmarks and tests can name
what they expect. The mix follows a national collection: Uzbek in Latin and in Cyrillic (the
Cyrillic ones mostly carry their Latin form in linked 880 fields), Russian and English; books,
serials, maps, scores and recordings; valid ISBN-13 and ISSN check digits.

Cataloguing is consistent within each record and passes :mod:`crosswalks.check`: records of
publications from 2013 on follow RDA (040 $e rda, 264, 336/337/338, extents spelled out),
older ones AACR2 (260, abbreviations); both carry ISBD punctuation (leader/18 'i' and 'a');
English is the language of cataloguing (040 $b eng); subject subdivisions are subfields
(651 for places); 300 $c holds dimensions; 008 is coded for each material; fields stand in
tag order with the 880 fields last.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from pymarc import Field, Indicators, Leader, Record, Subfield

# (Cyrillic, Latin) pairs: the demo's Uzbek records use one script or the other.
UZBEK_AUTHORS = [
    ("Навоий, Алишер", "Navoiy, Alisher", "1441-1501"),
    ("Қодирий, Абдулла", "Qodiriy, Abdulla", "1894-1938"),
    ("Чўлпон", "Choʻlpon", "1897-1938"),
    ("Ғулом, Ғафур", "Gʻulom, Gʻafur", "1903-1966"),
    ("Ойбек", "Oybek", "1905-1968"),
    ("Орипов, Абдулла", "Oripov, Abdulla", "1941-2016"),
    ("Воҳидов, Эркин", "Vohidov, Erkin", "1936-2016"),
    ("Зулфия", "Zulfiya", "1915-1996"),
    ("Ҳошимов, Ўткир", "Hoshimov, Oʻtkir", "1941-2013"),
    ("Бобур, Заҳириддин Муҳаммад", "Bobur, Zahiriddin Muhammad", "1483-1530"),
    ("Фитрат, Абдурауф", "Fitrat, Abdurauf", "1886-1938"),
    ("Юсуф, Муҳаммад", "Yusuf, Muhammad", "1954-2001"),
]
# (Cyrillic title, Latin title, Cyrillic subject, Latin subject); a subject "A -- B" is the
# heading A with the subdivision B, a place when the heading is in PLACES.
UZBEK_TOPICS = [
    ("Ўзбекистон тарихи", "Oʻzbekiston tarixi", "Ўзбекистон -- Тарих", "Oʻzbekiston -- Tarix"),
    ("Ўзбек адабиёти", "Oʻzbek adabiyoti", "Ўзбек адабиёти", "Oʻzbek adabiyoti"),
    ("Ғазаллар", "Gʻazallar", "Ўзбек шеърияти", "Oʻzbek sheʼriyati"),
    ("Халқ достонлари", "Xalq dostonlari", "Фольклор", "Folklor"),
    ("Самарқанд меъморчилиги", "Samarqand meʼmorchiligi", "Меъморчилик", "Meʼmorchilik"),
    ("Бухоро ва Хива", "Buxoro va Xiva", "Ўзбекистон -- Тарих", "Oʻzbekiston -- Tarix"),
    ("Ўтган кунлар", "Oʻtgan kunlar", "Ўзбек адабиёти", "Oʻzbek adabiyoti"),
    ("Меҳробдан чаён", "Mehrobdan chayon", "Ўзбек адабиёти", "Oʻzbek adabiyoti"),
    ("Иқтисодиёт асослари", "Iqtisodiyot asoslari", "Иқтисодиёт", "Iqtisodiyot"),
    ("Ўзбек тилининг изоҳли луғати", "Oʻzbek tilining izohli lugʻati", "Ўзбек тили", "Oʻzbek tili"),
    ("Тошкент табиати", "Toshkent tabiati", "Табиат", "Tabiat"),
    ("Қўшиқлар тўплами", "Qoʻshiqlar toʻplami", "Мусиқа", "Musiqa"),
]
UZBEK_PUBLISHERS = [
    ("Тошкент", "Toshkent", "Ғафур Ғулом номидаги нашриёт", "Gʻafur Gʻulom nomidagi nashriyot"),
    ("Тошкент", "Toshkent", "Шарқ", "Sharq"),
    ("Тошкент", "Toshkent", "Ўзбекистон", "Oʻzbekiston"),
    ("Самарқанд", "Samarqand", "Зарафшон", "Zarafshon"),
    ("Тошкент", "Toshkent", "Фан", "Fan"),
]
RUSSIAN = [
    ("Толстой, Лев Николаевич", "Война и мир", "Русская литература"),
    ("Пушкин, Александр Сергеевич", "Евгений Онегин", "Русская поэзия"),
    ("Чехов, Антон Павлович", "Рассказы", "Русская литература"),
    ("Достоевский, Фёдор Михайлович", "Преступление и наказание", "Русская литература"),
    ("Айтматов, Чингиз", "Буранный полустанок", "Киргизская литература"),
    ("Бартольд, Василий Владимирович", "Туркестан в эпоху монгольского нашествия",
     "Средняя Азия -- История"),
]
RUSSIAN_PUBLISHERS = [("Москва", "Наука"), ("Ташкент", "Узбекистан"), ("Санкт-Петербург", "Азбука")]
ENGLISH = [
    ("Frye, Richard N.", "The heritage of Central Asia", "Central Asia -- History"),
    ("Starr, S. Frederick", "Lost enlightenment", "Islamic civilization"),
    ("Soucek, Svat", "A history of inner Asia", "Asia, Central -- History"),
    ("Golden, Peter B.", "Central Asia in world history", "Asia, Central -- History"),
    ("Allworth, Edward", "The modern Uzbeks", "Uzbeks -- History"),
]
ENGLISH_PUBLISHERS = [("Cambridge", "Cambridge University Press"),
                      ("Princeton", "Princeton University Press")]
INSTITUTIONS = ["UzNL", "UzNL", "UzNL", "UzSamARM", "UzBuxARM", "UzNamARM"]
PLACES = {"Ўзбекистон", "Oʻzbekiston", "Средняя Азия", "Central Asia", "Asia, Central"}
"""Subject headings that are geographic names (651, not 650)."""
MAPS = {"uzb-cyrl": "Хариталар", "uzb-latn": "Xaritalar", "rus": "Карты", "eng": "Maps"}
COUNTRY = {"Тошкент": "uz ", "Toshkent": "uz ", "Самарқанд": "uz ", "Samarqand": "uz ",
           "Ташкент": "uz ", "Москва": "ru ", "Санкт-Петербург": "ru ", "Cambridge": "enk",
           "Princeton": "nju"}
"""MARC country codes of the publication places (008/15-17)."""

# Material kinds with their leader/06-07 and share of the collection (in percent).
MATERIALS = [("book", "am", 70), ("serial", "as", 10), ("map", "em", 7), ("score", "cm", 5),
             ("recording", "jm", 8)]
# 300 $a, $b, $c in RDA and in AACR2 ({n}: pages).
EXTENTS = {
    "book": (("{n} pages", None, "21 cm"), ("{n} p.", None, "21 cm")),
    "serial": (("volumes", "illustrations", "29 cm"), ("v.", "ill.", "29 cm")),
    "map": (("1 map", "color", "60 x 90 cm"), ("1 map", "col.", "60 x 90 cm")),
    "score": (("1 score ({n} pages)", None, "31 cm"), ("1 score ({n} p.)", None, "31 cm")),
    "recording": (("1 audio disc (60 min.)", "digital", "4 3/4 in."),
                  ("1 sound disc (60 min.)", "digital", "4 3/4 in.")),
}
# 336, 337, 338 of RDA records: (term, code) each.
CONTENT_TYPES = {
    "book": (("text", "txt"), ("unmediated", "n"), ("volume", "nc")),
    "serial": (("text", "txt"), ("unmediated", "n"), ("volume", "nc")),
    "map": (("cartographic image", "cri"), ("unmediated", "n"), ("sheet", "nb")),
    "score": (("notated music", "ntm"), ("unmediated", "n"), ("volume", "nc")),
    "recording": (("performed music", "prm"), ("audio", "s"), ("audio disc", "sd")),
}
# 008/18-34 of each material (see crosswalks/tables/marc21_008.toml).
FIXED_18_34 = {
    "book": "    " + "  " + "    " + " " + "000" + " " + "0" + " ",
    "serial": "qr p" + "  " + " " + "   " + " " + "0" + "   " + "{alphabet}" + "0",
    "map": "    " + "  " + " " + "a" + "  " + " " + " " + " " + "0" + " " + "  ",
    "score": "mu" + "a" + "n" + " " + " " + "      " + "  " + " " + "n" + " ",
    "recording": "mu" + "n" + "n" + " " + " " + "      " + "  " + " " + "n" + " ",
}
NONFILING = ("The ", "A ", "An ")


def isbn13(body12: str) -> str:
    """An ISBN-13 with its check digit, from its first twelve digits."""
    total = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(body12))
    return body12 + str((10 - total % 10) % 10)


def issn(body7: str) -> str:
    """An ISSN ``NNNN-NNNC`` with its check digit, from its first seven digits."""
    total = sum(int(d) * w for d, w in zip(body7, range(8, 1, -1), strict=True))
    check = (11 - total % 11) % 11
    digit = "X" if check == 10 else str(check)
    return f"{body7[:4]}-{body7[4:]}{digit}"


@dataclass(frozen=True)
class DemoPlan:
    """How ``koprik demo`` fills a catalogue: N records, every ``delete_every``-th deleted."""

    records: int
    seed: int = 1
    delete_every: int = 97

    def deleted_ids(self) -> Iterator[str]:
        return (demo_id(n) for n in range(self.delete_every, self.records + 1, self.delete_every))


def demo_id(n: int) -> str:
    return f"demo{n:07d}"


def demo_records(count: int, seed: int = 1) -> Iterator[Record]:
    """``count`` records, numbered ``demo0000001``..., always the same for the same seed."""
    for n in range(1, count + 1):
        yield demo_record(n, random.Random(seed * 1_000_003 + n))


def demo_record(n: int, rng: random.Random) -> Record:
    material, leader67, _ = rng.choices(MATERIALS, weights=[m[2] for m in MATERIALS])[0]
    year = rng.randint(1960, 2025)
    language = rng.choices(["uzb-cyrl", "uzb-latn", "rus", "eng"], weights=[35, 35, 20, 10])[0]
    rda = year >= 2013
    record = Record(force_utf8=True)
    record.leader = Leader(f"00000n{leader67} a2200000 {'i' if rda else 'a'} 4500")
    institution = rng.choice(INSTITUTIONS)
    lang_code = language[:3]
    fields: list[Field] = [
        Field(tag="001", data=demo_id(n)),
        Field(tag="003", data="UzNL"),
        Field(tag="005", data=f"{year + 1}0101120000.0"),
    ]
    if material == "serial":
        fields.append(_field("022", "0", " ", "a", issn(f"{2000 + n % 8000:04d}{n % 1000:03d}")))
    elif material in ("book", "score", "map"):
        body = f"9789943{n % 100000:05d}"
        fields.append(_field("020", " ", " ", "a", isbn13(body)))
    cataloguing = ["a", institution, "b", "eng", *(["e", "rda"] if rda else []), "c", institution]
    fields.append(_field("040", " ", " ", *cataloguing))
    if rng.random() < 0.1 and lang_code != "rus":
        fields.append(_field("041", "1", " ", "a", lang_code, "h", "rus"))
    linked: list[Field] = []
    serial = material == "serial"
    if language.startswith("uzb"):
        place, region = _uzbek_fields(
            fields, linked, rng, n, _date(year, serial), language == "uzb-cyrl", rda, serial
        )
    else:
        place, region = _foreign_fields(fields, rng, n, _date(year, serial), lang_code, rda,
                                        serial)
    pages = rng.randint(48, 640)
    fields.extend(_description(material, rda, pages))
    if material == "map":
        fields.append(_field("651", " ", "7", "a", region, "v", f"{MAPS[language]}.", "2", "uzbsh"))
    if material == "serial":
        fields.append(_field("310", " ", " ", "a", "Quarterly"))
    if rng.random() < 0.3:
        fields.append(_field("856", "4", "0", "u", f"https://natlib.example.uz/e/{demo_id(n)}"))
    fields.append(_field("852", " ", " ", "a", institution, "h", f"{rng.randint(1, 99)}.{n}"))
    fixed = _fixed_field(year, material, lang_code, language, place)
    for fld in sorted([fixed, *fields], key=lambda f: f.tag) + linked:
        record.add_field(fld)
    return record


def _fixed_field(year: int, material: str, lang_code: str, language: str, place: str) -> Field:
    """008: entered the year after publication, single date (serials: currently published)."""
    dates = f"c{year}9999" if material == "serial" else f"s{year}    "
    specific = FIXED_18_34[material].format(
        alphabet="c" if language in ("uzb-cyrl", "rus") else "b"
    )
    country = COUNTRY.get(place, "uz ")
    return Field(tag="008", data=f"{(year + 1) % 100:02d}0101{dates}{country}{specific}"
                 f"{lang_code} d")


def _description(material: str, rda: bool, pages: int) -> list[Field]:
    """300 with ISBD punctuation, and in RDA records 336, 337 and 338."""
    extent, other, dimensions = EXTENTS[material][0 if rda else 1]
    subfields = ["a", extent.format(n=pages) + (" :" if other else " ;")]
    if other:
        subfields += ["b", f"{other} ;"]
    fields = [_field("300", " ", " ", *subfields, "c", dimensions)]
    if rda:
        for tag, (term, code), source in zip(
            ("336", "337", "338"), CONTENT_TYPES[material],
            ("rdacontent", "rdamedia", "rdacarrier"), strict=True,
        ):
            fields.append(_field(tag, " ", " ", "a", term, "b", code, "2", source))
    return fields


def _subject(heading: str, thesaurus: str | None) -> Field:
    """A 650 (651 for a place) with "A -- B" as $a A $x B, ending with a period."""
    main, _, subdivision = heading.partition(" -- ")
    tag = "651" if main in PLACES else "650"
    subfields = ["a", main] + (["x", subdivision] if subdivision else [])
    subfields[-1] += "."
    if thesaurus:
        return _field(tag, " ", "7", *subfields, "2", thesaurus)
    return _field(tag, " ", "0", *subfields)


def _date(year: int, serial: bool) -> str:
    """260/264 $c: the year, or for a serial still published its first year and a hyphen."""
    return f"{year}-" if serial else f"{year}."


def _name_entry(name: str, *dates: str) -> tuple[str, list[str]]:
    """100 first indicator (1 surname, 0 forename only) and subfields ending in a period."""
    if dates:
        return ("1" if ", " in name else "0"), ["a", f"{name},", "d", _end(dates[0])]
    return ("1" if ", " in name else "0"), ["a", _end(name)]


def _natural(name: str) -> str:
    """"Surname, Forenames" as "Forenames Surname" (for 245 $c)."""
    surname, _, forenames = name.partition(", ")
    return f"{forenames} {surname}" if forenames else surname


def _end(text: str) -> str:
    return text if text.endswith((".", "?", "!", "-")) else text + "."


def _uzbek_fields(
    fields: list[Field], linked: list[Field], rng: random.Random, n: int, date: str,
    cyrillic: bool, rda: bool, serial: bool,
) -> tuple[str, str]:
    """Add the Uzbek record's fields; return its place of publication and its region."""
    author = rng.choice(UZBEK_AUTHORS)
    topic = rng.choice(UZBEK_TOPICS)
    place = rng.choice(UZBEK_PUBLISHERS)
    part = n % 12 + 1
    pick = 0 if cyrillic else 1
    with_880 = cyrillic and rng.random() < 0.8
    forms = [(author[pick], topic[pick], f"{part}-жилд" if cyrillic else f"{part}-jild")]
    if with_880:
        forms.append((author[1], topic[1], f"{part}-jild"))
    for number, (name, title, part_text) in enumerate(forms):
        ind1, entry = _name_entry(name, author[2])
        main = [("100", ind1, " ", entry),
                ("245", "1", "0", ["a", f"{title}.", "n", f"{part_text} /", "c",
                                   _end(_natural(name))])]
        if serial:  # a serial is entered under its title
            main = [("245", "0", "0", ["a", f"{title}.", "n", _end(part_text)])]
        for index, (tag, ind1, ind2, subfields) in enumerate(main):
            if not with_880:
                fields.append(_field(tag, ind1, ind2, *subfields))
            elif number == 0:
                fields.append(_field(tag, ind1, ind2, "6", f"880-{index + 1:02d}", *subfields))
            else:
                linked.append(_field("880", ind1, ind2, "6", f"{tag}-{index + 1:02d}", *subfields))
    tag, ind2 = ("264", "1") if rda else ("260", " ")
    fields.append(_field(tag, " ", ind2, "a", f"{place[pick]} :", "b", f"{place[pick + 2]},",
                         "c", date))
    fields.append(_subject(topic[pick + 2], "uzbsh"))
    return place[pick], "Ўзбекистон" if cyrillic else "Oʻzbekiston"


def _foreign_fields(
    fields: list[Field], rng: random.Random, n: int, date: str, lang_code: str, rda: bool,
    serial: bool,
) -> tuple[str, str]:
    """Add the Russian or English record's fields; return its place and its region."""
    table, publishers = (RUSSIAN, RUSSIAN_PUBLISHERS) if lang_code == "rus" else (
        ENGLISH, ENGLISH_PUBLISHERS)
    author, title, subject = rng.choice(table)
    place, publisher = rng.choice(publishers)
    skip = next((str(len(article)) for article in NONFILING if title.startswith(article)), "0")
    part = f"{'Часть' if lang_code == 'rus' else 'Part'} {n % 7 + 1}"
    if serial:
        fields.append(_field("245", "0", skip, "a", f"{title}.", "n", f"{part}."))
    else:
        ind1, entry = _name_entry(author)
        fields.append(_field("100", ind1, " ", *entry))
        fields.append(_field("245", "1", skip, "a", f"{title}.", "n", f"{part} /", "c",
                             _end(_natural(author))))
    tag, ind2 = ("264", "1") if rda else ("260", " ")
    fields.append(_field(tag, " ", ind2, "a", f"{place} :", "b", f"{publisher},", "c", date))
    fields.append(_subject(subject, None))
    if rng.random() < 0.2:
        fields.append(_field("700", "1", " ", "a", f"{rng.choice(table)[0]},", "e", "editor."))
    return place, "Средняя Азия" if lang_code == "rus" else "Asia, Central"
def _field(tag: str, ind1: str, ind2: str, *codes_and_values: str) -> Field:
    pairs = zip(codes_and_values[::2], codes_and_values[1::2], strict=True)
    return Field(
        tag=tag,
        indicators=Indicators(ind1, ind2),
        subfields=[Subfield(code=c, value=v) for c, v in pairs],
    )
