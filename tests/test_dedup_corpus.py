"""Done-when of the union catalogue: a generated corpus of over 20,000 records from five
sources with known truth is grouped with pairwise precision >= 99.5 % and recall >= 95 %."""

import dataclasses

from sqlalchemy import select

from catalog import Catalog, models
from catalog.dedup import run_dedup
from catalog.store import Incoming
from config import DatabaseSettings, Settings
from config.settings import FileSource
from tests.dedup_corpus import SOURCES, make_corpus, pairwise_scores

WORKS = 6200


def test_a_generated_corpus_is_grouped_with_high_precision_and_recall(tmp_path):
    corpus = make_corpus(WORKS, seed=7)
    assert len(corpus.items) >= 20_000
    assert {source for source, _, _ in corpus.items} == set(SOURCES)
    assert min(corpus.traps.values()) >= 100, corpus.traps
    settings = dataclasses.replace(
        Settings(), database=DatabaseSettings(url=f"sqlite:///{tmp_path / 'c.sqlite3'}"),
        file_sources=[FileSource(name, f"Uz{name.title()}") for name in SOURCES[1:]])
    catalog = Catalog.open(settings)
    try:
        items = [Incoming(record, source=None if source == "nl" else source)
                 for source, record, _ in corpus.items]
        for start in range(0, len(items), 2000):
            with catalog.writer() as writer:
                writer.put_many(items[start : start + 2000])
        report = run_dedup(catalog)
        r = models.records
        with catalog.engine.connect() as connection:
            rows = connection.execute(
                select(r.c.local_id, r.c.union_id, r.c.id).where(~r.c.is_union)).all()
            unions = connection.execute(
                select(r.c.id).where(r.c.is_union, ~r.c.deleted)).scalars().all()
    finally:
        catalog.close()
    groups = {row.local_id: row.union_id or -row.id for row in rows}
    truth = corpus.truth()
    assert groups.keys() == truth.keys()
    precision, recall = pairwise_scores(truth, groups)
    print(f"\n{len(items)} records, {len(set(truth.values()))} works, traps {dict(corpus.traps)}; "
          f"{len(unions)} union records; {report.summary()}\n"
          f"pairwise precision {precision:.4f}, recall {recall:.4f}")
    assert precision >= 0.995
    assert recall >= 0.95
