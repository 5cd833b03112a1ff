"""Reading dates without guessing: the day/month order and UTC offsets of date strings.

:func:`read_dates` parses distinct date strings and refuses (:class:`DayMonthOrder`) rather than
read a day/month order the values do not settle; :class:`UtcOffsets` counts the UTC offsets of
a column, the same way every engine does (:func:`utc_offset_pattern`). The rules and their
messages are :func:`clvmodels.validation.check_transactions`' and
:func:`clvmodels.validation.check_utc_offsets`'.
"""

from __future__ import annotations

import functools
import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.tseries.api import guess_datetime_format

__all__ = ["DEFAULT_EXPECTED", "DayMonthOrder", "UtcOffsets", "format_offset", "offset_minutes",
           "read_dates", "utc_offset_pattern"]


# A UTC offset at the end of a date with a time (the time is required, so that the "-31" of
# "1997-01-31" is no offset): "+01:00", "+0100", "+01" or "Z". One capture group, written for
# Python's re, RE2 (DuckDB) and Java (Spark) alike: no backslashes, no named groups.
_OFFSET = "([+-][0-9]{2}(?::?[0-9]{2})?|Z)$"
_TIME_THEN_OFFSET = "[0-9]:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)? *" + _OFFSET


def utc_offset_pattern(date_format: str | None) -> str:
    """The regular expression whose group 1 is a date string's UTC offset (empty without one).

    After a time (``1997-01-01T00:30:00+01:00``), or, when ``date_format`` ends in ``%z``,
    at the end of the value whatever precedes it. The same text for every engine.
    """
    if date_format is not None and date_format.rstrip().endswith("%z"):
        return _OFFSET
    return _TIME_THEN_OFFSET


def offset_minutes(token: str) -> int:
    """Minutes east of UTC of an offset matched by :func:`utc_offset_pattern` (``"Z"``: 0)."""
    if token == "Z":
        return 0
    digits = token[1:].replace(":", "")
    minutes = int(digits[:2]) * 60 + (int(digits[2:4]) if len(digits) == 4 else 0)
    return -minutes if token[0] == "-" else minutes


def format_offset(minutes: int) -> str:
    """``+01:00`` for 60 minutes east of UTC."""
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{rest:02d}"


@dataclass(frozen=True)
class UtcOffsets:
    """What the UTC offsets of a column of date strings are: the rows with and without one,
    how many different offsets there are and the lowest and highest (minutes east of UTC).

    Every engine counts these (the SQL engines in their one scan of the input) and hands them
    to :func:`check_utc_offsets`, so that they all refuse the same columns in the same words.
    """

    n_with: int
    n_without: int
    n_distinct: int
    lowest: int | None
    highest: int | None

    @classmethod
    def of_values(cls, distinct: np.ndarray, codes: np.ndarray | slice,
                  date_format: str | None) -> UtcOffsets:
        """The offsets of distinct date values (``codes`` maps rows to them); values that are
        not strings have none."""
        pattern = re.compile(utc_offset_pattern(date_format))
        minutes = np.array([
            offset_minutes(match[1]) if isinstance(value, str)
            and (match := pattern.search(value)) else np.nan
            for value in distinct
        ])
        found = ~np.isnan(minutes)
        with_offset = np.count_nonzero(found[codes])
        kinds = np.unique(minutes[found])
        return cls(int(with_offset), int(len(minutes[codes]) - with_offset), len(kinds),
                   int(kinds[0]) if len(kinds) else None, int(kinds[-1]) if len(kinds) else None)


class DayMonthOrder(Exception):
    """Raised by :func:`read_dates` when reading the day or the month first gives different
    dates and the values do not say which is meant.

    ``differs`` flags the distinct values read differently; ``example`` is the first of them,
    ``month_first`` / ``day_first`` its two readings and ``layouts`` the two ``date_format``
    values (month first, day first) when they are known.
    """

    def __init__(self, differs: np.ndarray, example: object, month_first: pd.Timestamp,
                 day_first: pd.Timestamp, layouts: tuple[str, str] | None, reason: str):
        super().__init__(reason)
        self.differs, self.example, self.reason = differs, example, reason
        self.month_first, self.day_first, self.layouts = month_first, day_first, layouts

    def describe(self, value: bool = True) -> str:
        readings = f"{_show(self.month_first)} month first or {_show(self.day_first)} day first"
        return f"value {self.example!r}: {readings}" if value else readings

    def advice(self) -> str:
        if self.layouts is None:
            return "date_format=... naming the layout, with the day or the month first"
        month_first, day_first = self.layouts
        return (f"date_format={month_first!r} (month first) or date_format={day_first!r} "
                "(day first)")


def _show(timestamp: pd.Timestamp) -> str:
    """A reading for a message: the date alone at midnight, else the ISO timestamp."""
    if timestamp == timestamp.normalize():
        return f"{timestamp:%Y-%m-%d}"
    return timestamp.isoformat(sep=" ")


DEFAULT_EXPECTED = "dates pandas can parse (pass date_format=... for other layouts)"
# How many of the first distinct dates choose the order to parse all of them in first.
_SAMPLE = 1000
# The first run of digits has four or more: a year first (or YYYYMMDD), read year-month-day.
_YEAR_FIRST = re.compile(r"\D*\d{4}")
# Day and month as numbers, then the year: "01/02/06", "1.2.2006 10:00" (for suggestions).
_NUMERIC_DATE = re.compile(r"(\d{1,2})([/.\- ])(\d{1,2})\2(\d{4}|\d{2})(?!\d)(.*)", re.DOTALL)


def read_dates(values: np.ndarray, utc: bool = False) -> tuple[pd.DatetimeIndex, str]:
    """Parse distinct date values without a ``date_format``: the readings (NaT where a value
    does not parse) and what the values were expected to be, for the message. With ``utc``,
    dates with different UTC offsets are read as UTC instants.

    Raises :class:`DayMonthOrder` rather than guess the day/month order (the rule is in
    :func:`clvmodels.validation.check_transactions`).
    """
    to_datetime = functools.partial(pd.to_datetime, errors="coerce", utc=utc)
    layout = _inferred_layout(values[0])
    if layout is None:  # pandas would read each value on its own (dateutil), month first
        return _read_one_by_one(values, utc), DEFAULT_EXPECTED
    orders = _day_month_orders(layout)
    if orders is None:  # year first, or the month as a name: one reading
        return to_datetime(values), DEFAULT_EXPECTED
    pandas_layout = layout
    # Parse first in the order that reads the first distinct values (pandas' own when both
    # do): the other order then needs parsing only if no day exceeds 12 (one that does would be
    # a month > 12 in the other order), so a column in one layout is parsed once.
    other = orders[1] if layout == orders[0] else orders[0]
    sample = values[:_SAMPLE]
    if (to_datetime(sample, format=layout).isna().any()
            and not to_datetime(sample, format=other).isna().any()):
        layout, other = other, layout
    readings = {layout: to_datetime(values, format=layout)}
    # (UTC readings' days are not the days written: then both orders are read, always.)
    if utc or readings[layout].isna().any() or not (readings[layout].day > 12).any():
        readings[other] = to_datetime(values, format=other)
    complete = [order for order, parsed in readings.items() if not parsed.isna().any()]
    if len(complete) == 2:
        month_first, day_first = readings[orders[0]], readings[orders[1]]
        differs = np.asarray(month_first != day_first)
        if differs.any():
            first = np.flatnonzero(differs)[0]
            raise DayMonthOrder(
                differs, values[first], month_first[first], day_first[first], orders,
                "every date parses with the day first and with the month first",
            )
    if complete:
        return readings[complete[0]], DEFAULT_EXPECTED
    # Neither order reads every value: report the values the better one does not read (pandas'
    # own order when they tie).
    best = min(sorted(readings, key=lambda order: order != pandas_layout),
               key=lambda order: int(readings[order].isna().sum()))
    return readings[best], (
        f"dates in one layout ({best!r} reads the most of them; pass date_format=... if they "
        "are in another)"
    )


def _inferred_layout(first: object) -> str | None:
    """The layout pandas infers from the first value (None: it reads values one by one)."""
    if not isinstance(first, str):
        return None
    with warnings.catch_warnings():  # pandas warns when the first value is day first
        warnings.simplefilter("ignore", UserWarning)
        return guess_datetime_format(first)


def _day_month_orders(layout: str) -> tuple[str, str] | None:
    """(month-first, day-first) versions of a layout with the day and month as numbers and the
    year not first; None for any other layout."""
    day, month = layout.find("%d"), layout.find("%m")
    if day < 0 or month < 0 or layout.count("%d") > 1 or layout.count("%m") > 1:
        return None
    years = [i for i in (layout.find("%Y"), layout.find("%y")) if i >= 0]
    if years and min(years) < min(day, month):
        return None
    swapped = layout.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")
    return (layout, swapped) if month < day else (swapped, layout)


def _read_one_by_one(values: np.ndarray, utc: bool = False) -> pd.DatetimeIndex:
    """pandas' reading of values in no inferable layout (each with dateutil, month first),
    refused where reading the day first would give another date."""
    month_first = pd.to_datetime(values, format="mixed", errors="coerce", utc=utc)
    # Only a value with a day up to 12 that differs from its month can read otherwise, and
    # dateutil reads a value with the year first year-month-day unless asked for the day first.
    # (UTC readings' days are not the days written: then every value is a candidate.)
    candidates = np.flatnonzero(
        np.asarray(month_first.day <= 12) & np.asarray(month_first.day != month_first.month)
        | utc
    )
    candidates = np.array([i for i in candidates if isinstance(values[i], str)
                           and not _YEAR_FIRST.match(values[i])], dtype=np.intp)
    if len(candidates) == 0:
        return month_first
    day_first = pd.to_datetime(values[candidates], format="mixed", dayfirst=True,
                               errors="coerce", utc=utc)
    changed = np.asarray(day_first != month_first[candidates])
    if changed.any():
        differs = np.zeros(len(values), dtype=bool)
        differs[candidates[changed]] = True
        first = candidates[np.flatnonzero(changed)[0]]
        raise DayMonthOrder(
            differs, values[first], month_first[first], day_first[np.flatnonzero(changed)[0]],
            _suggested_layouts(values[first]),
            "pandas infers no layout from the first value and would read each value on its "
            "own, month first",
        )
    return month_first


def _suggested_layouts(value: str) -> tuple[str, str] | None:
    """(month-first, day-first) layouts that read ``value`` (e.g. "01/02/06 10:00"), if it is
    a numeric date whose layout can be spelt out."""
    match = _NUMERIC_DATE.fullmatch(value.strip())
    if match is None:
        return None
    separator, year, rest = match[2], "%Y" if len(match[4]) == 4 else "%y", match[5]
    suffix = ""
    if rest:  # the time's layout, from an ISO date with the same time
        time = _inferred_layout("2000-01-13" + rest)
        if time is None or not time.startswith("%Y-%m-%d"):
            return None
        suffix = time[len("%Y-%m-%d"):]
    layouts = tuple(f"{a}{separator}{b}{separator}{year}{suffix}"
                    for a, b in (("%m", "%d"), ("%d", "%m")))
    try:
        for layout in layouts:
            pd.to_datetime(value.strip(), format=layout)
    except ValueError:
        return None
    return layouts
