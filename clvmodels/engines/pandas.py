"""The in-memory engine of :func:`clvmodels.rfm_summary` and :func:`clvmodels.calibration_holdout`
(the default, ``engine="pandas"``): NumPy counts over integer arrays.

:func:`read_log` is also the DuckDB engine's reading of a DataFrame: the checks, the customer
codes and the periods of every engine that takes a DataFrame are these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo

import numpy as np
import pandas as pd

from clvmodels.engines.window import (
    CustomerTotals,
    SummaryRequest,
    Window,
    finish_summary,
    resolve_window,
    to_periods,
)
from clvmodels.validation import check_transactions

__all__ = ["PurchaseLog", "customer_totals", "read_log", "summarise"]


@dataclass(frozen=True)
class PurchaseLog:
    """Transactions as integer arrays: customer code, purchase period and amount per row.

    ``code`` indexes ``customers`` (every customer id of the input, sorted and named after
    the id column), ``period`` counts periods of the request's resolution since 1970-01-01 in
    the dates' own calendar (``tz``), ``amount`` is None when no amount column was given;
    ``first_date`` and ``last_date`` are the first and last purchase dates.
    """

    customers: pd.Index
    code: np.ndarray
    period: np.ndarray
    amount: np.ndarray | None
    tz: tzinfo | None
    first_date: pd.Timestamp
    last_date: pd.Timestamp

    def clock(self, request: SummaryRequest) -> str | None:
        """The zone whose wall clock naive dates are read on (``request.timezone``), for
        end dates with a zone; None for dates with a zone of their own."""
        return request.timezone if self.tz is None else None


def read_log(transactions: pd.DataFrame, request: SummaryRequest) -> PurchaseLog:
    """Check a transaction DataFrame (:func:`~clvmodels.validation.check_transactions`) and
    convert it to integer arrays.

    Raises
    ------
    ValidationError
        If the transactions fail the checks.
    """
    dates = check_transactions(
        transactions, customer_col=request.customer_col, date_col=request.date_col,
        amount_col=request.amount_col, date_format=request.date_format,
        timezone=request.timezone,
    )
    tz = getattr(dates.dtype, "tz", None)
    # Bucket by the dates' own calendar: a purchase at 23:30 local time belongs to that day.
    local = dates.dt.tz_localize(None) if tz is not None else dates
    periods = to_periods(local.to_numpy(), request.resolution)
    codes, customers = pd.factorize(transactions[request.customer_col], sort=True)
    amounts = None
    if request.amount_col:
        amounts = pd.to_numeric(transactions[request.amount_col]).to_numpy(dtype=float)
    return PurchaseLog(customers.rename(request.customer_col), codes, periods, amounts, tz,
                       dates.min(), dates.max())


def summarise(transactions: pd.DataFrame, request: SummaryRequest) -> pd.DataFrame:
    """:func:`~clvmodels.rfm_summary` (``request.calibration_end`` None) or
    :func:`~clvmodels.calibration_holdout` in memory; see there."""
    log = read_log(transactions, request)
    window = resolve_window(request, first_date=log.first_date, last_date=log.last_date,
                            n_rows=len(log.code), tz=log.tz, clock=log.clock(request))
    return finish_summary(log.customers, customer_totals(log, window), window, request,
                          len(log.code))


def customer_totals(log: PurchaseLog, window: Window) -> CustomerTotals:
    """Each customer's purchase periods and spend in the calibration and holdout periods.

    Spend is summed over the rows in row order (``np.bincount``); rows outside a sum add 0.0,
    which leaves every partial sum as it is.
    """
    n_customers = len(log.customers)
    after = log.period > window.end_period
    n_after = np.bincount(log.code[after], minlength=n_customers)
    codes, periods, amounts = log.code, log.period, log.amount
    if n_after.any():
        kept = ~after
        codes, periods = codes[kept], periods[kept]
        amounts = None if amounts is None else amounts[kept]
    n_periods, holdout_periods = _count_periods(codes, periods, window.cut, n_customers)
    in_calibration = None
    calibration_codes, calibration_periods = codes, periods
    if holdout_periods.any():
        in_calibration = periods <= window.cut
        calibration_codes, calibration_periods = codes[in_calibration], periods[in_calibration]
    first = np.full(n_customers, np.iinfo(np.int64).max)
    np.minimum.at(first, calibration_codes, calibration_periods)
    last = np.full(n_customers, np.iinfo(np.int64).min)
    np.maximum.at(last, calibration_codes, calibration_periods)
    earliest, latest = first, last
    if in_calibration is not None:  # the holdout period's purchases too
        holdout_codes, holdout_rows = codes[~in_calibration], periods[~in_calibration]
        earliest, latest = first.copy(), last.copy()
        np.minimum.at(earliest, holdout_codes, holdout_rows)
        np.maximum.at(latest, holdout_codes, holdout_rows)
    repeat_spend = holdout_spend = None
    if amounts is not None:
        repeat = periods != first[codes]
        if in_calibration is not None:
            repeat &= in_calibration
        repeat_spend = np.bincount(codes, weights=np.where(repeat, amounts, 0.0),
                                   minlength=n_customers)
        holdout_spend = np.zeros(n_customers)
        if in_calibration is not None:
            holdout_spend = np.bincount(codes, weights=np.where(in_calibration, 0.0, amounts),
                                        minlength=n_customers)
    return CustomerTotals(n_periods, first, last, holdout_periods, n_after, earliest, latest,
                          repeat_spend, holdout_spend)


def _count_periods(codes: np.ndarray, periods: np.ndarray, cut: int, n_customers: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Each customer's number of distinct purchase periods up to ``cut`` and after it."""
    none = np.zeros(n_customers, dtype=np.int64)
    if len(codes) == 0:
        return none, none
    base = int(periods.min())
    span = int(periods.max()) - base + 1
    if n_customers * span >= 2**63:  # one integer key per pair would overflow: sort pairs
        order = np.lexsort((periods, codes))
        codes, periods = codes[order], periods[order]
        new = np.r_[True, (codes[1:] != codes[:-1]) | (periods[1:] != periods[:-1])]
        pair_codes, in_calibration = codes[new], periods[new] <= cut
    else:
        # Sorting one integer key per (customer, period) brings repeats together; uint32
        # keys, when they fit, sort about twice as fast.
        key = codes * span + (periods - base)
        if n_customers * span <= 2**32:
            key = key.astype(np.uint32)
        key.sort()
        distinct = key[np.r_[True, key[1:] != key[:-1]]]
        pair_codes = distinct // span
        in_calibration = None if base + span - 1 <= cut else distinct % span <= cut - base
    if in_calibration is None:
        return np.bincount(pair_codes, minlength=n_customers), none
    return (np.bincount(pair_codes[in_calibration], minlength=n_customers),
            np.bincount(pair_codes[~in_calibration], minlength=n_customers))
