"""``lifetimes.utils`` on clvmodels: transaction logs to lifetimes' summary frames, tracking
tables, alive paths and lifetimes' monthly CLV.

The summaries come from :mod:`clvmodels.rfm` (:func:`~clvmodels.rfm.rfm_summary` and
:func:`~clvmodels.rfm.calibration_holdout` for ``freq`` "D" and "h",
:func:`~clvmodels.rfm.discrete_rfm_summary` for "W", "M" and "Y") and are returned in
lifetimes' layout: every column float64, indexed by the customer id column, columns in
lifetimes' order. ``freq`` is lifetimes' period: purchases in one period count as one, and
recency and T are whole numbers of periods between period starts, divided by
``freq_multiplier``. Functions that take a fitted model use only lifetimes' public fitter API
(``expected_number_of_purchases_up_to_time``, ``conditional_probability_alive``, ``predict``),
so a compat fitter and a real ``lifetimes`` fitter both work.

Deliberate differences from lifetimes 0.11.3 are listed in ``docs/lifetimes-migration.md``:
"M" and "Y" count whole calendar periods (lifetimes' ``np.timedelta64(1, "M")`` fails on
pandas 3), transactions after ``observation_period_end`` in the same week are excluded (with a
warning) rather than kept, ``monetary_value_holdout`` is the mean per holdout purchase period
(like the calibration's) rather than per transaction row, and the checks raise
:class:`~clvmodels.validation.ValidationError` (a ``ValueError``) naming the column and row.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from clvmodels.engines.window import parse_end_date
from clvmodels.rfm import calibration_holdout, discrete_rfm_summary, rfm_summary
from clvmodels.validation import ValidationError, check_transactions

__all__ = [
    "ConvergenceError",
    "calculate_alive_path",
    "calibration_and_holdout_data",
    "customer_lifetime_value",
    "expected_cumulative_transactions",
    "find_first_transactions",
    "summary_data_from_transaction_data",
]


class ConvergenceError(ValueError):
    """lifetimes' error for a fit that did not converge (kept for ``except`` clauses)."""


#: lifetimes' ``freq`` values and the period each one means; "D" and "h" go through the
#: continuous-time summaries (bucketed by day or hour), the others through the discrete one.
_FREQUENCIES = {"D": "D", "h": "h", "H": "h", "W": "W", "W-SUN": "W", "M": "M", "Y": "Y",
                "A": "Y"}
_CONTINUOUS = ("D", "h")
#: lifetimes' periods per month in ``_customer_lifetime_value`` (its own constants).
_PERIODS_PER_MONTH = {"W": 4.345, "M": 1.0, "D": 30.0, "H": 30.0 * 24, "h": 30.0 * 24}


def _period_code(freq: str) -> str:
    """The canonical period of a lifetimes ``freq`` ("D", "h", "W", "M" or "Y").

    Raises
    ------
    ValueError
        For any other frequency (quarters, minutes, seconds: clvmodels buckets purchases by
        day or hour, or in whole weeks, months or years).
    """
    try:
        return _FREQUENCIES[freq]
    except (KeyError, TypeError):
        raise ValueError(
            f"freq={freq!r} is not supported; expected one of {sorted(_FREQUENCIES)} "
            "(days and hours are bucketed like lifetimes; weeks (Monday to Sunday), months "
            "and years count whole calendar periods)"
        ) from None


def _parsed_log(transactions: pd.DataFrame, customer_id_col: str, datetime_col: str,
                monetary_value_col: str | None, datetime_format: str | None) -> pd.DataFrame:
    """The log's columns with its dates parsed by clvmodels' checks (which refuse a day/month
    order they would have to guess)."""
    dates = check_transactions(transactions, customer_col=customer_id_col, date_col=datetime_col,
                               amount_col=monetary_value_col, date_format=datetime_format)
    columns = [customer_id_col, datetime_col] + ([monetary_value_col] if monetary_value_col
                                                 else [])
    log = transactions[columns].copy()
    log[datetime_col] = dates
    return log


def _timestamp(value: Any, datetime_format: str | None, name: str) -> pd.Timestamp:
    """A date argument (string, Timestamp, Period) as a Timestamp; a Period is its start.
    A string is read as clvmodels reads end dates (an ambiguous day/month order is refused,
    a ``ValidationError`` naming the argument)."""
    if isinstance(value, pd.Period):
        return value.to_timestamp()
    return parse_end_date(value, datetime_format, name=name)


def find_first_transactions(transactions: pd.DataFrame, customer_id_col: str, datetime_col: str,
                            monetary_value_col: str | None = None,
                            datetime_format: str | None = None,
                            observation_period_end: Any = None, freq: str = "D"
                            ) -> pd.DataFrame:
    """One row per customer and purchase period, with a ``first`` flag (lifetimes'
    ``_find_first_transactions``).

    Parameters
    ----------
    transactions : DataFrame
        The transaction log.
    customer_id_col, datetime_col : str
        Customer id and purchase date columns.
    monetary_value_col : str, optional
        Amount column; amounts in one period are summed.
    datetime_format : str, optional
        ``strftime`` layout of string dates.
    observation_period_end : date-like or Period, optional
        Periods starting after it are left out (default: the last transaction).
    freq : str
        The period: "D", "h", "W", "M" or "Y".

    Returns
    -------
    DataFrame
        Columns ``customer_id_col``, ``datetime_col`` (Periods of ``freq``), the summed
        amount, and ``first`` (True on each customer's first period), sorted by customer and
        period. Without amounts the index is the row's position in the sorted log (as
        lifetimes' ``head(1)`` keeps it), with amounts a RangeIndex.
    """
    period = _period_code(freq)
    log = _parsed_log(transactions, customer_id_col, datetime_col, monetary_value_col,
                      datetime_format)
    log = log.sort_values(list(log.columns))
    end = (log[datetime_col].max() if observation_period_end is None
           else _timestamp(observation_period_end, datetime_format, "observation_period_end"))
    log[datetime_col] = log[datetime_col].dt.to_period(period)
    log = log[log[datetime_col].dt.start_time <= end].reset_index(drop=True)
    keys = [customer_id_col, datetime_col]
    if monetary_value_col:
        table = log.groupby(keys, sort=False, as_index=False)[monetary_value_col].sum()
    else:
        table = log.drop_duplicates(keys)
    table["first"] = ~table[customer_id_col].duplicated()
    return table


#: lifetimes' name (its tests and some notebooks call the underscore one).
_find_first_transactions = find_first_transactions


def _after(dates: pd.Series, end: pd.Timestamp, period: str) -> pd.Series:
    """Which dates fall after ``end`` as clvmodels' summaries cut them: by hour for hourly
    periods, else by day (a purchase on the end day, at any time, is in)."""
    resolution = "h" if period == "h" else "D"
    return dates.dt.to_period(resolution) > end.to_period(resolution)


def _whole_periods(summary: pd.DataFrame, columns: list[str], freq_multiplier: float
                   ) -> pd.DataFrame:
    for column in columns:
        # The summaries count whole periods and convert them with one multiplication and one
        # division (TimeUnit.from_periods), within an ulp of the integer: round back to it.
        summary[column] = np.rint(summary[column].to_numpy(dtype=float)) / freq_multiplier
    return summary


def _with_first_transaction(summary: pd.DataFrame, periods: pd.DataFrame,
                            customer_id_col: str, monetary_value_col: str | None
                            ) -> pd.DataFrame:
    """lifetimes' ``include_first_transaction=True``: the first period counts in frequency
    and in the mean spend."""
    summary["frequency"] = summary["frequency"] + 1.0
    if monetary_value_col:
        totals = periods.groupby(customer_id_col)[monetary_value_col].sum()
        summary["monetary_value"] = (totals.reindex(summary.index).to_numpy(dtype=float)
                                     / summary["frequency"].to_numpy())
    return summary


def _lifetimes_layout(summary: pd.DataFrame, customer_id_col: str, has_amount: bool,
                      suffix: str = "") -> pd.DataFrame:
    columns = ["frequency", "recency", "T"] + (["monetary_value"] if has_amount else [])
    result = summary[columns].astype(float)
    result.columns = [column + suffix for column in columns]
    result.index.name = customer_id_col
    return result


def summary_data_from_transaction_data(
    transactions: pd.DataFrame,
    customer_id_col: str,
    datetime_col: str,
    monetary_value_col: str | None = None,
    datetime_format: str | None = None,
    observation_period_end: Any = None,
    freq: str = "D",
    freq_multiplier: float = 1,
    include_first_transaction: bool = False,
) -> pd.DataFrame:
    """Frequency, recency, T (and monetary value) per customer, in lifetimes' layout.

    Parameters
    ----------
    transactions : DataFrame
        The transaction log, one row per purchase.
    customer_id_col, datetime_col : str
        Customer id and purchase date columns.
    monetary_value_col : str, optional
        Amount column: adds ``monetary_value``, the mean spend per repeat purchase period.
    datetime_format : str, optional
        ``strftime`` layout of string dates (and of a string ``observation_period_end``).
    observation_period_end : date-like, optional
        The end of the observation (default: the last transaction).
    freq : str
        lifetimes' period: "D" (default) or "h" (days or hours, as
        :func:`clvmodels.rfm_summary` buckets them), "W" (Monday to Sunday), "M" or "Y"
        (whole calendar periods, :func:`clvmodels.discrete_rfm_summary`).
    freq_multiplier : float
        recency and T are divided by it (``freq="D", freq_multiplier=7`` gives weeks).
    include_first_transaction : bool
        Count the first purchase period in frequency and in the mean spend (not for the
        models, which describe repeat purchases).

    Returns
    -------
    DataFrame
        Indexed by ``customer_id_col`` (sorted), with float64 ``frequency``, ``recency``,
        ``T`` and, with ``monetary_value_col``, ``monetary_value``. ``attrs`` holds
        clvmodels' summary attributes, with ``time_unit`` set only when the unit is one of
        clvmodels' (days, hours, weeks of 7 days), so that a native clvmodels model can
        check it.

    Raises
    ------
    ValidationError
        For an invalid log (see :func:`clvmodels.check_transactions`).
    ValueError
        For an unsupported ``freq``.
    """
    period = _period_code(freq)
    if period in _CONTINUOUS:
        summary = rfm_summary(transactions, customer_id_col, datetime_col, monetary_value_col,
                              observation_end=observation_period_end, time_unit=period,
                              date_format=datetime_format, resolution=period)
    else:
        summary = discrete_rfm_summary(transactions, customer_id_col, datetime_col,
                                       monetary_value_col, observation_end=observation_period_end,
                                       period=period, date_format=datetime_format)
        summary = summary.rename(columns={"periods": "T"})
    attrs = dict(summary.attrs)
    summary = _whole_periods(summary.copy(), ["recency", "T"], freq_multiplier)
    if include_first_transaction:
        log = _parsed_log(transactions, customer_id_col, datetime_col, monetary_value_col,
                          datetime_format)
        kept = log[~_after(log[datetime_col], pd.Timestamp(attrs["observation_end"]), period)]
        periods = find_first_transactions(kept, customer_id_col, datetime_col,
                                          monetary_value_col, freq=period)
        summary = _with_first_transaction(summary, periods, customer_id_col, monetary_value_col)
    result = _lifetimes_layout(summary, customer_id_col, bool(monetary_value_col))
    attrs["time_unit"] = _unit_of(period, freq_multiplier)
    result.attrs.update(attrs)
    return result


def _unit_of(period: str, freq_multiplier: float) -> str | None:
    """clvmodels' time unit of recency and T, when they are in one (else None)."""
    units = {("D", 1): "D", ("D", 7): "W", ("h", 1): "h", ("h", 24): "D", ("W", 1): "W"}
    return units.get((period, freq_multiplier))


def calibration_and_holdout_data(
    transactions: pd.DataFrame,
    customer_id_col: str,
    datetime_col: str,
    calibration_period_end: Any,
    observation_period_end: Any = None,
    freq: str = "D",
    freq_multiplier: float = 1,
    datetime_format: str | None = None,
    monetary_value_col: str | None = None,
    include_first_transaction: bool = False,
) -> pd.DataFrame:
    """Calibration summary and holdout counts per customer, in lifetimes' layout.

    Parameters
    ----------
    transactions, customer_id_col, datetime_col, freq, freq_multiplier, datetime_format,
    monetary_value_col, include_first_transaction
        As for :func:`summary_data_from_transaction_data`.
    calibration_period_end : date-like
        Last day of the calibration period.
    observation_period_end : date-like, optional
        Last day of the holdout (default: the last transaction).

    Returns
    -------
    DataFrame
        The calibration customers (those with a purchase by ``calibration_period_end``),
        indexed by ``customer_id_col``, with float64 ``frequency_cal``, ``recency_cal``,
        ``T_cal`` (``monetary_value_cal``), ``frequency_holdout`` (purchase periods in the
        holdout), ``monetary_value_holdout`` (mean spend per holdout purchase period, 0 if
        none) and ``duration_holdout`` (holdout periods / ``freq_multiplier``).

    Raises
    ------
    ValidationError
        For an invalid log, or no transaction in the holdout (lifetimes' ValueError).
    ValueError
        For an unsupported ``freq`` or a calibration end not before the observation end.
    """
    period = _period_code(freq)
    log = _parsed_log(transactions, customer_id_col, datetime_col, monetary_value_col,
                      datetime_format)
    calibration_end = _timestamp(calibration_period_end, datetime_format,
                                 "calibration_period_end")
    end = (log[datetime_col].max() if observation_period_end is None
           else _timestamp(observation_period_end, datetime_format, "observation_period_end"))
    in_calibration = ~_after(log[datetime_col], calibration_end, period)
    in_holdout = ~in_calibration & ~_after(log[datetime_col], end, period)
    if not in_holdout.any():
        raise ValidationError(
            f"calibration_and_holdout_data: no transaction in {datetime_col!r} falls in the "
            f"holdout ({calibration_end}, {end}]; check calibration_period_end and "
            "observation_period_end"
        )
    if period in _CONTINUOUS and not include_first_transaction:
        table = calibration_holdout(log, customer_id_col, datetime_col, monetary_value_col,
                                    calibration_end=calibration_end, observation_end=end,
                                    time_unit=period, resolution=period)
        table = _whole_periods(table.copy(), ["recency", "T", "duration_holdout"],
                               freq_multiplier)
        result = _lifetimes_layout(table, customer_id_col, bool(monetary_value_col), "_cal")
        holdout = table
    else:
        calibration = summary_data_from_transaction_data(
            log[in_calibration], customer_id_col, datetime_col,
            monetary_value_col, observation_period_end=calibration_end, freq=period,
            freq_multiplier=freq_multiplier,
            include_first_transaction=include_first_transaction)
        result = calibration.rename(columns=lambda column: column + "_cal")
        holdout = _holdout_periods(log[in_holdout], calibration.index, customer_id_col,
                                   datetime_col, monetary_value_col, period)
        holdout["duration_holdout"] = ((end.to_period(period)
                                        - calibration_end.to_period(period)).n
                                       / freq_multiplier)
    result["frequency_holdout"] = holdout["frequency_holdout"].astype(float)
    if monetary_value_col:
        result["monetary_value_holdout"] = holdout["monetary_value_holdout"].astype(float)
    result["duration_holdout"] = holdout["duration_holdout"].astype(float)
    result.attrs.update(holdout.attrs)
    return result


def _holdout_periods(log: pd.DataFrame, customers: pd.Index, customer_id_col: str,
                     datetime_col: str, monetary_value_col: str | None, period: str
                     ) -> pd.DataFrame:
    """Holdout purchase periods (and mean spend per such period) of the calibration
    customers; 0 for those without."""
    log = log[log[customer_id_col].isin(customers)]
    periods = log.assign(**{datetime_col: log[datetime_col].dt.to_period(period)})
    counts = periods.drop_duplicates([customer_id_col, datetime_col]).groupby(
        customer_id_col).size()
    holdout = pd.DataFrame(index=customers)
    holdout["frequency_holdout"] = counts.reindex(customers, fill_value=0).to_numpy()
    if monetary_value_col:
        totals = periods.groupby(customer_id_col)[monetary_value_col].sum()
        spend = totals.reindex(customers, fill_value=0).to_numpy(dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = spend / holdout["frequency_holdout"].to_numpy()
        holdout["monetary_value_holdout"] = np.where(holdout["frequency_holdout"] > 0, mean, 0)
    return holdout


def customer_purchase_dates(transactions: pd.DataFrame, datetime_col: str) -> pd.Series:
    """One customer's purchase dates, parsed and checked as a transaction log's are.

    Raises
    ------
    ValidationError
        If a date is missing or unreadable, or strings have an ambiguous day/month order.
    """
    if not isinstance(transactions, pd.DataFrame) or datetime_col not in transactions:
        raise ValidationError(f"expected a DataFrame with the date column {datetime_col!r}")
    # The log's checks need a customer column: the rows are one customer's.
    one_customer = pd.DataFrame({"customer": 0, datetime_col: transactions[datetime_col]})
    return check_transactions(one_customer, customer_col="customer", date_col=datetime_col)


def calculate_alive_path(model: Any, transactions: pd.DataFrame, datetime_col: str, t: int,
                         freq: str = "D") -> pd.Series:
    """P(alive) of one customer at each age 0, 1, ..., ``t`` periods, from the model's
    ``conditional_probability_alive``.

    Parameters
    ----------
    model
        A fitted model with lifetimes' ``conditional_probability_alive(frequency, recency,
        T)`` (a compat fitter or a lifetimes one).
    transactions : DataFrame
        The customer's transactions.
    datetime_col : str
        Their date column.
    t : int
        The last age, in periods of ``freq`` since the first purchase period.
    freq : str
        The period ("D", "h", "W", "M" or "Y").

    Returns
    -------
    Series
        P(alive) at ages 0..t (longer if the history is longer), on a RangeIndex: at each
        age the repeat purchase periods so far, the age of the last one, and the age.
    """
    period = _period_code(freq)
    periods = customer_purchase_dates(transactions, datetime_col).dt.to_period(period)
    ages = np.asarray([offset.n for offset in periods - periods.min()], dtype=np.int64)
    bought = np.bincount(ages, minlength=int(t) + 1) > 0
    age = np.arange(len(bought), dtype=float)
    frequency = np.cumsum(bought) - 1.0  # the first purchase is not a repeat one
    recency = np.maximum.accumulate(np.where(bought, age, 0.0))
    # One call per age with scalars, as lifetimes makes them (so the values are its own);
    # lifetimes' fitters return a 1-element array for scalars, kept here as its float.
    return pd.Series([float(np.squeeze(model.conditional_probability_alive(f, r, a)))
                      for f, r, a in zip(frequency, recency, age, strict=True)], dtype=float)


def _scale_time(age: Any) -> float:
    """The factor that scales the largest age to 1 (lifetimes' helper)."""
    return 1.0 / np.max(age)


def _first_bad(mask: Any) -> int:
    return int(np.flatnonzero(np.asarray(mask))[0])


def _check_inputs(frequency: Any, recency: Any = None, T: Any = None,
                  monetary_value: Any = None) -> None:
    """Check an RFM table's columns as lifetimes' fitters do.

    Raises
    ------
    ValidationError
        (a ``ValueError``, as lifetimes raises) naming the first offending row (its position)
        if recency > T, recency is not 0 where frequency is 0, recency < 0, a vector is
        empty, frequency is not whole, or monetary value is not positive.
    """
    frequency = np.asarray(frequency, dtype=float)
    if recency is not None:
        recency = np.asarray(recency, dtype=float)
        if T is not None:
            T = np.asarray(T, dtype=float)
            if np.any(recency > T):
                row = _first_bad(recency > T)
                raise ValidationError(
                    f"recency is larger than T at row {row}: {recency[row]} > {T[row]}")
        if np.any(recency[frequency == 0] != 0):
            row = _first_bad((frequency == 0) & (recency != 0))
            raise ValidationError(
                f"recency must be 0 where frequency is 0; row {row} has recency {recency[row]}")
        if np.any(recency < 0):
            row = _first_bad(recency < 0)
            raise ValidationError(f"recency is negative at row {row}: {recency[row]}")
        if any(len(values) == 0 for values in (recency, frequency, T) if values is not None):
            raise ValidationError("frequency, recency and T must not be empty")
    if np.any(frequency != np.round(frequency)):
        row = _first_bad(frequency != np.round(frequency))
        raise ValidationError(f"frequency must be a whole number; row {row} has "
                              f"{frequency[row]}")
    if monetary_value is not None and np.any(np.asarray(monetary_value, dtype=float) <= 0):
        values = np.asarray(monetary_value, dtype=float)
        row = _first_bad(values <= 0)
        raise ValidationError(f"monetary_value must be positive; row {row} has {values[row]}")


def _customer_lifetime_value(transaction_prediction_model: Any, frequency: pd.Series,
                             recency: Any, T: Any, monetary_value: Any, time: int = 12,
                             discount_rate: float = 0.01, freq: str = "D") -> pd.Series:
    """lifetimes' CLV: expected purchases month by month, times the mean spend, discounted
    once per month.

    ``sum_{i=1}^{time} m * (E[N(i k)] - E[N((i - 1) k)]) / (1 + d)^i`` with ``k`` the
    model's periods per month (lifetimes' constants: 30 days, 4.345 weeks, 720 hours, 1
    month) and ``E[N(t)]`` the model's ``predict`` (conditional expected purchases).

    Parameters
    ----------
    transaction_prediction_model
        A fitted purchase model with lifetimes' ``predict(t, frequency, recency, T)``.
    frequency : Series
        Repeat purchases; its index is the result's.
    recency, T, monetary_value : array-like
        The rest of the RFM table and the expected spend per purchase (aligned with
        ``frequency``: a Series with another index is refused rather than aligned to NaN).
    time : int
        Months.
    discount_rate : float
        Monthly discount rate.
    freq : str
        The model's time unit: "D", "W", "M" or "H"/"h".

    Returns
    -------
    Series
        Named ``"clv"``, indexed like ``frequency``.
    """
    if freq not in _PERIODS_PER_MONTH:
        raise ValueError(f"freq={freq!r} is not supported; expected one of "
                         f"{sorted(_PERIODS_PER_MONTH)}")
    if (isinstance(monetary_value, pd.Series) and isinstance(frequency, pd.Series)
            and not monetary_value.index.equals(frequency.index)):
        raise ValidationError(
            "monetary_value's index differs from frequency's: pass them from one table "
            "(or pass monetary_value.to_numpy() to pair them by position)")
    index = frequency.index if isinstance(frequency, pd.Series) else None
    spend = np.asarray(monetary_value, dtype=float)
    factor = _PERIODS_PER_MONTH[freq]
    clv = np.zeros(len(frequency))
    for month in range(1, int(time) + 1):
        end = month * factor
        purchases = (np.asarray(transaction_prediction_model.predict(end, frequency, recency, T),
                                dtype=float)
                     - np.asarray(transaction_prediction_model.predict(end - factor, frequency,
                                                                        recency, T),
                                  dtype=float))
        clv += spend * purchases / (1.0 + discount_rate) ** month
    return pd.Series(clv, index=index, name="clv")


#: The public name (lifetimes only had the underscore one; its fitters call it).
customer_lifetime_value = _customer_lifetime_value


def expected_cumulative_transactions(
    model: Any,
    transactions: pd.DataFrame,
    datetime_col: str,
    customer_id_col: str,
    t: int,
    datetime_format: str | None = None,
    freq: str = "D",
    freq_multiplier: int = 1,
    set_index_date: bool = False,
) -> pd.DataFrame:
    """Actual and expected cumulative repeat transactions of the whole log, period by period
    (Fader, Hardie & Lee's tracking, as lifetimes computes it).

    The expected count at the end of period ``i`` sums, over the cohorts of customers
    acquired in each earlier period, the cohort's size times the model's
    ``expected_number_of_purchases_up_to_time`` at its age; the actual count is the repeat
    purchase periods (one per customer and period) up to period ``i``, as lifetimes counts
    them.

    Parameters
    ----------
    model
        A fitted model with lifetimes' ``expected_number_of_purchases_up_to_time``.
    transactions, datetime_col, customer_id_col, datetime_format, freq
        The log, as for :func:`summary_data_from_transaction_data`.
    t : int
        Number of periods of ``freq`` from the first transaction.
    freq_multiplier : int
        Periods per model time unit (7 for a model in weeks on ``freq="D"``).
    set_index_date : bool
        Index by the Period instead of 0, 1, ...

    Returns
    -------
    DataFrame
        ``actual`` (int64) and ``predicted`` (float64), ``t // freq_multiplier`` rows.
    """
    period = _period_code(freq)
    t = int(t)
    multiplier = int(freq_multiplier)
    log = _parsed_log(transactions, customer_id_col, datetime_col, None, datetime_format)
    start = log[datetime_col].min().to_period(period)
    table = find_first_transactions(log, customer_id_col, datetime_col,
                                    observation_period_end=start + t, freq=period)
    cohorts = table[table["first"]].groupby(datetime_col).size()
    periods = pd.period_range(start, periods=t + 1, freq=period)
    cohort_start = np.asarray([(p - start).n for p in cohorts.index], dtype=np.int64)
    sizes = cohorts.to_numpy(dtype=float)
    predicted = []
    for i in range(multiplier, t + 1, multiplier):
        earlier = cohort_start < i
        ages = (i - cohort_start[earlier]).astype(float) / multiplier
        expected = np.asarray(model.expected_number_of_purchases_up_to_time(ages), dtype=float)
        predicted.append(float(np.sum(expected * sizes[earlier])))
    repeats = table[~table["first"]].groupby(datetime_col).size()
    per_period = repeats.reindex(periods, fill_value=0).to_numpy(dtype=np.int64)
    # lifetimes' actual count at row j: the repeat periods among the first (j + 1) * k.
    actual = np.cumsum(per_period)[multiplier - 1:t:multiplier][: t // multiplier]
    index = (periods[multiplier - 1:-1:multiplier] if set_index_date
             else pd.RangeIndex(t // multiplier))
    return pd.DataFrame({"actual": actual, "predicted": predicted}, index=index)
