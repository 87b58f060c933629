"""The date expression of the formats is the Gregorian calendar, exactly."""

from __future__ import annotations

import calendar
import re

from sgb301.formats import DATE


def _real(year: int, month: int, day: int) -> bool:
    if not 1 <= month <= 12 or day < 1:
        return False
    length = 29 if month == 2 and calendar.isleap(year) else calendar.mdays[month]
    return day <= length


def test_date_is_exactly_the_calendar() -> None:
    """Every MMTT of ordinary, leap and century years, and 29 February of every year."""
    date = re.compile(DATE, re.ASCII)
    seen = 0
    for year in (0, 1900, 1999, 2000, 2023, 2024, 2100, 2400, 9999):
        for mmdd in range(10000):
            text = f"{year:04d}{mmdd:04d}"
            assert bool(date.fullmatch(text)) == _real(year, mmdd // 100, mmdd % 100), text
            seen += 1
    for year in range(10000):
        assert bool(date.fullmatch(f"{year:04d}0229")) == calendar.isleap(year), year
    assert seen == 90000


def test_date_takes_no_other_characters() -> None:
    date = re.compile(DATE, re.ASCII)
    for text in ("2024013", "202401311", "2024-1-31", "２０２４０１３１", "2024O131", "20240131 "):
        assert date.fullmatch(text) is None, text
