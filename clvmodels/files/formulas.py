"""Spreadsheet formula injection: CSV cells a spreadsheet would run as formulas, defused.

A spreadsheet opening a CSV file runs a cell that starts with ``=``, ``+``, ``-``, ``@``, a
tab or a carriage return as a formula (``=HYPERLINK(...)``, ``+cmd|' /C calc'!A0``). Customer
ids and column names come from the user's data, so the CSV outputs follow OWASP's rule
(https://owasp.org/www-community/attacks/CSV_Injection): such a text cell gets a single quote
in front (``'=HYPERLINK(...)``), which spreadsheets show as text. Numeric columns are left
alone (a negative number is a number, not a formula); Parquet files are written exactly.

The quote is added also before a cell that already starts with quotes and then one of those
characters (``'=x`` -> ``''=x``), so that :func:`restore_formulas` gives back exactly what was
written: clvmodels reads its own RFM files back unchanged (their sidecar records that cells
were defused).
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

#: What a cell starts with for a spreadsheet to take it as a formula (OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_DEFUSE = r"'*[=+\-@\t\r]"  # a cell to defuse: quotes, then a formula start
_RESTORE = r"'+[=+\-@\t\r]"  # a defused cell: one quote more than it had


def _changed(values: pd.Series, pattern: str, change: Callable[[str], str]
             ) -> pd.Series | None:
    """``values`` with ``change`` applied to the text cells matching ``pattern`` at their
    start (None if none does, or the column is not text: numbers, dates, booleans)."""
    if not (pd.api.types.is_string_dtype(values.dtype)
            or pd.api.types.is_object_dtype(values.dtype)):
        return None
    mask = values.str.match(pattern, na=False).to_numpy(dtype=bool)
    if not mask.any():
        return None
    result = values.astype(object)
    result[mask] = [change(value) for value in result[mask]]
    return result.astype(values.dtype)


def _apply(frame: pd.DataFrame, pattern: str, change: Callable[[str], str]
           ) -> tuple[pd.DataFrame, bool]:
    """``frame`` with ``change`` applied to its matching text cells and column names."""
    result, any_changed = frame.copy(deep=False), False
    for position in range(frame.shape[1]):
        column = _changed(frame.iloc[:, position], pattern, change)
        if column is not None:
            result.isetitem(position, column)
            any_changed = True
    names = _changed(pd.Series(frame.columns, dtype=object), pattern, change)
    if names is not None:
        result.columns = pd.Index(names, dtype=frame.columns.dtype)
        any_changed = True
    return result, any_changed


def neutralise_formulas(frame: pd.DataFrame) -> tuple[pd.DataFrame, bool]:
    """``frame`` with every text cell and column name a spreadsheet would run as a formula
    defused (a quote in front), and whether there was any."""
    return _apply(frame, _DEFUSE, lambda value: "'" + value)


def restore_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """The inverse of :func:`neutralise_formulas`: the quote it added taken away again."""
    return _apply(frame, _RESTORE, lambda value: value[1:])[0]


__all__ = ["FORMULA_STARTS", "neutralise_formulas", "restore_formulas"]
