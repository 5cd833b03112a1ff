"""RFM summaries: one row per customer from a transaction log.

Conventions (those of Fader, Hardie & Lee 2005 and of the ``lifetimes`` package):

* Purchases are bucketed into periods at ``resolution`` (calendar days by default). Several
  purchases in one period count as one purchase whose amount is their sum.
* ``frequency`` is the number of purchase periods after the first one (repeat purchases).
* ``recency`` is the time from the first to the last purchase period and ``T`` the time from the
  first purchase period to the period holding the observation end. Both are differences between
  period starts, so the observation end day counts as "day T": a customer who first bought on
  1997-01-01 has, for an observation end of 1997-09-30, T = 272 days = 38.857 weeks, the 38.86 of
  the published CDNOW summary. A purchase made on the observation end day itself is included and
  then recency == T.
* ``monetary_value`` is the mean amount per repeat purchase period; the first period is left out
  (the Gamma-Gamma model describes repeat spend only). It is 0.0 when frequency is 0.
* Times are continuous in ``time_unit`` (see :data:`TIME_UNITS`), never rounded.

Engines (``engine=``): ``"pandas"`` (default, in memory), ``"duckdb"`` (a DataFrame or a CSV or
Parquet file read out of core; needs ``clvmodels[fast]``) and ``"spark"`` (a
``pyspark.sql.DataFrame`` in and out; needs ``clvmodels[spark]``). Every engine counts periods
from the same integers and converts them to ``time_unit`` with the same floating-point
operations, so frequency, recency, T and the holdout columns agree exactly; mean spend agrees
to the rounding of its sum, whose order each engine chooses (see :func:`rfm_summary`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import tzinfo

import numpy as np
import pandas as pd

from clvmodels.validation import ValidationError, check_transactions, parse_date_text

__all__ = ["ENGINES", "TIME_UNITS", "calibration_holdout", "rfm_summary"]

#: The engines of :func:`rfm_summary` and :func:`calibration_holdout`.
ENGINES = ("pandas", "duckdb", "spark")

#: Length in days of each time unit, by canonical code. Months and years are average calendar
#: ones (365.25 days a year), so recency and T stay continuous.
TIME_UNITS: dict[str, float] = {"h": 1 / 24, "D": 1.0, "W": 7.0, "M": 365.25 / 12, "Y": 365.25}

_UNIT_NAMES = {"h": "hour", "D": "day", "W": "week", "M": "month", "Y": "year"}
# Matched case-insensitively, so "m" is a month: minutes are not a supported unit.
_ALIASES = {
    alias: code
    for code, name in _UNIT_NAMES.items()
    for alias in (code.lower(), name, f"{name}s")
}
_RESOLUTIONS = ("D", "h")


def _canonical_time_unit(unit: str) -> str:
    """Return the canonical code (a key of :data:`TIME_UNITS`) for a time unit or its alias.

    Parameters
    ----------
    unit : str
        A code or name, case-insensitive: "h"/"hour(s)", "D"/"day(s)", "W"/"week(s)",
        "M"/"month(s)", "Y"/"year(s)".

    Raises
    ------
    ValueError
        If the unit is not one of those.
    """
    code = _ALIASES.get(unit.lower()) if isinstance(unit, str) else None
    if code is None:
        valid = ", ".join(f"{c!r} ({name}s)" for c, name in _UNIT_NAMES.items())
        raise ValueError(f"unknown time unit {unit!r}; expected one of {valid}")
    return code


@dataclass(frozen=True)
class _PurchaseLog:
    """Transactions as integer arrays: customer code, purchase period and amount per row.

    ``code`` indexes ``customers`` (every customer id of the input, sorted, including those whose
    transactions were all excluded), ``period`` counts periods of ``resolution`` since
    1970-01-01 in the dates' own calendar (``tz``), and ``amount`` is None when no amount column
    was given.
    """

    customers: pd.Index
    code: np.ndarray
    period: np.ndarray
    amount: np.ndarray | None
    resolution: str
    tz: tzinfo | None

    def select(self, mask: np.ndarray) -> _PurchaseLog:
        """The transactions flagged by ``mask``."""
        amount = None if self.amount is None else self.amount[mask]
        return _PurchaseLog(
            self.customers, self.code[mask], self.period[mask], amount, self.resolution, self.tz
        )

    def period_of(self, timestamp: pd.Timestamp) -> int:
        """The period holding ``timestamp``, read in the dates' time zone."""
        return period_of(timestamp, self.resolution, self.tz)

    def in_units(self, periods: np.ndarray | int, unit: str) -> np.ndarray | float:
        """A number of periods expressed in ``unit``."""
        return in_units(periods, self.resolution, unit)


def period_of(timestamp: pd.Timestamp, resolution: str, tz: tzinfo | None) -> int:
    """The period (of ``resolution`` since 1970-01-01) holding ``timestamp``, read in the
    dates' time zone ``tz``."""
    if timestamp.tzinfo is not None:
        if tz is None:
            raise ValueError(
                f"{timestamp} has a time zone but the transaction dates do not; pass a "
                "naive date"
            )
        timestamp = timestamp.tz_convert(tz).tz_localize(None)
    return int(_to_periods(np.array([timestamp.to_datetime64()]), resolution)[0])


def in_units(periods: np.ndarray | int, resolution: str, unit: str) -> np.ndarray | float:
    """A number of periods of ``resolution`` expressed in ``unit``.

    Every engine converts with exactly these two floating-point operations (multiply, then
    divide) on the same integers, so their recency and T agree to the last bit.
    """
    return periods * TIME_UNITS[resolution] / TIME_UNITS[unit]


def rfm_summary(
    transactions: pd.DataFrame,
    customer_col: str = "customer_id",
    date_col: str = "date",
    amount_col: str | None = None,
    observation_end: object = None,
    time_unit: str = "W",
    date_format: str | None = None,
    resolution: str = "D",
    engine: str = "pandas",
) -> pd.DataFrame:
    """Summarise a transaction log into frequency, recency, T (and monetary value) per customer.

    Parameters
    ----------
    transactions : DataFrame, path or pyspark.sql.DataFrame
        One row per purchase: a pandas DataFrame; with ``engine="duckdb"`` also the path of a
        CSV or Parquet file (or a glob of them), read out of core; with ``engine="spark"`` a
        ``pyspark.sql.DataFrame``.
    customer_col, date_col : str
        Columns holding the customer id and the purchase date (datetimes, or strings or numbers
        parsed with ``date_format``).
    amount_col : str, optional
        Column holding the spend of each purchase; adds ``monetary_value``.
    observation_end : date-like, optional
        End of the observation window (a Timestamp, an ISO string, or a value in
        ``date_format``; a string such as ``"10/03/2006"``, whose day/month order is ambiguous,
        is refused otherwise). Defaults to the last transaction date. Transactions in later
        periods are excluded with a ``UserWarning``, and so are customers whose first purchase
        is later.
    time_unit : str
        Unit of recency and T: "h", "D", "W", "M" or "Y" (or their names, see
        :data:`TIME_UNITS`).
    date_format : str, optional
        ``strftime`` layout of string or numeric dates, e.g. ``"%Y%m%d"`` for 19970101.
    resolution : {"D", "h"}
        Purchases within one calendar day (or hour) count as one.
    engine : {"pandas", "duckdb", "spark"}
        Where the summary is computed (see the module docstring). All give the same table:
        integer columns, recency and T exactly; ``monetary_value`` to within the rounding of
        the sum of a customer's amounts, which each engine adds in its own order (each within
        ``(n - 1) * 2**-53`` of the exact sum, relatively, for ``n`` amounts; identical when
        the sums are exact, e.g. for amounts in multiples of 1/8).

    Returns
    -------
    DataFrame or pyspark.sql.DataFrame
        Indexed by customer id (named ``customer_col``, sorted), with ``frequency`` (int64),
        ``recency`` and ``T`` (float, in ``time_unit``) and, with ``amount_col``,
        ``monetary_value``. ``attrs`` holds JSON-safe values (so that ``to_parquet`` and
        ``json.dumps`` take them; see :func:`summary_attrs`): ``time_unit`` (canonical code),
        ``observation_end`` (ISO string, ``pd.Timestamp(...)`` reads it back),
        ``n_transactions`` (transaction rows summarised, those up to the observation end),
        ``n_transactions_excluded`` (rows after it) and ``n_customers_excluded`` (customers
        with no purchase up to it). The Spark engine returns a Spark DataFrame with
        ``customer_col`` as a column (rows in no particular order) and the same ``attrs`` as a
        Python attribute.

    Raises
    ------
    ValidationError
        If the transactions fail :func:`~clvmodels.validation.check_transactions` (which also
        refuses dates whose day/month order is ambiguous), ``observation_end`` is before every
        purchase, or it is a string with an ambiguous day/month order.
    ValueError
        If ``time_unit``, ``resolution`` or ``engine`` is unknown.

    Notes
    -----
    See the module docstring for how periods, recency and T are counted.
    """
    unit = _canonical_time_unit(time_unit)
    if _check_engine(engine) != "pandas":
        return _engine_summary(
            engine, transactions, customer_col=customer_col, date_col=date_col,
            amount_col=amount_col, date_format=date_format, resolution=resolution, unit=unit,
            observation_end=observation_end, calibration_end=None,
        )
    log, end, n_excluded = _read_log(
        transactions, customer_col, date_col, amount_col, date_format, resolution, observation_end
    )
    summary, _ = _summarise(log, log.period_of(end), unit, customer_col)
    summary.attrs.update(summary_attrs(
        unit, end, n_transactions=len(log.code), n_transactions_excluded=n_excluded,
        n_customers_excluded=len(log.customers) - len(summary),
    ))
    return summary


def calibration_holdout(
    transactions: pd.DataFrame,
    customer_col: str = "customer_id",
    date_col: str = "date",
    amount_col: str | None = None,
    *,
    calibration_end: object,
    observation_end: object = None,
    time_unit: str = "W",
    date_format: str | None = None,
    resolution: str = "D",
    engine: str = "pandas",
) -> pd.DataFrame:
    """Split a transaction log into a calibration summary and holdout-period counts.

    The calibration cohort is every customer with a purchase on or before ``calibration_end``;
    customers who first buy later are not part of it (by definition, so without a warning) and
    are counted in ``attrs["n_customers_excluded"]``. Transactions after ``observation_end`` are
    excluded with a ``UserWarning``, as in :func:`rfm_summary`.

    Parameters
    ----------
    transactions, customer_col, date_col, amount_col, time_unit, date_format, resolution, engine
        As for :func:`rfm_summary`.
    calibration_end : date-like
        Last day of the calibration period (read as ``observation_end`` is).
    observation_end : date-like, optional
        Last day of the holdout period; defaults to the last transaction date.

    Returns
    -------
    DataFrame
        The :func:`rfm_summary` columns computed up to ``calibration_end``, plus
        ``frequency_holdout`` (purchase periods in (calibration_end, observation_end]),
        ``monetary_value_holdout`` (mean amount per holdout purchase period, 0.0 if none; only
        with ``amount_col``) and ``duration_holdout`` (length of the holdout period in
        ``time_unit``). ``attrs`` holds, JSON-safe (see :func:`summary_attrs`), ``time_unit``,
        ``calibration_end`` and ``observation_end`` (ISO strings), ``n_transactions`` (rows up
        to ``observation_end``, calibration and holdout), ``n_transactions_excluded`` (rows
        after ``observation_end``) and ``n_customers_excluded`` (no purchase by
        ``calibration_end``).

    Raises
    ------
    ValidationError
        If the transactions are invalid or nobody buys by ``calibration_end``.
    ValueError
        If ``calibration_end`` is not before ``observation_end``, or a unit or the engine is
        unknown.
    """
    unit = _canonical_time_unit(time_unit)
    if _check_engine(engine) != "pandas":
        return _engine_summary(
            engine, transactions, customer_col=customer_col, date_col=date_col,
            amount_col=amount_col, date_format=date_format, resolution=resolution, unit=unit,
            observation_end=observation_end, calibration_end=calibration_end,
        )
    log, end, n_excluded = _read_log(
        transactions, customer_col, date_col, amount_col, date_format, resolution, observation_end
    )
    calibration_ts = _as_timestamp(calibration_end, date_format, "calibration_end")
    calibration_period, end_period = log.period_of(calibration_ts), log.period_of(end)
    check_calibration_window(calibration_ts, calibration_period, end, end_period)
    in_calibration = log.period <= calibration_period
    if not in_calibration.any():
        raise no_calibration_purchase(date_col, calibration_ts)
    summary, cohort = _summarise(log.select(in_calibration), calibration_period, unit, customer_col)
    holdout = log.select(~in_calibration)
    n_customers = len(log.customers)
    spend = None
    if holdout.amount is not None:
        spend = np.bincount(holdout.code, weights=holdout.amount, minlength=n_customers)[cohort]
    add_holdout_columns(summary, _count_periods(holdout)[cohort], spend,
                        end_period - calibration_period, log.resolution, unit)
    summary.attrs.update(summary_attrs(
        unit, end, calibration_end=calibration_ts, n_transactions=len(log.code),
        n_transactions_excluded=n_excluded, n_customers_excluded=n_customers - len(summary),
    ))
    return summary


def summary_attrs(
    unit: str,
    observation_end: pd.Timestamp,
    *,
    calibration_end: pd.Timestamp | None = None,
    n_transactions: int,
    n_transactions_excluded: int,
    n_customers_excluded: int,
) -> dict[str, str | int]:
    """The ``attrs`` of a summary, the same on every engine and JSON-safe (plain str and int:
    pandas writes attrs into Parquet files as JSON, and the CLI into its RFM metadata).

    Dates are ISO 8601 strings (``Timestamp.isoformat()``, with the offset of a time-zone-aware
    date), which ``pd.Timestamp`` reads back to the same instant. ``calibration_end`` is only
    present for :func:`calibration_holdout`.
    """
    attrs: dict[str, str | int] = {"time_unit": unit}
    if calibration_end is not None:
        attrs["calibration_end"] = pd.Timestamp(calibration_end).isoformat()
    attrs.update(
        observation_end=pd.Timestamp(observation_end).isoformat(),
        n_transactions=int(n_transactions),
        n_transactions_excluded=int(n_transactions_excluded),
        n_customers_excluded=int(n_customers_excluded),
    )
    return attrs


def check_calibration_window(
    calibration_ts: pd.Timestamp, calibration_period: int, end: pd.Timestamp, end_period: int
) -> None:
    """Refuse a calibration period that does not end before the observation does."""
    if calibration_period >= end_period:
        raise ValueError(
            f"calibration_end {calibration_ts} must fall in a period before observation_end {end}"
        )


def no_calibration_purchase(date_col: str, calibration_ts: pd.Timestamp) -> ValidationError:
    return ValidationError(
        f"column {date_col!r}: no purchase on or before calibration_end {calibration_ts}; "
        "expected a calibration period that holds at least one purchase"
    )


def all_after_end(
    date_col: str, n_transactions: int, end: pd.Timestamp, first: pd.Timestamp
) -> ValidationError:
    return ValidationError(
        f"column {date_col!r}: all {n_transactions} transactions are after observation_end {end} "
        f"(the first is on {first}); expected an observation_end on or after the first "
        "purchase"
    )


def warn_excluded(n_excluded: int, end: pd.Timestamp, n_dropped: int, stacklevel: int) -> None:
    """Announce the transactions after the observation end (``stacklevel`` from the caller)."""
    warnings.warn(
        f"{n_excluded} transaction(s) dated after observation_end {end} were excluded, "
        f"and with them {n_dropped} customer(s) whose first purchase is later; pass a later "
        "observation_end to keep them (counts are in the result's attrs)",
        UserWarning,
        stacklevel=stacklevel + 1,
    )


def check_resolution(resolution: str) -> str:
    """The canonical code of a supported purchase-bucketing resolution."""
    resolution = _canonical_time_unit(resolution)
    if resolution not in _RESOLUTIONS:
        raise ValueError(f"unsupported resolution {resolution!r}; expected one of {_RESOLUTIONS}")
    return resolution


def _check_engine(engine: str) -> str:
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; expected one of {ENGINES}")
    return engine


def _engine_summary(engine: str, transactions: object, **kwargs: object) -> object:
    """Run :func:`rfm_summary` or :func:`calibration_holdout` (``calibration_end`` given) on the
    DuckDB or Spark engine, imported only when asked for."""
    if engine == "duckdb":
        from clvmodels import _duckdb as module
    else:
        from clvmodels import spark as module
    return module.summarise(transactions, **kwargs)


def summary_frame(
    customers: pd.Index,
    n_periods: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
    repeat_spend: np.ndarray | None,
    end_period: int,
    resolution: str,
    unit: str,
) -> pd.DataFrame:
    """The summary table from each customer's period count, first and last period and the
    spend after the first period (``customers`` already named and sorted)."""
    frequency = (n_periods - 1).astype(np.int64)
    columns = {
        "frequency": frequency,
        "recency": in_units(last - first, resolution, unit),
        "T": in_units(end_period - first, resolution, unit),
    }
    if repeat_spend is not None:
        columns["monetary_value"] = _mean_or_zero(repeat_spend, frequency)
    return pd.DataFrame(columns, index=customers)


def add_holdout_columns(
    summary: pd.DataFrame,
    holdout_periods: np.ndarray,
    holdout_spend: np.ndarray | None,
    duration_periods: int,
    resolution: str,
    unit: str,
) -> None:
    """Add ``frequency_holdout``, ``monetary_value_holdout`` and ``duration_holdout``."""
    summary["frequency_holdout"] = holdout_periods.astype(np.int64)
    if holdout_spend is not None:
        summary["monetary_value_holdout"] = _mean_or_zero(holdout_spend, holdout_periods)
    summary["duration_holdout"] = float(in_units(duration_periods, resolution, unit))


def _read_log(
    transactions: pd.DataFrame,
    customer_col: str,
    date_col: str,
    amount_col: str | None,
    date_format: str | None,
    resolution: str,
    observation_end: object,
) -> tuple[_PurchaseLog, pd.Timestamp, int]:
    """Validate the transactions and convert them to arrays, up to the observation end.

    Returns the log, the observation end and how many transactions fell after it (warned about).
    """
    resolution = check_resolution(resolution)
    dates = check_transactions(
        transactions, customer_col=customer_col, date_col=date_col, amount_col=amount_col,
        date_format=date_format,
    )
    tz = getattr(dates.dtype, "tz", None)
    # Bucket by the dates' own calendar: a purchase at 23:30 local time belongs to that day.
    local = dates.dt.tz_localize(None) if tz is not None else dates
    periods = _to_periods(local.to_numpy(), resolution)
    codes, customers = pd.factorize(transactions[customer_col], sort=True)
    amounts = (
        pd.to_numeric(transactions[amount_col]).to_numpy(dtype=float) if amount_col else None
    )
    log = _PurchaseLog(customers, codes, periods, amounts, resolution, tz)
    end = (dates.max() if observation_end is None
           else _as_timestamp(observation_end, date_format, "observation_end"))
    after = periods > log.period_of(end)
    n_excluded = int(np.count_nonzero(after))
    if n_excluded == len(periods):
        raise all_after_end(date_col, n_excluded, end, dates.min())
    if n_excluded:
        log = log.select(~after)
        n_dropped = len(customers) - np.count_nonzero(np.bincount(log.code))
        warn_excluded(n_excluded, end, n_dropped, stacklevel=3)
    return log, end, n_excluded


def _summarise(
    log: _PurchaseLog, end_period: int, unit: str, customer_col: str
) -> tuple[pd.DataFrame, np.ndarray]:
    """Frequency, recency, T (and monetary value) of each customer with a transaction in ``log``.

    Returns the summary and the codes of the customers in it.
    """
    n_customers = len(log.customers)
    count = _count_periods(log)
    present = np.flatnonzero(count)
    first = np.full(n_customers, np.iinfo(np.int64).max)
    np.minimum.at(first, log.code, log.period)
    last = np.full(n_customers, np.iinfo(np.int64).min)
    np.maximum.at(last, log.code, log.period)
    spend = None
    if log.amount is not None:
        repeat = np.where(log.period == first[log.code], 0.0, log.amount)
        spend = np.bincount(log.code, weights=repeat, minlength=n_customers)[present]
    summary = summary_frame(
        log.customers[present].rename(customer_col), count[present], first[present],
        last[present], spend, end_period, log.resolution, unit,
    )
    return summary, present


def _count_periods(log: _PurchaseLog) -> np.ndarray:
    """Number of distinct purchase periods of every customer code (0 for those absent)."""
    n_customers = len(log.customers)
    if len(log.code) == 0:
        return np.zeros(n_customers, dtype=np.int64)
    base = log.period.min()
    span = int(log.period.max() - base) + 1
    # Sorting one integer key per (customer, period) brings repeats together. It cannot overflow
    # int64 (datetime64[ns] covers fewer than 5.1e6 hours, so that would take 1.8e12 customers),
    # and uint32 keys, when they fit, sort about twice as fast.
    key = log.code * span + (log.period - base)
    if n_customers * span <= 2**32:
        key = key.astype(np.uint32)
    key.sort()
    distinct = key[np.r_[True, key[1:] != key[:-1]]]
    return np.bincount(distinct // span, minlength=n_customers)


def _mean_or_zero(total: np.ndarray, count: np.ndarray) -> np.ndarray:
    """``total / count``, and 0.0 where there is nothing to average."""
    return np.divide(total, count, out=np.zeros(len(total)), where=count > 0)


def _to_periods(values: np.ndarray, resolution: str) -> np.ndarray:
    """Whole periods since 1970-01-01 (numpy floors, so earlier dates work too)."""
    return values.astype(f"datetime64[{resolution}]").view(np.int64)


def _as_timestamp(value: object, date_format: str | None, name: str | None = None) -> pd.Timestamp:
    """Read an end date given as a Timestamp, an ISO string, or in the data's ``date_format``.

    Strings follow :func:`~clvmodels.validation.parse_date_text`: one whose day/month order is
    ambiguous (``"10/03/2006"``) is refused unless it is in ``date_format``. ``name`` (e.g.
    ``"observation_end"``) names the date in that message.
    """
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        if date_format is None:
            # pd.Timestamp would read 19970930 as nanoseconds since 1970.
            raise TypeError(f"got the number {value!r} as a date; pass a date or date_format")
        value = str(value)
    if isinstance(value, str):
        return parse_date_text(value, date_format, name=name)
    return pd.Timestamp(value)
