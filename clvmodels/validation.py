"""Input checks shared by every entry point.

Each check raises :class:`ValidationError` with a message that names the column, how many rows are
affected, an example customer id and what was expected. Nothing here drops or repairs rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["ValidationError", "check_rfm"]


class ValidationError(ValueError):
    """Raised when an input table does not have the shape or values a step needs."""


def _fail(column: str, mask: np.ndarray, index: pd.Index, expected: str) -> None:
    """Raise a ValidationError for the rows flagged in ``mask`` of ``column``."""
    count = int(np.count_nonzero(mask))
    example = index[np.flatnonzero(mask)[0]]
    raise ValidationError(
        f"column {column!r}: {count} row(s) invalid (e.g. customer {example!r}); expected {expected}"
    )


def check_rfm(
    data: pd.DataFrame,
    *,
    frequency_col: str = "frequency",
    recency_col: str = "recency",
    T_col: str = "T",
    monetary_col: str | None = None,
) -> None:
    """Check an RFM table (one row per customer) before a model fits or scores it.

    Parameters
    ----------
    data : DataFrame
        Indexed by customer id, with frequency, recency and T columns (and a monetary column when
        ``monetary_col`` is given).
    frequency_col, recency_col, T_col, monetary_col : str
        Column names.

    Raises
    ------
    ValidationError
        If the table is empty, a column is missing, a customer id repeats, a value is missing or
        not finite, frequency is negative or not a whole number, recency is negative or larger than
        T, recency is not 0 for a customer with frequency 0, or monetary value is negative (or not
        positive for a customer with repeat purchases).
    """
    if not isinstance(data, pd.DataFrame):
        raise ValidationError(f"expected a pandas DataFrame of RFM rows, got {type(data).__name__}")
    columns = [frequency_col, recency_col, T_col] + ([monetary_col] if monetary_col else [])
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise ValidationError(
            f"missing column(s) {missing}; the RFM table has {list(data.columns)}. "
            "Pass the right names (e.g. frequency_col=...) or build the table with rfm_summary()."
        )
    if len(data) == 0:
        raise ValidationError("the RFM table is empty; expected at least one customer row")
    duplicated = data.index.duplicated(keep=False)
    if duplicated.any():
        _fail("index", duplicated, data.index, "one row per customer id (duplicate ids found)")
    values = {}
    for column in columns:
        series = data[column]
        if not pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series):
            raise ValidationError(f"column {column!r}: expected numbers, got dtype {series.dtype}")
        array = series.to_numpy(dtype=float, na_value=np.nan)
        _check(column, ~np.isfinite(array), data.index, "finite numbers (no NaN or inf)")
        values[column] = array
    frequency, recency, T = values[frequency_col], values[recency_col], values[T_col]
    _check(frequency_col, frequency < 0, data.index, "non-negative repeat-purchase counts")
    _check(frequency_col, frequency != np.round(frequency), data.index, "whole numbers")
    _check(recency_col, recency < 0, data.index, "recency >= 0")
    _check(T_col, T <= 0, data.index, "T > 0 (time since the first purchase)")
    _check(recency_col, recency > T, data.index, f"recency <= {T_col}")
    _check(recency_col, (frequency == 0) & (recency != 0), data.index,
           "recency == 0 for customers with frequency 0")
    if monetary_col:
        monetary = values[monetary_col]
        _check(monetary_col, monetary < 0, data.index, "non-negative spend")
        _check(monetary_col, (frequency > 0) & (monetary <= 0), data.index,
               "a positive mean spend for customers with repeat purchases")


def _check(column: str, mask: np.ndarray, index: pd.Index, expected: str) -> None:
    if mask.any():
        _fail(column, mask, index, expected)
