"""The search terms and match keys of the records holding a look-alike of the apostrophe made
again.

The fold key now reads the look-alikes of the Uzbek apostrophe that fonts, converters and other
keyboards give, ‛ (U+201B), ＇ (U+FF07), ʽ (U+02BD) and ˈ (U+02C8), as it reads ' ’ ‘ ` ʻ ʼ
(``o‛zbekiston`` is ``ozbekiston``): before, ‛ and ＇ split a word in two (``o zbekiston``) and
ʽ and ˈ stayed in the key, so that such a record was found by neither oʻzbekiston nor
ўзбекистон, nor matched with another copy. Only the records whose stored MARC holds one of the
four letters change: every record is read (a batch at a time, the records' bytes compared, none
parsed) and those are indexed and keyed again, as revision 0016 does for the acute accent (the
match keys by the ``[dedup]`` settings ``koprik db upgrade`` read; each record rekeyed is
queued for deduplication). No table changes.

Revision 0025, after 0024.
"""

from __future__ import annotations

from catalog.migrations.refold import remake_records_holding

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

LOOK_ALIKES = tuple(letter.encode() for letter in "\u201b\uff07\u02bd\u02c8")
"""The letters this release folds otherwise, as the stored MARC (UTF-8) holds them."""


def upgrade() -> None:
    remake_records_holding(LOOK_ALIKES)
