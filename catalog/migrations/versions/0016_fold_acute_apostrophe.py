"""The search terms and match keys of the records holding an acute accent made again.

The fold key now reads the acute accent as typed for the Uzbek apostrophe, ´ (U+00B4) and ˊ
(U+02CA), as it reads ' ’ ‘ ` ʻ ʼ ′ (``o´zbek`` is ``ozbek``): before, ´ split a word in two
(``o zbek``) and ˊ stayed in the key, so that such a record was found by neither oʻzbek nor
ўзбек, nor matched with another copy. Only the records whose stored MARC holds one of the two
letters change: every record is read (a batch at a time, the records' bytes compared, none
parsed) and those are indexed and keyed again, as revision 0015 does for all (the match keys
by the ``[dedup]`` settings ``koprik db upgrade`` read; each record rekeyed is queued for
deduplication). No table changes.

Revision 0016, after 0015.
"""

from __future__ import annotations

from catalog.migrations.refold import remake_records_holding

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

ACUTE = ("´".encode(), "ˊ".encode())
"""The letters this release folds otherwise, as the stored MARC (UTF-8) holds them."""


def upgrade() -> None:
    remake_records_holding(ACUTE)
