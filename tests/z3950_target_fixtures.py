"""Shared by the Z39.50 target tests: hand-made records and a target running in a thread.

This module holds no tests. Each record's 001 names what it is for; the tests list, for every
search, exactly which of these 001s it must find.
"""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import threading
from collections.abc import Coroutine, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pymarc import Field, Indicators, Leader, Record, Subfield

from catalog import Catalog
from catalog.demo import isbn13
from config import DatabaseSettings, SearchSettings, ServerSettings, Settings
from provider.z3950 import start_target
from provider.z3950.server import Target
from tests.conftest import free_port

ISBN_KHAMSA = isbn13("978994301234")  # ISBN-13 of uz-nav-cyr
ISBN10_HERITAGE = "0521801656"  # ISBN-10 of en-heritage (a real, valid one)
ISSN_UZB_HISTORY = "0317-8471"

# The 001s of the hand-made records a few searches name again and again
NAVOIY = {"uz-nav-cyr", "uz-nav-lat", "us-nav-alalc"}
OZBEKISTON = {"uz-history-cyr", "uz-history-lat", "uz-ovozi", "us-adabiyoti"}
TOSHKENT = {"uz-nav-cyr", "uz-nav-lat", "uz-history-cyr", "uz-history-lat", "uz-ovozi"}
SHARQ = {"uz-nav-cyr", "uz-nav-lat", "uz-history-lat"}


def _record(local: str, fixed_year: str, lang: str, *fields: tuple[str, str, list[str]]) -> Record:
    record = Record(force_utf8=True)
    record.leader = Leader("00000nam a2200000 i 4500")
    record.add_field(Field(tag="001", data=local))
    record.add_field(Field(tag="008", data=f"000101s{fixed_year}    uz " + " " * 17 + f"{lang} d"))
    for tag, indicators, codes in fields:
        pairs = zip(codes[::2], codes[1::2], strict=True)
        record.add_field(
            Field(tag=tag, indicators=Indicators(*indicators),
                  subfields=[Subfield(code=c, value=v) for c, v in pairs])
        )  # fmt: skip
    return record


def handmade_records() -> list[Record]:
    """Nine records in Uzbek Cyrillic, 1995 Latin and ALA-LC, Russian and English."""
    return [
        _record("uz-nav-cyr", "1991", "uzb",
                ("020", "  ", ["a", ISBN_KHAMSA]),
                ("100", "1 ", ["a", "Навоий, Алишер", "d", "1441-1501"]),
                ("245", "10", ["a", "Хамса :", "b", "беш достон"]),
                ("260", "  ", ["a", "Тошкент :", "b", "Шарқ,", "c", "1991."]),
                ("650", " 7", ["a", "Ўзбек адабиёти", "2", "uzbsh"])),
        _record("uz-nav-lat", "2015", "uzb",
                ("100", "1 ", ["a", "Navoiy, Alisher", "d", "1441-1501"]),
                ("245", "10", ["a", "Xamsa :", "b", "besh doston"]),
                ("264", " 1", ["a", "Toshkent :", "b", "Sharq,", "c", "2015"]),
                ("650", " 7", ["a", "Oʻzbek adabiyoti", "2", "uzbsh"])),
        _record("us-nav-alalc", "1970", "uzb",
                ("100", "1 ", ["a", "Navoiĭ, Alisher", "d", "1441-1501"]),
                ("245", "10", ["a", "Khamsa /", "c", "Alisher Navoiĭ"]),
                ("260", "  ", ["a", "Tashkent :", "b", "Fan,", "c", "1970."])),
        _record("uz-history-cyr", "2001", "uzb",
                ("022", "  ", ["a", ISSN_UZB_HISTORY]),
                ("100", "1 ", ["a", "Қодирий, Абдулла"]),
                ("245", "10", ["a", "Ўзбекистон тарихи"]),
                ("260", "  ", ["a", "Тошкент :", "b", "Фан,", "c", "2001"]),
                ("651", " 7", ["a", "Ўзбекистон", "x", "Тарих", "2", "uzbsh"])),
        _record("uz-history-lat", "2005", "uzb",
                ("035", "  ", ["a", "(OCoLC)123456789"]),
                ("245", "10", ["a", "O'zbekiston tarixi"]),
                ("264", " 1", ["a", "Toshkent :", "b", "Sharq,", "c", "2005"])),
        _record("uz-ovozi", "2010", "uzb",
                ("245", "10", ["a", "O‘zbekiston ovozi :", "b", "gazeta"]),
                ("264", " 1", ["a", "Toshkent", "c", "2010"])),
        _record("us-adabiyoti", "1999", "uzb",
                ("245", "10", ["a", "Ŭzbekiston adabiëti"]),
                ("260", "  ", ["a", "Tashkent", "c", "1999"])),
        _record("en-heritage", "1996", "eng",
                ("020", "  ", ["a", ISBN10_HERITAGE + " (pbk.)"]),
                ("041", "1 ", ["a", "eng", "h", "rus"]),
                ("100", "1 ", ["a", "Frye, Richard N."]),
                ("245", "14", ["a", "The heritage of Central Asia :", "b", "from antiquity"]),
                ("260", "  ", ["a", "Princeton :", "b", "Markus Wiener,", "c", "c1996."]),
                ("650", " 0", ["a", "Asia, Central", "x", "History."]),
                ("856", "40", ["u", "https://example.org/heritage"])),
        _record("ru-tolstoy", "1980", "rus",
                ("100", "1 ", ["a", "Толстой, Лев Николаевич"]),
                ("245", "10", ["a", "Война и мир"]),
                ("260", "  ", ["a", "Москва :", "b", "Наука,", "c", "1980"])),
    ]  # fmt: skip


def sqlite_settings(folder: Path, **sections: object) -> Settings:
    """Default settings (with ``sections`` replaced) over ``folder``/catalog.sqlite3."""
    database = DatabaseSettings(url=f"sqlite:///{folder / 'catalog.sqlite3'}")
    return dataclasses.replace(Settings(), database=database, **sections)


def catalog_holding(settings: Settings, records: Iterable[Record]) -> Catalog:
    """The catalogue of ``settings`` with ``records`` stored in it; the caller closes it."""
    catalog = Catalog.open(settings)
    with catalog.writer() as writer:
        for record in records:
            writer.put(record)
    return catalog


@dataclasses.dataclass(frozen=True)
class RunningTarget:
    port: int
    catalog: Catalog


@contextmanager
def running_target(
    folder: Path, records: list[Record], search: SearchSettings | None = None, **server: object
) -> Iterator[RunningTarget]:
    """A Z39.50 target (which answers SRU over HTTP too) over a new SQLite catalogue holding
    ``records``, in its own thread."""
    port = free_port()
    settings = sqlite_settings(
        folder,
        server=dataclasses.replace(ServerSettings(), z3950_port=port, **server),
        search=search or SearchSettings(),
    )
    catalog = catalog_holding(settings, records)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: list[Target] = []

    async def serve() -> None:
        holder.append(await start_target(settings, catalog))
        started.set()
        await holder[0].server.serve_forever()

    thread = threading.Thread(target=lambda: _run(loop, serve()), daemon=True)
    thread.start()
    if not started.wait(30):
        raise RuntimeError("the Z39.50 target did not start")
    try:
        yield RunningTarget(port, catalog)
    finally:
        loop.call_soon_threadsafe(holder[0].server.close)
        thread.join(30)
        catalog.close()


def _run(loop: asyncio.AbstractEventLoop, main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` on ``loop``; when it ends, cancel and finish the connections still open."""
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(main)
    except asyncio.CancelledError:
        pass
    finally:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()


def yaz_client(port: int, commands: list[str], *, folder: Path, utf8: bool = True) -> str:
    """Run ``yaz-client -f`` on a command file opening the target; return what it printed."""
    lines = (["charset UTF-8"] if utf8 else []) + [f"open tcp:127.0.0.1:{port}/Default"]
    path = folder / f"yaz-{abs(hash(tuple(commands)))}.cmd"
    path.write_text("\n".join([*lines, *commands, "quit", ""]), encoding="utf-8")
    done = subprocess.run(
        ["yaz-client", "-f", str(path)], capture_output=True, timeout=120, check=False
    )
    return done.stdout.decode("utf-8", errors="replace")
