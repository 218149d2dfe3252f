"""OAI-PMH datestamps for harvesting: granularity, the watermark step, and halving date windows.

A source's granularity (from its Identify) is ``YYYY-MM-DD`` or ``YYYY-MM-DDThh:mm:ssZ``; every
datestamp the harvester sends is written in it, so a day-granularity source gets days.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

DAY = "YYYY-MM-DD"
SECONDS = "YYYY-MM-DDThh:mm:ssZ"
GRANULARITIES = (DAY, SECONDS)


def parse(datestamp: str) -> datetime:
    """A UTC datetime from a day or seconds datestamp (fractions of a second are dropped).

    Raises ValueError for anything else.
    """
    text = datestamp.strip()
    if len(text) == 10:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    if not text.endswith("Z") or "T" not in text:
        raise ValueError(f"not an OAI-PMH datestamp: {datestamp!r}")
    return datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)


def step(granularity: str) -> timedelta:
    """The smallest distance between two datestamps of ``granularity``."""
    return timedelta(days=1) if granularity == DAY else timedelta(seconds=1)


def render(moment: datetime, granularity: str) -> str:
    """``moment`` written in ``granularity`` (UTC), its year in four digits (``strftime``'s
    ``%Y`` writes the year 999 as ``999``, which no datestamp is)."""
    moment = moment.astimezone(UTC)
    if granularity == DAY:
        return moment.date().isoformat()
    return moment.replace(tzinfo=None, microsecond=0).isoformat() + "Z"


def watermark_from(response_date: str, granularity: str) -> str:
    """The watermark after a successful run whose first response carried ``response_date``.

    One granularity step earlier, so that a record changed in the same second (or day) as the
    run started is harvested again next time rather than missed; but never before the first
    moment a datetime holds (a responseDate of 0001-01-01 stays so).
    """
    earliest = datetime.min.replace(tzinfo=UTC) + step(granularity)
    return render(max(parse(response_date), earliest) - step(granularity), granularity)


def split(start: str, end: str, granularity: str) -> tuple[tuple[str, str], tuple[str, str]] | None:
    """The two halves of the inclusive window ``[start, end]``, or None if it cannot be split."""
    low, high = parse(start), parse(end)
    unit = step(granularity)
    if high - low < unit:
        return None
    middle = low + (high - low) / 2
    if granularity == DAY:
        middle = middle.replace(hour=0, minute=0, second=0, microsecond=0)
    else:
        middle = middle.replace(microsecond=0)
    if middle >= high:
        middle = high - unit
    return (start, render(middle, granularity)), (render(middle + unit, granularity), end)


def after(datestamp: str, granularity: str) -> str:
    """The datestamp one granularity step after ``datestamp``."""
    return render(parse(datestamp) + step(granularity), granularity)
