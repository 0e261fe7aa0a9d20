"""The date an article (or a section of it) was written, read from its date stamps.

A *stamp* is a short line that carries a full date: a dateline ("News Desk June 11, 2025"),
a publication line ("Published: June 09, 2025 at 10:30 am") or an update note ("Update as of
June 11, 2025:", "Original article from June 8, 2025:"). A record is dated by the last stamp
before its first evidence quote, so the update note of an article dates what follows it and
the original text keeps its own date; a record quoted before every stamp (a headline above
the dateline) takes the article's first stamp. Body sentences are long, so a date inside one
("signed on March 3, 2025") is never taken for a stamp.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from schemas.values import MONTHS as _MONTHS

_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DATE = re.compile(
    rf"\b(?:(?P<m1>{_MONTH})\.?\s+(?P<d1>\d{{1,2}}),?\s+(?P<y1>\d{{4}})"
    rf"|(?P<d2>\d{{1,2}})\s+(?P<m2>{_MONTH})\.?,?\s+(?P<y2>\d{{4}})"
    r"|(?P<y3>\d{4})-(?P<m3>\d{2})-(?P<d3>\d{2}))\b",
    re.IGNORECASE,
)
# A stamp line is short; the longest in the seeds has 10 words ("Published: ... Updated: ...").
STAMP_MAX_WORDS = 12


@dataclass(frozen=True, slots=True)
class Stamps:
    """The date stamps of one article: line start offsets and ISO dates, in text order."""

    offsets: tuple[int, ...]
    dates: tuple[str, ...]

    def date_at(self, offset: int | None) -> str | None:
        """The date of the section that holds `offset`; the first stamp's date for a text before
        every stamp or an unknown offset; None when the article has no stamp."""
        if not self.dates:
            return None
        if offset is None:
            return self.dates[0]
        index = bisect.bisect_right(self.offsets, offset) - 1
        return self.dates[max(index, 0)]


def find_stamps(text: str) -> Stamps:
    """Every short line of `text` with a full date (its first date, as YYYY-MM-DD)."""
    offsets: list[int] = []
    dates: list[str] = []
    start = 0
    for line in text.splitlines(keepends=True):
        if len(line.split()) <= STAMP_MAX_WORDS:
            iso = _first_date(line)
            if iso:
                offsets.append(start)
                dates.append(iso)
        start += len(line)
    return Stamps(tuple(offsets), tuple(dates))


def _first_date(line: str) -> str | None:
    for found in _DATE.finditer(line):
        groups = found.groupdict()
        year = groups["y1"] or groups["y2"] or groups["y3"]
        month_text = groups["m1"] or groups["m2"]
        month = _MONTHS[month_text.lower()] if month_text else int(groups["m3"])
        day = int(groups["d1"] or groups["d2"] or groups["d3"])
        if 1 <= month <= 12 and 1 <= day <= 31:
            return f"{year}-{month:02d}-{day:02d}"
    return None
