"""Input checks shared by every entry point.

Each check raises :class:`ValidationError` with a message that names the column, how many rows are
affected, an example customer id and what was expected. Nothing here drops or repairs rows.

Dates are never read in a guessed day/month order: see :func:`check_transactions` for the rule,
which :func:`parse_date_text` applies to single dates (observation and calibration ends).
"""

from __future__ import annotations

import difflib
import numbers

import numpy as np
import pandas as pd

from clvmodels.dates import DayMonthOrder, UtcOffsets, format_offset, read_dates

__all__ = ["ValidationError", "check_count", "check_discounting", "check_duration", "check_level",
           "check_margin", "check_rfm", "check_transactions", "check_utc_offsets", "invalid_rows",
           "non_scalar_ids", "parse_date_text", "require_columns"]


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
        If the table is empty, a column is missing, the customer ids (the index) are of more
        than one type (e.g. the integer 1 and the string "1", which would be two customers),
        a customer id repeats, a value is missing or
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
    _check_one_id_type(data.index, "index", "rfm.index = rfm.index.astype(str)")
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
    timezone: str | None = None,
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
        Without it, strings are read in the layout pandas infers from the first one, and the
        day/month order is never guessed:

        * layouts with the year first (``1997-01-31``, ``1997/01/31 10:00``) or the month as a
          name (``31 Jan 1997``) are unambiguous;
        * a layout with the day and the month as numbers in another order (``01/02/2006``) is
          read in the order in which every value parses: a value such as ``13/02/2006`` says
          that the day comes first. When every value parses in both orders and some read
          differently (only days up to 12), the dates are refused: pass ``date_format``;
        * values in which pandas infers no layout (e.g. with two-digit years, ``01/02/06``) are
          read one by one as pandas does, and refused if the order changes any of them.
    timezone : str, optional
        The zone (an IANA name such as ``"Europe/Paris"``, or ``"UTC"``) on whose wall clock
        dates with a time zone or a UTC offset are read. Without it, such dates keep their
        own: a time-zone-aware column its zone, strings their one UTC offset (as written);
        strings with different offsets (a local-time export across a daylight-saving change,
        ``+01:00`` and ``+02:00``) are then refused. Dates without an offset are wall-clock
        times either way, and a column mixing dates with and without one is refused (see
        :func:`check_utc_offsets`).

    Returns
    -------
    Series
        The purchase dates as datetime64 values, aligned with ``transactions``, so that callers
        do not parse them a second time.

    Raises
    ------
    ValidationError
        If the input is not a DataFrame or is empty, a column is missing, a customer id is
        missing or the ids are of more than one type (the integer 1 and the string "1" would be
        two customers; integers and floats that compare equal are one), a date is missing,
        cannot be parsed (or is a number and no ``date_format`` is given), its day/month
        order is ambiguous (see ``date_format``) or its UTC offset breaks the rule of
        ``timezone``, or an amount is missing, not a finite number, or negative.
    """
    if not isinstance(transactions, pd.DataFrame):
        raise ValidationError(
            f"expected a pandas DataFrame of transactions, got {type(transactions).__name__}"
        )
    if len(transactions) == 0:
        raise ValidationError("the transaction table is empty; expected at least one purchase row")
    columns = [customer_col, date_col] + ([amount_col] if amount_col else [])
    require_columns(transactions, columns)
    _check(customer_col, transactions[customer_col].isna().to_numpy(), transactions.index,
           "a customer id on every row", example_of="row")
    _check_one_id_type(
        transactions[customer_col], customer_col,
        f"transactions[{customer_col!r}] = transactions[{customer_col!r}].astype(str)",
    )
    customers = transactions[customer_col].to_numpy()
    dates = _parse_dates(transactions[date_col], customers, date_format, timezone)
    if amount_col:
        _check_amounts(transactions[amount_col], customers)
    return dates


def require_columns(data: pd.DataFrame, columns: list[str]) -> None:
    """Raise a :class:`ValidationError` if a column is absent, listing the columns there are
    and the closest names (every engine checks its input's columns with this)."""
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


def _check_one_id_type(ids: pd.Series | pd.Index, column: str, fix: str) -> None:
    """Refuse customer ids of more than one kind (text, numbers, booleans, any other type).

    pandas keeps the integer 1 and the string "1" apart (two customers), so a column mixing
    them splits customers without a word. Numbers of different types that compare equal (1 and
    1.0) are one customer to pandas, so they count as one kind. Only object columns can mix
    types (and categorical ones, through their categories): the dtype test settles every other
    column, and ``infer_dtype`` most object ones, at C speed.
    """
    if isinstance(ids.dtype, pd.CategoricalDtype):
        ids = pd.Index(ids.dtype.categories)
    if ids.dtype != object:
        return
    values = np.asarray(ids, dtype=object)
    if pd.api.types.infer_dtype(values, skipna=True) not in ("mixed", "mixed-integer"):
        return  # one type, or integers and floats
    types = np.empty(len(values), dtype=object)
    types[:] = [type(value) for value in values]  # (np.frompyfunc fails on array elements)
    for kind in pd.unique(types):
        if kind.__hash__ is None:  # a list, an array (Parquet list columns), a dict ...
            first = next(i for i, other in enumerate(types) if other is kind)
            raise non_scalar_ids(column, kind.__name__, label=ids[first] if isinstance(
                ids, pd.Index) else ids.index[first], value=values[first])
    present = ~pd.isna(values)
    values, types = values[present], types[present]
    kind_of = {t: _id_kind(t) for t in pd.unique(types)}
    if len(set(kind_of.values())) < 2:
        return
    kinds = pd.Series(types).map(kind_of).to_numpy()
    first, second = pd.unique(kinds)[:2]
    pair = _colliding_ids(values, kinds) or (
        values[np.argmax(kinds == first)], values[np.argmax(kinds == second)]
    )
    counts = pd.Series(kinds).value_counts(sort=False)
    shown = ", ".join(f"{n} {kind}" for kind, n in counts.items())
    examples = " and ".join(f"{_plain(v)!r} ({type(_plain(v)).__name__})" for v in pair)
    raise ValidationError(
        f"column {column!r}: customer ids of more than one type (rows: {shown}; e.g. "
        f"{examples}); pandas tells ids apart by type and value, not by their text (1 and '1' "
        f"would be two customers, True and 1 one); expected ids of one type: convert the "
        f"column first, e.g. {fix}"
    )


def non_scalar_ids(column: str, kind: str, *, label: object = _NO_VALUE, value: object = _NO_VALUE
                   ) -> ValidationError:
    """The error for customer ids that are not single values (lists, arrays, structs): every
    engine's, with the Python type or the file's column type as ``kind``."""
    example = "" if label is _NO_VALUE else f" (e.g. row {_plain(label)!r}, value {value!r})"
    return ValidationError(
        f"column {column!r}: customer ids of type {kind}{example}; expected one id per row, "
        "text or a number"
    )


def _id_kind(kind: type) -> str:
    """Which ids pandas may take for one another: text, numbers (compared by value), booleans;
    any other type is its own kind."""
    if issubclass(kind, str):
        return "str"
    if issubclass(kind, (bool, np.bool_)):
        return "bool"
    if issubclass(kind, numbers.Number):
        return "number"
    return kind.__name__


def _colliding_ids(values: np.ndarray, kinds: np.ndarray) -> tuple[object, object] | None:
    """A string id and an id of another type that prints as it (``'1'`` and ``1``), if any."""
    texts = set(pd.unique(values[kinds == "str"]))
    for value in pd.unique(values[kinds != "str"]):
        if str(_plain(value)) in texts:
            return value, str(_plain(value))
    return None


def _parse_dates(raw: pd.Series, customers: np.ndarray, date_format: str | None,
                 timezone: str | None = None) -> pd.Series:
    """Parse a date column, failing on missing, unparseable or day/month-ambiguous values and
    on UTC offsets the rule of ``timezone`` refuses (see :func:`check_transactions`).

    Each distinct value is parsed once (a log has far fewer distinct dates than rows) and the
    readings are spread back over the rows. The offsets of the strings are read (a regular
    expression per value) only when pandas' parsing says that they matter: it fails, or the
    offsets differ.
    """
    column = str(raw.name)
    _check(column, raw.isna().to_numpy(), customers, "a purchase date on every row")
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):
        return _on_clock(raw, timezone)
    values = raw.to_numpy()
    if pd.api.types.is_numeric_dtype(raw.dtype) and date_format is None:
        # pandas would read 19970101 as nanoseconds since 1970: refuse rather than guess.
        _check(column, np.ones(len(raw), dtype=bool), customers,
               "dates; numbers need date_format (e.g. date_format='%Y%m%d' for 19970101)",
               values=values)
    codes, distinct = _distinct_values(raw)
    if pd.api.types.is_numeric_dtype(raw.dtype):
        distinct = distinct.astype(str)

    def offsets() -> UtcOffsets:
        return UtcOffsets.of_values(distinct, codes, date_format)

    try:
        try:
            parsed, expected = _parse_distinct(distinct, date_format, utc=False)
        except ValueError:  # pandas: "Mixed timezones detected", or naive mixed with aware
            found = offsets()
            if not found.n_with:
                raise
            check_utc_offsets(column, found, timezone)  # refuses a mix, or offsets that differ
            parsed, expected = _parse_distinct(distinct, date_format, utc=True)
    except DayMonthOrder as order:
        rows = order.differs[codes]
        first = np.flatnonzero(rows)[0]
        raise ValidationError(
            f"column {column!r}: {np.count_nonzero(rows)} row(s) with an ambiguous day/month "
            f"order (e.g. customer {_plain(customers[first])!r}, {order.describe()}); "
            f"{order.reason}; pass {order.advice()}"
        ) from None
    except ValidationError:
        raise
    except (ValueError, TypeError) as exc:  # e.g. mixed time zones, which coerce does not cover
        raise ValidationError(f"column {column!r}: dates could not be parsed: {exc}") from exc
    failed = parsed.isna()
    if failed.any():  # values with an offset among values without fail the layout of the others
        found = offsets()
        if found.n_with and found.n_without:
            check_utc_offsets(column, found, timezone)
    _check(column, failed[codes], customers, expected, values=values)
    return _on_clock(pd.Series(parsed[codes], index=raw.index, name=raw.name), timezone)


def _parse_distinct(distinct: np.ndarray, date_format: str | None, *, utc: bool
                    ) -> tuple[pd.DatetimeIndex, str]:
    """The readings of distinct date values (NaT where one does not parse) and what was
    expected of them; with ``utc``, dates with offsets are read as UTC instants."""
    if date_format is not None:
        parsed = pd.to_datetime(distinct, format=date_format, errors="coerce", utc=utc)
        return parsed, f"dates in the format {date_format!r}"
    return read_dates(distinct, utc=utc)


def _on_clock(dates: pd.Series, timezone: str | None) -> pd.Series:
    """Time-zone-aware dates converted to ``timezone`` (when given); others as they are."""
    if timezone is not None and getattr(dates.dtype, "tz", None) is not None:
        return dates.dt.tz_convert(timezone)
    return dates


def check_utc_offsets(column: str, offsets: UtcOffsets, timezone: str | None) -> None:
    """The rule for dates with UTC offsets, the same on every engine.

    Raises
    ------
    ValidationError
        If some dates of ``column`` carry an offset and others do not (a date without one
        names no instant, so the two cannot be counted on one clock), or, without
        ``timezone``, the offsets differ (a local-time export across a daylight-saving
        change): then ``timezone`` says on which clock to count days.
    """
    if offsets.n_with and offsets.n_without:
        raise ValidationError(
            f"column {column!r}: {offsets.n_with} row(s) have a UTC offset (e.g. "
            f"{format_offset(offsets.lowest)}) and {offsets.n_without} have none; expected "
            "every date with an offset or none (a date without one is a wall-clock time in "
            "no known zone, so the two cannot be counted on one clock)"
        )
    if offsets.n_distinct > 1 and timezone is None:
        raise ValidationError(
            f"column {column!r}: the dates carry {offsets.n_distinct} different UTC offsets "
            f"(from {format_offset(offsets.lowest)} to {format_offset(offsets.highest)}), as "
            "a local-time export across a daylight-saving change does; pass timezone=... to "
            "count days on one clock (e.g. timezone='Europe/Paris', the zone of the export, "
            "or timezone='UTC')"
        )


# A column is not factorized when over half of its first 100,000 values differ.
_DISTINCT_HEAD = 100_000
_MOSTLY_DISTINCT = 0.5


def _distinct_values(raw: pd.Series) -> tuple[np.ndarray | slice, np.ndarray]:
    """Each row's index into the distinct values of a column and those values (as objects, in
    order of first appearance).

    A column whose first rows are mostly distinct (timestamps to the second) is not worth
    factorizing (that costs about half a parse): then every row is its own "distinct value"
    (the index is ``slice(None)``). The head is large so that a few thousand dates repeated
    over millions of rows show as repeats.
    """
    head = raw.iloc[:_DISTINCT_HEAD]
    if len(raw) > _DISTINCT_HEAD and head.nunique() > _MOSTLY_DISTINCT * len(head):
        return slice(None), raw.to_numpy(dtype=object)
    codes, distinct = pd.factorize(raw)
    return codes, np.asarray(distinct, dtype=object)


def parse_date_text(text: str, date_format: str | None = None, *, name: str | None = None
                    ) -> pd.Timestamp:
    """Read one date (e.g. an observation end) by the rule of :func:`check_transactions`.

    Parameters
    ----------
    text : str
        The date: in ``date_format`` when given, else (or when it does not match) ISO or
        another layout pandas reads.
    date_format : str, optional
        ``strftime`` layout of the data's dates.
    name : str, optional
        What the date is (``"observation_end"``), for the message.

    Returns
    -------
    Timestamp

    Raises
    ------
    ValidationError
        If the day/month order decides the date (``"10/03/2006"``): a single date cannot show
        its order, so it has to be ISO (``2006-03-10``) or in ``date_format``.
    ValueError
        If pandas cannot read it as a date.
    """
    if date_format is not None:
        try:
            return pd.to_datetime(text, format=date_format)
        except ValueError:
            pass  # not in the data's layout: fall back to ISO and pandas' parsing
    try:
        read_dates(np.array([text], dtype=object))
    except DayMonthOrder as order:
        label = f"{name} {text!r}" if name else repr(text)
        if date_format is not None:
            label += f" (not in date_format {date_format!r})"
        raise ValidationError(
            f"{label} has an ambiguous day/month order: it reads {order.describe(value=False)}; "
            f"pass it as an ISO date (YYYY-MM-DD), or pass {order.advice()}"
        ) from None
    except (ValueError, TypeError):
        pass  # pd.Timestamp says what is wrong with it
    return pd.Timestamp(text)


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
