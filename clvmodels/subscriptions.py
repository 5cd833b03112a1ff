"""Subscription log -> contract table (renewals, churned per customer) for the contractual
models (sBG, BdW).

A subscription starts at a date and renews every period (a month, a year, ...) at the start
date's anniversaries until it ends; a customer who ends it leaves at their next renewal date.
:func:`contract_summary` counts each customer's renewals up to the observation end.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from clvmodels.timeunit import TimeUnit, set_table_time_unit
from clvmodels.validation import ValidationError, check_transactions, parse_date_text

__all__ = ["contract_summary", "renewals_between"]

# Periods counted in calendar months (anniversaries of the start date), and their length.
_MONTHS = {TimeUnit.MONTH: 1, TimeUnit.YEAR: 12}
# A cohort is the start's period, labelled by its first day in this layout.
_COHORTS = {"M": ("M", "%Y-%m"), "Y": ("Y", "%Y"), "W": ("W", "%Y-%m-%d")}


def _add_months(start: pd.Series, months: np.ndarray) -> pd.Series:
    """``start`` plus whole months, on the same day of the month (the month's last day when it
    is shorter, as pandas' DateOffset does), keeping the time of day."""
    total = start.dt.year.to_numpy() * 12 + start.dt.month.to_numpy() - 1 + months
    year, month = total // 12, total % 12 + 1
    first = pd.to_datetime(pd.DataFrame({"year": year, "month": month, "day": 1}))
    day = np.minimum(start.dt.day.to_numpy(), first.dt.days_in_month.to_numpy())
    moved = first + pd.to_timedelta(day - 1, unit="D")
    return pd.Series(moved.to_numpy(), index=start.index) + (start - start.dt.normalize())


def renewals_between(start: pd.Series, until: pd.Series, period: str,
                     strictly_before: np.ndarray) -> np.ndarray:
    """Renewal dates (start + k periods, k >= 1) before ``until``: strictly before it where
    ``strictly_before`` (an end date: a renewal on the day the contract ended did not happen),
    else on or before it (the observation end).

    Months and years are calendar anniversaries (Jan 31 + 1 month is the last day of
    February); days, weeks and hours exact multiples of their length.
    """
    unit = TimeUnit.parse(period)
    if unit in _MONTHS:
        step = _MONTHS[unit]
        months = ((until.dt.year - start.dt.year) * 12 + until.dt.month
                  - start.dt.month).to_numpy()
        whole = np.maximum(months // step, 0)
        anniversary = _add_months(start, whole * step).to_numpy()
        end = until.to_numpy()
        reached = np.where(strictly_before, anniversary < end, anniversary <= end)
        return np.maximum(np.where(reached, whole, whole - 1), 0)
    length = pd.Timedelta(days=unit.days).value
    elapsed = (until - start).to_numpy().astype("timedelta64[ns]").astype(np.int64)
    # k * length < elapsed: ceil(elapsed / length) - 1; k * length <= elapsed: the floor.
    before = -(-elapsed // length) - 1
    return np.maximum(np.where(strictly_before, before, elapsed // length), 0)


def _dates(frame: pd.DataFrame, customer_col: str, column: str, date_format: str | None
           ) -> pd.Series:
    return check_transactions(frame, customer_col=customer_col, date_col=column,
                              date_format=date_format)


def _refuse(mask: np.ndarray, frame: pd.DataFrame, customer_col: str, what: str) -> None:
    if mask.any():
        first = int(np.flatnonzero(mask)[0])
        customer = frame[customer_col].iloc[first]
        customer = customer.item() if isinstance(customer, np.generic) else customer
        raise ValidationError(
            f"{int(mask.sum())} subscription row(s) invalid (e.g. customer {customer!r}, row "
            f"{frame.index[first]!r}): {what}")


def contract_summary(
    subscriptions: pd.DataFrame,
    customer_col: str,
    start_col: str,
    end_col: str,
    observation_end: str | pd.Timestamp,
    period: str = "M",
    *,
    date_format: str | None = None,
) -> pd.DataFrame:
    """One row per customer of a subscription log: the renewals observed and whether they left.

    A subscription renews at every anniversary of its start (``start + k periods``, k >= 1).
    A customer with an end date cancelled: their renewals are the renewal dates strictly
    before the end (a contract ended on a renewal date was not renewed on it), and they left
    at the next one (``churned`` True). A customer without one is active at the observation
    end: their renewals are those on or before it (``churned`` False).

    One subscription per customer: rows of a customer that follow each other without a gap
    (the next starts on the day the previous ended: a log with one row per term) are one
    subscription. A customer who left and came back later (a gap), or whose rows overlap, is
    refused: whether a returning customer is the same subscriber is the data owner's decision
    (give each subscription its own id, or keep the latest).

    Parameters
    ----------
    subscriptions : DataFrame
        One row per contract, with a customer id, a start date and an end date (empty for an
        active contract).
    customer_col, start_col, end_col : str
        Column names.
    observation_end : str or Timestamp
        The date the log was taken (ISO, or in ``date_format``); no date may be later.
    period : {"M", "Y", "W", "D"}, default "M"
        The renewal period: months and years are calendar anniversaries.
    date_format : str, optional
        ``strftime`` layout of the dates when they are strings; without it the day/month order
        is never guessed (see :func:`clvmodels.check_transactions`).

    Returns
    -------
    DataFrame
        Indexed by customer: ``renewals`` (int), ``churned`` (bool), ``start`` and ``end``
        (NaT when active) and ``cohort`` (the start's period, e.g. ``"2021-03"``).
        ``attrs`` record ``time_unit`` (the period) and ``observation_end``.

    Raises
    ------
    ValidationError
        Naming the customer and the row: a missing column, customer id or start date, an
        unparsable or ambiguous date, an end before its start, a date after the observation
        end, overlapping contracts, or a customer who came back after a gap.
    """
    if not isinstance(subscriptions, pd.DataFrame):
        raise ValidationError(
            f"expected a pandas DataFrame of subscriptions, got {type(subscriptions).__name__}")
    missing = [c for c in (customer_col, start_col, end_col) if c not in subscriptions.columns]
    if missing:
        raise ValidationError(
            f"missing column(s) {missing}; the subscriptions have {list(subscriptions.columns)}. "
            "Pass the right names (customer_col=..., start_col=..., end_col=...).")
    if len(subscriptions) == 0:
        raise ValidationError("the subscription log is empty; expected at least one contract")
    unit = TimeUnit.parse(period)
    end_of_log = (parse_date_text(observation_end, date_format, name="observation_end")
                  if isinstance(observation_end, str) else pd.Timestamp(observation_end))
    frame = subscriptions.reset_index(drop=True)
    frame.index.name = "row"
    _refuse(frame[start_col].isna().to_numpy(), frame, customer_col,
            f"column {start_col!r} is empty; expected the start date of every contract")
    start = _dates(frame, customer_col, start_col, date_format)
    raw_end = frame[end_col]
    has_end = ~(raw_end.isna() | raw_end.astype(str).str.strip().isin(["", "NaT", "nan"]))
    end = pd.Series(pd.NaT, index=frame.index, dtype=start.dtype)
    if has_end.any():
        end[has_end] = _dates(frame[has_end], customer_col, end_col, date_format)
    _refuse((end < start).to_numpy(), frame, customer_col,
            f"the end ({end_col!r}) is before the start ({start_col!r})")
    for column, dates in ((start_col, start), (end_col, end)):
        _refuse((dates > end_of_log).to_numpy(), frame, customer_col,
                f"column {column!r} is after the observation end {end_of_log.date()}; "
                "expected dates up to the day the log was taken")
    order = np.lexsort((start.to_numpy(), frame[customer_col].to_numpy()))
    frame, start, end = frame.iloc[order], start.iloc[order], end.iloc[order]
    customers = frame[customer_col].to_numpy()
    same = np.r_[False, customers[1:] == customers[:-1]]
    previous_end = end.shift(1).to_numpy()
    previous_active = same & pd.isna(previous_end)
    with np.errstate(invalid="ignore"):
        overlap = same & (previous_active | (start.to_numpy() < previous_end))
        gap = same & ~previous_active & (start.to_numpy() > previous_end)
    _refuse(overlap, frame, customer_col,
            "it overlaps the customer's previous contract; expected one subscription at a time")
    _refuse(gap, frame, customer_col,
            "the customer came back after a gap (a second subscription); contract_summary "
            "takes one subscription per customer: give each its own customer id, or keep the "
            "latest")
    # A chain of touching contracts is one subscription: its first start, its last end.
    # (The rows are sorted by customer: a customer's first and last rows.)
    first_start = start[~same].reset_index(drop=True)
    last_end = end[np.r_[~same[1:], True]].reset_index(drop=True)
    churned = last_end.notna().to_numpy()
    until = last_end.where(last_end.notna(), end_of_log)
    renewals = renewals_between(first_start, until, unit.value, churned)
    cohort_unit, layout = _COHORTS.get(unit.value, ("D", "%Y-%m-%d"))
    cohort = first_start.dt.to_period(cohort_unit).dt.start_time.dt.strftime(layout)
    table = pd.DataFrame(
        {"renewals": renewals.astype(np.int64), "churned": churned,
         "start": first_start.to_numpy(), "end": last_end.to_numpy(),
         "cohort": cohort.to_numpy()},
        index=pd.Index(customers[~same], name=customer_col))
    table.attrs["observation_end"] = end_of_log.isoformat()
    return set_table_time_unit(table, unit)
