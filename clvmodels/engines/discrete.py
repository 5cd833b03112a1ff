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
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from clvmodels.engines.pandas import read_log
from clvmodels.engines.window import (
    SummaryRequest,
    resolve_window,
    spend_overflow,
    summary_attrs,
    warn_excluded,
)
from clvmodels.timeunit import TimeUnit

__all__ = ["DISCRETE_PERIODS", "calendar_periods", "check_period", "summarise_discrete"]

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


def summarise_discrete(transactions: pd.DataFrame, request: SummaryRequest) -> pd.DataFrame:
    """:func:`clvmodels.discrete_rfm_summary` in memory (``request.unit`` is the period,
    ``request.resolution`` days); see the module docstring."""
    period = check_period(request.unit)
    log = read_log(transactions, request)
    window = resolve_window(request, first_date=log.first_date, last_date=log.last_date,
                            n_rows=len(log.code), tz=log.tz, clock=log.clock(request))
    kept = log.period <= window.end_period
    n_excluded = int(np.count_nonzero(~kept))
    codes = log.code[kept]
    periods = calendar_periods(log.period[kept], period)
    n_customers = len(log.customers)
    cohort = np.bincount(codes, minlength=n_customers) > 0
    if n_excluded:
        warn_excluded(n_excluded, window.observation_end, int(np.count_nonzero(~cohort)))
    end = int(calendar_periods(np.array([window.end_period]), period)[0])
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
    }
    if log.amount is not None:
        amounts = log.amount[kept]
        spend = np.bincount(codes, weights=np.where(periods > first[codes], amounts, 0.0),
                            minlength=n_customers)
        with np.errstate(invalid="ignore", divide="ignore"):
            columns["monetary_value"] = np.where(frequency > 0, spend / frequency, 0.0)
        overflow = cohort & ~np.isfinite(spend)
        if overflow.any():
            raise spend_overflow(request.amount_col, int(np.count_nonzero(overflow)),
                                 log.customers[np.flatnonzero(overflow)[:1]].tolist()[0])
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
