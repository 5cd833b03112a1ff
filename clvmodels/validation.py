"""Input checks shared by every entry point.

Each check raises :class:`ValidationError` with a message that names the column, how many rows are
affected, an example customer id and what was expected. Nothing here drops or repairs rows.
"""

from __future__ import annotations

import difflib

import numpy as np
import pandas as pd

__all__ = ["ValidationError", "check_count", "check_discounting", "check_duration", "check_level",
           "check_margin", "check_rfm", "check_transactions"]


class ValidationError(ValueError):
    """Raised when an input table does not have the shape or values a step needs."""


def _check(
    column: str,
    mask: np.ndarray,
    index: pd.Index | np.ndarray,
    expected: str,
    *,
    example_of: str = "customer",
    values: np.ndarray | None = None,
) -> None:
    """Raise a ValidationError if any row is flagged in ``mask`` of ``column``.

    ``index`` gives the label reported for the first flagged row (a customer id, or a row label
    when the customer id itself is what is missing) and ``values``, when given, the raw value
    found there.
    """
    if not mask.any():
        return
    first = np.flatnonzero(mask)[0]
    raise invalid_rows(
        column, int(np.count_nonzero(mask)), index[first], expected, example_of=example_of,
        value=_NO_VALUE if values is None else values[first],
    )


_NO_VALUE = object()


def invalid_rows(
    column: str,
    count: int,
    label: object,
    expected: str,
    *,
    example_of: str = "customer",
    value: object = _NO_VALUE,
) -> ValidationError:
    """The error for ``count`` invalid rows of ``column``, with one example row's ``label``
    (and raw ``value``); shared by every engine so that their messages read alike."""
    example = f"{example_of} {_plain(label)!r}"
    if value is not _NO_VALUE:
        example += f", value {_plain(value)!r}"
    return ValidationError(
        f"column {column!r}: {count} row(s) invalid (e.g. {example}); expected {expected}"
    )


def _plain(value: object) -> object:
    """Numpy scalars as Python ones, so messages read ``7`` rather than ``np.int64(7)``."""
    return value.item() if isinstance(value, np.generic) else value


def check_rfm(
    data: pd.DataFrame,
    *,
    frequency_col: str = "frequency",
    recency_col: str | None = "recency",
    T_col: str | None = "T",
    monetary_col: str | None = None,
) -> None:
    """Check an RFM table (one row per customer) before a model fits or scores it.

    Parameters
    ----------
    data : DataFrame
        Indexed by customer id, with frequency, recency and T columns (and a monetary column when
        ``monetary_col`` is given).
    frequency_col, recency_col, T_col, monetary_col : str
        Column names; ``None`` skips a column (the spend model needs no recency or T).

    Raises
    ------
    ValidationError
        If the table is empty, a column is missing, a customer id repeats, a value is missing or
        not finite, frequency is negative or not a whole number, recency is negative or larger than
        T, recency is not 0 for a customer with frequency 0, or monetary value is negative (0 is
        allowed, also for repeat buyers: the spend models leave those out of their fit).
    """
    if not isinstance(data, pd.DataFrame):
        raise ValidationError(f"expected a pandas DataFrame of RFM rows, got {type(data).__name__}")
    columns = [c for c in (frequency_col, recency_col, T_col, monetary_col) if c is not None]
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise ValidationError(
            f"missing column(s) {missing}; the RFM table has {list(data.columns)}. "
            "Pass the right names (e.g. frequency_col=...) or build the table with rfm_summary()."
        )
    if len(data) == 0:
        raise ValidationError("the RFM table is empty; expected at least one customer row")
    if not data.index.is_unique:  # (cached by pandas; which ids repeat costs more)
        _check("index", data.index.duplicated(keep=False), data.index,
               "one row per customer id (duplicate ids found)")
    values = {}
    for column in columns:
        series = data[column]
        if not pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series):
            raise ValidationError(f"column {column!r}: expected numbers, got dtype {series.dtype}")
        array = series.to_numpy(dtype=float, na_value=np.nan)
        _check(column, ~np.isfinite(array), data.index, "finite numbers (no NaN or inf)")
        values[column] = array
    frequency = values[frequency_col]
    _check(frequency_col, frequency < 0, data.index, "non-negative repeat-purchase counts")
    _check(frequency_col, frequency != np.round(frequency), data.index, "whole numbers")
    if recency_col is not None and T_col is not None:
        recency, T = values[recency_col], values[T_col]
        _check(recency_col, recency < 0, data.index, "recency >= 0")
        _check(T_col, T <= 0, data.index, "T > 0 (time since the first purchase)")
        _check(recency_col, recency > T, data.index, f"recency <= {T_col}")
        _check(recency_col, (frequency == 0) & (recency != 0), data.index,
               "recency == 0 for customers with frequency 0")
    if monetary_col:
        monetary = values[monetary_col]
        _check(monetary_col, monetary < 0, data.index, "non-negative spend")


def check_transactions(
    transactions: pd.DataFrame,
    *,
    customer_col: str,
    date_col: str,
    amount_col: str | None = None,
    date_format: str | None = None,
) -> pd.Series:
    """Check a transaction log (one row per purchase) and parse its dates.

    Parameters
    ----------
    transactions : DataFrame
        One row per purchase, with a customer id, a date and optionally a spend amount.
    customer_col, date_col, amount_col : str
        Column names; ``amount_col`` is only checked when given.
    date_format : str, optional
        ``strftime`` layout of the dates when they are strings or numbers (``"%Y%m%d"`` for
        integers such as ``19970101``). Columns that already hold datetimes are used as they are.

    Returns
    -------
    Series
        The purchase dates as datetime64 values, aligned with ``transactions``, so that callers
        do not parse them a second time.

    Raises
    ------
    ValidationError
        If the input is not a DataFrame or is empty, a column is missing, a customer id or a date
        is missing, a date cannot be parsed (or is a number and no ``date_format`` is given), or
        an amount is missing, not a finite number, or negative.
    """
    if not isinstance(transactions, pd.DataFrame):
        raise ValidationError(
            f"expected a pandas DataFrame of transactions, got {type(transactions).__name__}"
        )
    if len(transactions) == 0:
        raise ValidationError("the transaction table is empty; expected at least one purchase row")
    columns = [customer_col, date_col] + ([amount_col] if amount_col else [])
    _require_columns(transactions, columns)
    _check(customer_col, transactions[customer_col].isna().to_numpy(), transactions.index,
           "a customer id on every row", example_of="row")
    customers = transactions[customer_col].to_numpy()
    dates = _parse_dates(transactions[date_col], customers, date_format)
    if amount_col:
        _check_amounts(transactions[amount_col], customers)
    return dates


def _require_columns(data: pd.DataFrame, columns: list[str]) -> None:
    """Raise if a column is absent, listing the columns there are and the closest names."""
    missing = [c for c in columns if c not in data.columns]
    if not missing:
        return
    # Compare case-insensitively so "Date" is offered for "date".
    by_lower = {str(c).lower(): c for c in data.columns}
    described = []
    for name in missing:
        close = difflib.get_close_matches(str(name).lower(), list(by_lower), n=3, cutoff=0.6)
        hint = f" (did you mean {' or '.join(repr(by_lower[c]) for c in close)}?)" if close else ""
        described.append(f"{name!r}{hint}")
    raise ValidationError(
        f"missing column(s) {', '.join(described)}; the transactions have "
        f"{list(data.columns)}. Pass the right names (customer_col=..., date_col=..., "
        "amount_col=...)."
    )


def _parse_dates(raw: pd.Series, customers: np.ndarray, date_format: str | None) -> pd.Series:
    """Parse a date column, failing on missing or unparseable values."""
    column = str(raw.name)
    _check(column, raw.isna().to_numpy(), customers, "a purchase date on every row")
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):
        return raw
    values = raw.to_numpy()
    if pd.api.types.is_numeric_dtype(raw.dtype):
        if date_format is None:
            # pandas would read 19970101 as nanoseconds since 1970: refuse rather than guess.
            _check(column, np.ones(len(raw), dtype=bool), customers,
                  "dates; numbers need date_format (e.g. date_format='%Y%m%d' for 19970101)",
                  values=values)
        raw = raw.astype(str)
    try:
        parsed = pd.to_datetime(raw, format=date_format, errors="coerce")
    except (ValueError, TypeError) as exc:  # e.g. mixed time zones, which coerce does not cover
        raise ValidationError(f"column {column!r}: dates could not be parsed: {exc}") from exc
    expected = (
        f"dates in the format {date_format!r}" if date_format
        else "dates pandas can parse (pass date_format=... for other layouts)"
    )
    _check(column, parsed.isna().to_numpy(), customers, expected, values=values)
    return parsed


def _check_amounts(raw: pd.Series, customers: np.ndarray) -> None:
    """Fail on missing, non-numeric, non-finite or negative spend amounts."""
    column = str(raw.name)
    values = raw.to_numpy()
    _check(column, raw.isna().to_numpy(), customers, "a spend amount on every row")
    if pd.api.types.is_bool_dtype(raw.dtype):
        not_numbers = np.ones(len(raw), dtype=bool)
    else:
        not_numbers = pd.to_numeric(raw, errors="coerce").isna().to_numpy()
    _check(column, not_numbers, customers, f"numbers (the column has dtype {raw.dtype})",
           values=values)
    amounts = pd.to_numeric(raw).to_numpy(dtype=float)
    _check(column, ~np.isfinite(amounts), customers, "finite amounts", values=values)
    _check(column, amounts < 0, customers,
           "non-negative amounts (net refunds out of the purchases before summarising)",
           values=values)




# ----------------------------------------------------------------------------- prediction arguments
def check_duration(t: object, name: str = "t") -> np.ndarray:
    """A duration (scalar or array) as floats, finite and >= 0."""
    array = np.asarray(t, dtype=float)
    if not np.all(np.isfinite(array) & (array >= 0)):
        raise ValidationError(f"{name} must be finite and >= 0 (a duration), got {t!r}")
    return array


def check_discounting(horizon: float, discount_rate: float) -> tuple[float, float]:
    """Checked ``(horizon, discount_rate)`` of a discounted forecast, as floats.

    The horizon is > 0 (``inf`` for the remaining lifetime, which needs a positive rate) and
    the rate per time unit a finite number >= 0.
    """
    horizon = float(horizon)
    if not horizon > 0:
        raise ValueError(f"horizon must be > 0 (in the data's time unit), got {horizon}")
    discount_rate = float(discount_rate)
    if not (np.isfinite(discount_rate) and discount_rate >= 0):
        raise ValueError(f"discount_rate must be a finite number >= 0, got {discount_rate}")
    if discount_rate == 0 and np.isinf(horizon):
        raise ValueError(
            "an infinite horizon needs a positive discount_rate: undiscounted, the "
            "expected number of future purchases can be infinite"
        )
    return horizon, discount_rate


def check_count(n: object) -> int:
    """A number of purchases: a whole number >= 0."""
    if isinstance(n, bool) or int(n) != n or n < 0:
        raise ValidationError(f"n must be a whole number >= 0, got {n!r}")
    return int(n)


def check_level(level: float) -> float:
    """The mass of a credible or predictive interval, strictly between 0 and 1."""
    level = float(level)
    if not 0 < level < 1:
        raise ValueError(f"level must be strictly between 0 and 1 (e.g. 0.9), got {level}")
    return level


def check_margin(margin: float) -> float:
    """The share of revenue that is profit: any finite number."""
    margin = float(margin)
    if not np.isfinite(margin):
        raise ValueError(f"margin must be a finite number, got {margin}")
    return margin
