"""A deterministic generator of realistic demo records.

The same ``seed`` and number always give the same records, so benchmarks and tests can name
what they expect. The mix follows a national collection: Uzbek in Latin and in Cyrillic (the
Cyrillic ones carry their Latin form in linked 880 fields), Russian and English; books, serials,
maps, scores and recordings; valid ISBN-13 and ISSN check digits; 260 before RDA and 264 after.
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
ENGLISH_PUBLISHERS = [("Cambridge", "Cambridge University Press"), ("Princeton", "Princeton UP")]
INSTITUTIONS = ["UzNL", "UzNL", "UzNL", "UzSamARM", "UzBuxARM", "UzNamARM"]

# Material kinds with their leader/06-07 and share of the collection (in percent).
MATERIALS = [("book", "am", 70), ("serial", "as", 10), ("map", "em", 7), ("score", "cm", 5),
             ("recording", "jm", 8)]
EXTENTS = {
    "book": "{n} p. ; 21 cm",
    "serial": "v. : ill. ; 29 cm",
    "map": "1 map : col. ; 60 x 90 cm",
    "score": "1 score ({n} p.) ; 31 cm",
    "recording": "1 audio disc (60 min.) : digital ; 4 3/4 in.",
}


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
    record = Record(force_utf8=True)
    record.leader = Leader(f"00000n{leader67} a2200000 i 4500")
    institution = rng.choice(INSTITUTIONS)
    record.add_field(Field(tag="001", data=demo_id(n)))
    record.add_field(Field(tag="003", data="UzNL"))
    record.add_field(Field(tag="005", data=f"{year + 1}0101120000.0"))
    lang_code = language[:3]
    place_code = "uz " if lang_code == "uzb" else ("ru " if lang_code == "rus" else "enk")
    fixed = f"{(year % 100):02d}0101s{year}    {place_code}" + " " * 17 + f"{lang_code} d"
    record.add_field(Field(tag="008", data=fixed[:40].ljust(40)))
    if material == "serial":
        record.add_field(_field("022", " ", " ", "a", issn(f"{2000 + n % 8000:04d}{n % 1000:03d}")))
    elif material in ("book", "score", "map"):
        body = f"9789943{n % 100000:05d}"
        record.add_field(_field("020", " ", " ", "a", isbn13(body)))
    record.add_field(_field("040", " ", " ", "a", institution, "b", lang_code, "e", "rda"))
    if rng.random() < 0.1:
        record.add_field(_field("041", "1", " ", "a", lang_code, "h", "rus"))
    if language.startswith("uzb"):
        _uzbek_fields(record, rng, n, year, material, cyrillic=language == "uzb-cyrl")
    else:
        _foreign_fields(record, rng, n, year, material, lang_code)
    record.add_field(_field("300", " ", " ", "a", EXTENTS[material].format(n=rng.randint(48, 640))))
    if rng.random() < 0.3:
        record.add_field(_field("856", "4", "0", "u", f"https://natlib.example.uz/e/{demo_id(n)}"))
    record.add_field(_field("852", " ", " ", "a", institution, "h", f"{rng.randint(1, 99)}.{n}"))
    return record


def _uzbek_fields(
    record: Record, rng: random.Random, n: int, year: int, material: str, *, cyrillic: bool
) -> None:
    author = rng.choice(UZBEK_AUTHORS)
    topic = rng.choice(UZBEK_TOPICS)
    place = rng.choice(UZBEK_PUBLISHERS)
    part = n % 12 + 1
    pick = 0 if cyrillic else 1
    title = topic[pick]
    part_text = f"{part}-жилд" if cyrillic else f"{part}-jild"
    linked = cyrillic and rng.random() < 0.8
    byline = author[pick].split(", ")[-1]
    main = [("100", "1", " ", ["a", author[pick], "d", author[2]]),
            ("245", "1", "0", ["a", f"{title}.", "n", part_text, "c", byline])]
    latin = [["a", author[1], "d", author[2]],
             ["a", f"{topic[1]}.", "n", f"{part}-jild", "c", author[1].split(", ")[-1]]]
    for index, (tag, ind1, ind2, subfields) in enumerate(main):
        if linked:
            subfields = ["6", f"880-{index + 1:02d}", *subfields]
        record.add_field(_field(tag, ind1, ind2, *subfields))
    if year >= 2013:
        record.add_field(_field("264", " ", "1", "a", place[pick], "b", place[pick + 2], "c",
                                str(year)))
    else:
        record.add_field(_field("260", " ", " ", "a", place[pick], "b", place[pick + 2], "c",
                                str(year)))
    record.add_field(_field("650", " ", "7", "a", topic[pick + 2], "2", "uzbsh"))
    if material == "map":
        record.add_field(_field("651", " ", "7", "a", topic[pick + 2], "2", "uzbsh"))
    if linked:
        for index, ((tag, ind1, ind2, _), subfields) in enumerate(zip(main, latin, strict=True)):
            record.add_field(_field("880", ind1, ind2, "6", f"{tag}-{index + 1:02d}", *subfields))


def _foreign_fields(
    record: Record, rng: random.Random, n: int, year: int, material: str, lang_code: str
) -> None:
    table, publishers = (RUSSIAN, RUSSIAN_PUBLISHERS) if lang_code == "rus" else (
        ENGLISH, ENGLISH_PUBLISHERS)
    author, title, subject = rng.choice(table)
    place, publisher = rng.choice(publishers)
    record.add_field(_field("100", "1", " ", "a", author))
    record.add_field(
        _field("245", "1", "0", "a", f"{title}.", "n", f"Part {n % 7 + 1} /", "c", author)
    )
    tag, ind2 = ("264", "1") if year >= 2013 else ("260", " ")
    record.add_field(_field(tag, " ", ind2, "a", place, "b", publisher, "c", str(year)))
    record.add_field(_field("650", " ", "0", "a", subject))
    if rng.random() < 0.2:
        record.add_field(_field("700", "1", " ", "a", rng.choice(table)[0], "e", "editor"))
    if material == "serial":
        record.add_field(_field("310", " ", " ", "a", "Quarterly"))


def _field(tag: str, ind1: str, ind2: str, *codes_and_values: str) -> Field:
    pairs = zip(codes_and_values[::2], codes_and_values[1::2], strict=True)
    return Field(
        tag=tag,
        indicators=Indicators(ind1, ind2),
        subfields=[Subfield(code=c, value=v) for c, v in pairs],
    )
