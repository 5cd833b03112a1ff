"""The discrete-time summary of a transaction log (:func:`clvmodels.discrete_rfm_summary`), for
the BG/BB model: calendar periods of a chosen length instead of continuous time.

Each customer's transaction opportunities are the calendar periods (years, months, weeks
starting on Monday, or days, on the dates' own calendar) after the period of their first
transaction, up to the one holding the observation end. A transaction marks its period, and
several in one period count once. Per customer:

* ``frequency``: the repeat periods with a transaction;
* ``recency``: the last such period, counted from the first transaction's (0 if none);
* ``periods``: the opportunities, the observation end's period minus the first one (0 for a
  customer first seen in the last period, whom the BG/BB refuses: no opportunity yet);
* ``monetary_value`` (with an amount column): the mean spend per repeat period (a period's
  spend is the sum of its amounts; the first period is left out, as in
  :func:`clvmodels.rfm_summary`), 0.0 without one.

The log is read and checked as by the pandas engine (:func:`~clvmodels.engines.pandas.read_log`,
the same dates, time zones and errors) and the observation end resolved as by every engine
(:func:`~clvmodels.engines.window.resolve_window`); transactions after it are left out with the
same warning.

The calibration/holdout split (:func:`clvmodels.calibration_holdout` with ``period``,
:func:`summarise_discrete_holdout`) cuts at whole periods only: ``calibration_end`` and
``observation_end`` must each be the last day of a period (:func:`check_period_end`), and the
holdout counts the periods with a transaction among the ``end - cut`` periods after it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from clvmodels.engines.pandas import read_log
from clvmodels.engines.window import (
    SummaryRequest,
    no_calibration_purchase,
    resolve_window,
    spend_overflow,
    summary_attrs,
    warn_excluded,
)
from clvmodels.timeunit import TimeUnit
from clvmodels.validation import ValidationError

__all__ = [
    "DISCRETE_PERIODS",
    "calendar_periods",
    "check_period",
    "check_period_end",
    "period_last_day",
    "summarise_discrete",
    "summarise_discrete_holdout",
]

#: The calendar periods a discrete-time summary counts in.
DISCRETE_PERIODS = (TimeUnit.YEAR, TimeUnit.MONTH, TimeUnit.WEEK, TimeUnit.DAY)
# 1970-01-01, day 0, was a Thursday: weeks starting on Monday begin at day -3.
_THURSDAY_TO_MONDAY = 3


def check_period(period: object) -> TimeUnit:
    """The calendar period of a discrete-time summary (``ValueError`` for another)."""
    unit = TimeUnit.parse(period)
    if unit not in DISCRETE_PERIODS:
        expected = ", ".join(f"{u.value!r} ({u.plural})" for u in DISCRETE_PERIODS)
        raise ValueError(f"unsupported period {unit.value!r} for a discrete-time summary; "
                         f"expected one of {expected}")
    return unit


def calendar_periods(days: np.ndarray, period: TimeUnit) -> np.ndarray:
    """The calendar period (years, months, Monday weeks or days since 1970) of day numbers
    (days since 1970-01-01 on the dates' calendar)."""
    days = np.asarray(days, dtype=np.int64)
    if period is TimeUnit.DAY:
        return days
    if period is TimeUnit.WEEK:
        return (days + _THURSDAY_TO_MONDAY) // 7
    code = "Y" if period is TimeUnit.YEAR else "M"
    return days.astype("datetime64[D]").astype(f"datetime64[{code}]").astype(np.int64)


def _discrete_columns(codes: np.ndarray, periods: np.ndarray, amounts: np.ndarray | None,
                      n_customers: int, end: int) -> dict[str, np.ndarray]:
    """Per customer (``codes``) the discrete summary of the transactions in calendar
    ``periods`` up to period ``end``: frequency, recency, periods, the repeat spend (summed,
    with ``amounts``) and ``cohort`` (a transaction at all)."""
    cohort = np.bincount(codes, minlength=n_customers) > 0
    first = np.full(n_customers, np.iinfo(np.int64).max)
    np.minimum.at(first, codes, periods)
    # Distinct (customer, period) pairs: a period with several transactions counts once.
    pairs = np.unique(np.stack([codes, periods]), axis=1)
    pair_codes, pair_periods = pairs
    repeat = pair_periods > first[pair_codes]
    frequency = np.bincount(pair_codes[repeat], minlength=n_customers)
    last = first.copy()
    np.maximum.at(last, pair_codes, pair_periods)
    columns = {
        "frequency": frequency,
        "recency": np.where(frequency > 0, last - first, 0),
        "periods": end - first,
        "cohort": cohort,
    }
    if amounts is not None:
        columns["spend"] = np.bincount(
            codes, weights=np.where(periods > first[codes], amounts, 0.0), minlength=n_customers)
    return columns


def _check_spend(spend: np.ndarray, cohort: np.ndarray, request: SummaryRequest,
                 customers: pd.Index) -> None:
    overflow = cohort & ~np.isfinite(spend)
    if overflow.any():
        raise spend_overflow(request.amount_col, int(np.count_nonzero(overflow)),
                             customers[np.flatnonzero(overflow)[:1]].tolist()[0])


def summarise_discrete(transactions: pd.DataFrame, request: SummaryRequest) -> pd.DataFrame:
    """:func:`clvmodels.discrete_rfm_summary` in memory (``request.unit`` is the period,
    ``request.resolution`` days); see the module docstring."""
    period = check_period(request.unit)
    log = read_log(transactions, request)
    window = resolve_window(request, first_date=log.first_date, last_date=log.last_date,
                            n_rows=len(log.code), tz=log.tz, clock=log.clock(request))
    kept = log.period <= window.end_period
    n_excluded = int(np.count_nonzero(~kept))
    n_customers = len(log.customers)
    end = int(calendar_periods(np.array([window.end_period]), period)[0])
    columns = _discrete_columns(log.code[kept], calendar_periods(log.period[kept], period),
                                None if log.amount is None else log.amount[kept],
                                n_customers, end)
    cohort = columns.pop("cohort")
    if n_excluded:
        warn_excluded(n_excluded, window.observation_end, int(np.count_nonzero(~cohort)))
    if log.amount is not None:
        spend = columns.pop("spend")
        frequency = columns["frequency"]
        with np.errstate(invalid="ignore", divide="ignore"):
            columns["monetary_value"] = np.where(frequency > 0, spend / frequency, 0.0)
        _check_spend(spend, cohort, request, log.customers)
    summary = pd.DataFrame({name: values[cohort] for name, values in columns.items()},
                           index=log.customers[cohort])
    for name in ("frequency", "recency", "periods"):
        summary[name] = summary[name].astype(np.int64)
    summary.attrs.update(summary_attrs(
        period, window, n_transactions=len(log.code) - n_excluded,
        n_transactions_excluded=n_excluded,
        n_customers_excluded=n_customers - int(np.count_nonzero(cohort)),
    ))
    summary.attrs["discrete_periods"] = period.value
    return summary


def period_last_day(index: int, period: TimeUnit) -> int:
    """The last day (days since 1970-01-01) of calendar period ``index`` (see
    :func:`calendar_periods`)."""
    if period is TimeUnit.DAY:
        return index
    if period is TimeUnit.WEEK:
        return (index + 1) * 7 - _THURSDAY_TO_MONDAY - 1
    code = "Y" if period is TimeUnit.YEAR else "M"
    return int(np.datetime64(index + 1, code).astype("datetime64[D]").astype(np.int64)) - 1


def check_period_end(day: int, period: TimeUnit, name: str, value: object) -> int:
    """The calendar period that day ``day`` (``name``'s, given as ``value``) ends.

    Raises
    ------
    ValidationError
        If the day is not the last day of its period: the holdout of a discrete-time
        backtest is whole periods, so both its ends must be period ends.
    """
    index = int(calendar_periods(np.array([day]), period)[0])
    last = period_last_day(index, period)
    if day != last:
        def iso(d: int) -> str:
            return str(np.datetime64(d, "D"))
        raise ValidationError(
            f"{name} {value} is not the last day of a {period.label}: a discrete-time "
            f"calibration/holdout split counts whole {period.plural}, so expected the last day "
            f"of one, e.g. {iso(period_last_day(index - 1, period))} or {iso(last)}"
        )
    return index


def summarise_discrete_holdout(transactions: pd.DataFrame, request: SummaryRequest
                               ) -> pd.DataFrame:
    """:func:`clvmodels.calibration_holdout` with ``period`` in memory: the discrete summary at the
    calibration end and, per customer, the holdout periods with a transaction."""
    period = check_period(request.unit)
    log = read_log(transactions, request)
    window = resolve_window(request, first_date=log.first_date, last_date=log.last_date,
                            n_rows=len(log.code), tz=log.tz, clock=log.clock(request))
    cut = check_period_end(window.cut, period, "calibration_end", window.calibration_end)
    end = check_period_end(window.end_period, period, "observation_end",
                           window.observation_end)
    kept = log.period <= window.end_period
    n_excluded = int(np.count_nonzero(~kept))
    codes, periods = log.code[kept], calendar_periods(log.period[kept], period)
    amounts = None if log.amount is None else log.amount[kept]
    n_customers = len(log.customers)
    calibration = periods <= cut
    columns = _discrete_columns(codes[calibration], periods[calibration],
                                None if amounts is None else amounts[calibration],
                                n_customers, cut)
    bought = columns.pop("cohort")
    if n_excluded:
        warn_excluded(n_excluded, window.observation_end,
                      int(np.count_nonzero(np.bincount(codes, minlength=n_customers) == 0)))
    if not bought.any():
        raise no_calibration_purchase(request.date_col, window.calibration_end)
    # First seen in the calibration's last period: no opportunity yet, nothing the BG/BB can
    # condition on (it refuses periods == 0); left out by definition, and counted.
    cohort = bought & (columns["periods"] > 0)
    if not cohort.any():
        raise ValidationError(
            f"column {request.date_col!r}: every customer with a transaction by calibration_end "
            f"{window.calibration_end} is first seen in its last {period.label}; expected "
            f"some with at least one {period.label} of calibration after their first")
    holdout_pairs = np.unique(np.stack([codes[~calibration], periods[~calibration]]), axis=1)
    holdout = np.bincount(holdout_pairs[0], minlength=n_customers)
    if amounts is not None:
        spend = columns.pop("spend")
        holdout_spend = np.bincount(codes[~calibration], weights=amounts[~calibration],
                                    minlength=n_customers)
        for total in (spend, holdout_spend):
            _check_spend(total, cohort, request, log.customers)
        frequency = columns["frequency"]
        with np.errstate(invalid="ignore", divide="ignore"):
            columns["monetary_value"] = np.where(frequency > 0, spend / frequency, 0.0)
            columns["monetary_value_holdout"] = np.where(holdout > 0, holdout_spend / holdout,
                                                         0.0)
    columns["frequency_holdout"] = holdout
    summary = pd.DataFrame({name: values[cohort] for name, values in columns.items()},
                           index=log.customers[cohort])
    for name in ("frequency", "recency", "periods", "frequency_holdout"):
        summary[name] = summary[name].astype(np.int64)
    summary["duration_holdout"] = np.int64(end - cut)
    summary.attrs.update(summary_attrs(
        period, window, n_transactions=len(log.code) - n_excluded,
        n_transactions_excluded=n_excluded,
        n_customers_excluded=n_customers - int(np.count_nonzero(bought)),
    ))
    summary.attrs["discrete_periods"] = period.value
    summary.attrs["n_customers_without_opportunity"] = int(np.count_nonzero(bought & ~cohort))
    return summary
