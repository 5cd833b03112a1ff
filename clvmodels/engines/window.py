"""The observation and calibration window of a summary, written once for every engine.

An engine reads and checks its transactions, then hands this module the first and last purchase
date; :func:`resolve_window` parses the observation end (default: the last purchase date) and
the calibration end, turns them into periods and refuses windows that hold no purchase. After
the engine has counted, per customer, its purchase periods and spend inside the window
(:class:`CustomerTotals`), :func:`finish_summary` announces the transactions left out, builds
the table (:func:`summary_frame`, :func:`add_holdout_columns`) and its ``attrs``
(:func:`summary_attrs`), the same on every engine.
"""

from __future__ import annotations

import os
import sys
import warnings
import zoneinfo
from dataclasses import dataclass
from datetime import tzinfo

import numpy as np
import pandas as pd

from clvmodels.timeunit import TimeUnit
from clvmodels.validation import ValidationError, parse_date_text

__all__ = [
    "Bulk", "CustomerTotals", "SummaryRequest", "Window", "add_holdout_columns", "all_after_end",
    "bulk_of_the_log",
    "check_resolution", "check_timezone", "finish_summary", "no_calibration_purchase",
    "parse_end_date", "period_of", "resolve_window", "spend_overflow", "summary_attrs",
    "summary_frame", "to_periods", "warn_user",
]

#: The purchase-bucketing resolutions: calendar days and hours.
RESOLUTIONS = (TimeUnit.DAY, TimeUnit.HOUR)

# Frames of files under this directory are clvmodels' own (co_filename is the path imported).
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


@dataclass(frozen=True)
class SummaryRequest:
    """What :func:`~clvmodels.rfm_summary` or :func:`~clvmodels.calibration_holdout` asks of
    an engine (``calibration_end`` is None for :func:`~clvmodels.rfm_summary`)."""

    customer_col: str
    date_col: str
    amount_col: str | None
    date_format: str | None
    resolution: TimeUnit
    unit: TimeUnit
    observation_end: object
    calibration_end: object
    timezone: str | None = None

    @classmethod
    def make(cls, *, time_unit: object, resolution: object, timezone: str | None = None,
             **options: object) -> SummaryRequest:
        """A request with its time unit, resolution and time zone checked (``ValueError`` if
        one is unknown)."""
        unit = TimeUnit.parse(time_unit)
        return cls(unit=unit, resolution=check_resolution(resolution),
                   timezone=check_timezone(timezone), **options)


def check_timezone(timezone: str | None) -> str | None:
    """``timezone`` if it names a time zone of the IANA database (or is None).

    Raises
    ------
    ValueError
        If it names none.
    """
    if timezone is None:
        return None
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(
            f"unknown time zone {timezone!r}; expected a name of the IANA time zone database "
            "such as 'Europe/Paris' or 'America/New_York', or 'UTC'"
        ) from None
    return timezone


def check_resolution(resolution: object) -> TimeUnit:
    """The unit of a supported purchase-bucketing resolution (days or hours).

    Raises
    ------
    ValueError
        If ``resolution`` names no unit, or one other than days and hours.
    """
    unit = TimeUnit.parse(resolution)
    if unit not in RESOLUTIONS:
        supported = tuple(r.value for r in RESOLUTIONS)
        raise ValueError(f"unsupported resolution {unit.value!r}; expected one of {supported}")
    return unit


def parse_end_date(value: object, date_format: str | None, name: str | None = None
                   ) -> pd.Timestamp:
    """Read an end date given as a Timestamp, an ISO string, or in the data's ``date_format``.

    Strings follow :func:`~clvmodels.validation.parse_date_text`: one whose day/month order is
    ambiguous (``"10/03/2006"``) is refused unless it is in ``date_format``. ``name`` (e.g.
    ``"observation_end"``) names the date in that message.

    Raises
    ------
    ValidationError
        If a string's day/month order is ambiguous.
    TypeError
        If ``value`` is an integer and no ``date_format`` says how to read it.
    ValueError
        If it is not a date.
    """
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        if date_format is None:
            # pd.Timestamp would read 19970930 as nanoseconds since 1970.
            raise TypeError(f"got the number {value!r} as a date; pass a date or date_format")
        value = str(value)
    if isinstance(value, str):
        return parse_date_text(value, date_format, name=name)
    return pd.Timestamp(value)


def to_periods(values: np.ndarray, resolution: TimeUnit) -> np.ndarray:
    """Whole periods of ``resolution`` since 1970-01-01 of datetime64 values (numpy floors,
    so earlier dates work too)."""
    return values.astype(f"datetime64[{resolution.value}]").view(np.int64)


def period_of(timestamp: pd.Timestamp, resolution: TimeUnit, tz: tzinfo | None) -> int:
    """The period (of ``resolution`` since 1970-01-01) holding ``timestamp``, read in the
    dates' time zone ``tz``."""
    if timestamp.tzinfo is not None:
        if tz is None:
            raise ValueError(
                f"{timestamp} has a time zone but the transaction dates do not; pass a "
                "naive date"
            )
        timestamp = timestamp.tz_convert(tz).tz_localize(None)
    return int(to_periods(np.array([timestamp.to_datetime64()]), resolution)[0])


@dataclass(frozen=True)
class Window:
    """The periods a summary covers: purchases in periods up to ``cut`` make the calibration
    summary (all of it for :func:`~clvmodels.rfm_summary`, where ``cut == end_period``),
    those in ``(cut, end_period]`` the holdout counts; later ones are excluded."""

    observation_end: pd.Timestamp
    end_period: int
    calibration_end: pd.Timestamp | None
    cut: int


def resolve_window(
    request: SummaryRequest,
    *,
    first_date: pd.Timestamp,
    last_date: pd.Timestamp,
    n_rows: int,
    tz: tzinfo | None,
    clock: str | None = None,
) -> Window:
    """Parse and check the observation and calibration ends against the purchase dates.

    Parameters
    ----------
    request : SummaryRequest
        Its ``observation_end`` (None: ``last_date``) and ``calibration_end``.
    first_date, last_date : Timestamp
        The first and last purchase date of the ``n_rows`` transactions.
    tz : tzinfo, optional
        The dates' time zone (None for naive dates): periods are counted on its calendar.
    clock : str, optional
        For naive dates that are wall-clock times in a known zone (the request's
        ``timezone``, Spark's session time zone): end dates with a zone are converted to
        that zone's wall-clock time.

    Raises
    ------
    ValidationError
        If every purchase is after the observation end, or an end date string has an
        ambiguous day/month order.
    ValueError
        If the calibration period does not end before the observation end, or an end date
        has a time zone and the dates (without ``clock``) do not.
    """

    def read(value: object, name: str) -> pd.Timestamp:
        timestamp = parse_end_date(value, request.date_format, name)
        if clock is not None and timestamp.tzinfo is not None:
            timestamp = timestamp.tz_convert(clock).tz_localize(None)
        return timestamp

    resolution = request.resolution
    end = last_date if request.observation_end is None else read(
        request.observation_end, "observation_end")
    end_period = period_of(end, resolution, tz)
    if period_of(first_date, resolution, tz) > end_period:
        raise all_after_end(request.date_col, n_rows, end, first_date)
    if request.calibration_end is None:
        return Window(end, end_period, None, end_period)
    calibration_end = read(request.calibration_end, "calibration_end")
    cut = period_of(calibration_end, resolution, tz)
    if cut >= end_period:
        raise ValueError(
            f"calibration_end {calibration_end} must fall in a period before observation_end "
            f"{end}"
        )
    return Window(end, end_period, calibration_end, cut)


@dataclass(frozen=True)
class CustomerTotals:
    """Per customer (one array element each, customers sorted), what the summary is made of.

    ``n_periods``, ``first`` and ``last``: the number of purchase periods up to the cut and
    the first and last of them; ``holdout_periods``: periods in (cut, end]; ``n_after``:
    transaction rows after the observation end; ``earliest`` and ``latest``: the first and
    last period up to the end (any value for a customer with none); ``repeat_spend``: the
    amounts after the first period up to the cut; ``holdout_spend``: the amounts in
    (cut, end] (both None without an amount column).
    """

    n_periods: np.ndarray
    first: np.ndarray
    last: np.ndarray
    holdout_periods: np.ndarray
    n_after: np.ndarray
    earliest: np.ndarray
    latest: np.ndarray
    repeat_spend: np.ndarray | None
    holdout_spend: np.ndarray | None


def finish_summary(
    customers: pd.Index,
    totals: CustomerTotals,
    window: Window,
    request: SummaryRequest,
    n_rows: int,
) -> pd.DataFrame:
    """The summary table of every customer with a purchase up to the cut, with its ``attrs``.

    ``customers`` (named, sorted) labels the elements of ``totals``; ``n_rows`` is the number
    of transactions read. Transactions after the observation end are announced with a
    ``UserWarning`` that points at the caller of :func:`~clvmodels.rfm_summary`.

    Raises
    ------
    ValidationError
        If nobody buys by the calibration end, or a customer's amounts add up to more than
        the largest float (:func:`spend_overflow`).
    """
    n_excluded = int(totals.n_after.sum())
    kept = totals.n_periods + totals.holdout_periods > 0
    if n_excluded:
        warn_excluded(n_excluded, window.observation_end, int(np.count_nonzero(~kept)))
    earliest, latest = totals.earliest[kept], totals.latest[kept]
    bulk = bulk_of_the_log(np.concatenate([earliest, latest]), None, request.resolution)
    if bulk is not None:
        far = bulk.outside(earliest, latest)
        if far.any():
            chosen = np.flatnonzero(far)[:FAR_EXAMPLES]
            bulk.warn(int(np.count_nonzero(far)), customers[kept][chosen].tolist(),
                      bulk.far_period(earliest[chosen], latest[chosen]))
    cohort = totals.n_periods > 0
    if not cohort.any():
        raise no_calibration_purchase(request.date_col, window.calibration_end)
    for spend in (totals.repeat_spend, totals.holdout_spend):
        if spend is not None:
            overflow = cohort & ~np.isfinite(spend)
            if overflow.any():
                first = customers[np.flatnonzero(overflow)[:1]].tolist()[0]  # a Python value
                raise spend_overflow(request.amount_col, int(np.count_nonzero(overflow)), first)
    summary = summary_frame(
        customers[cohort], totals.n_periods[cohort], totals.first[cohort], totals.last[cohort],
        None if totals.repeat_spend is None else totals.repeat_spend[cohort],
        window.cut, request.resolution, request.unit,
    )
    if window.calibration_end is not None:
        add_holdout_columns(
            summary, totals.holdout_periods[cohort],
            None if totals.holdout_spend is None else totals.holdout_spend[cohort],
            window.end_period - window.cut, request.resolution, request.unit,
        )
    summary.attrs.update(summary_attrs(
        request.unit, window, n_transactions=n_rows - n_excluded,
        n_transactions_excluded=n_excluded,
        n_customers_excluded=len(customers) - int(np.count_nonzero(cohort)),
    ))
    return summary


#: How many customers the warning about far-out dates names.
FAR_EXAMPLES = 5


@dataclass(frozen=True)
class Bulk:
    """The bulk of a log's purchase periods and how far from it a date is far outside it.

    ``low`` and ``high`` are the 1st and 99th percentiles (the values at ranks
    ``ceil(n/100) - 1`` and ``ceil(99n/100) - 1`` of the ``n`` sorted values, exact) of the
    customers' earliest and latest purchase periods; a customer whose earliest purchase is
    more than ``margin`` before ``low`` or whose latest is more than ``margin`` after
    ``high`` has a date far outside the bulk. ``margin`` is the length of the bulk, and at
    least a year: a 1700-01-01 purchase among 1997 ones is far out, and so is a year mistyped
    by a decade; a customer first seen less than the bulk's length (or a year) before most
    purchases is not. In a log of 50 customers or fewer (100 values) the percentiles are the
    extremes themselves, and nothing is far out.
    """

    low: int
    high: int
    margin: int
    resolution: TimeUnit

    def outside(self, earliest: np.ndarray, latest: np.ndarray) -> np.ndarray:
        """Which customers (by their earliest and latest period) have a far-out date."""
        return (earliest < self.low - self.margin) | (latest > self.high + self.margin)

    def far_period(self, earliest: np.ndarray, latest: np.ndarray) -> np.ndarray:
        """The far-out period of each customer :meth:`outside` flags."""
        return np.where(earliest < self.low - self.margin, earliest, latest)

    def warn(self, n_customers: int, examples: list, periods: np.ndarray) -> None:
        """Warn about ``n_customers`` with far-out dates, naming ``examples`` (customer ids,
        with the far-out purchase period of each)."""
        shown = ", ".join(f"customer {customer!r} on {self._date(period)}"
                          for customer, period in zip(examples, periods, strict=True))
        more = f" and {n_customers - len(examples)} more" if n_customers > len(examples) else ""
        warn_user(
            f"{n_customers} customer(s) have a purchase dated far outside the bulk of the log "
            f"(which runs from {self._date(self.low)} to {self._date(self.high)}): {shown}"
            f"{more}; check those dates (a mistyped year?): such a date stretches the "
            "customer's recency and T, and can make a model fit degenerate"
        )

    def _date(self, period: int) -> str:
        """The start of a period as text (numpy's, which any year can be written in)."""
        start = str(np.datetime64(int(period), self.resolution.value))
        return start if self.resolution is TimeUnit.DAY else start.replace("T", " ") + ":00"


def bulk_of_the_log(values: np.ndarray, counts: np.ndarray | None, resolution: TimeUnit
                    ) -> Bulk | None:
    """The :class:`Bulk` of purchase periods: ``values`` with their ``counts`` (a histogram,
    sorted by value) or, when ``counts`` is None, each once; None for no values."""
    n = len(values) if counts is None else int(counts.sum())
    if n == 0:
        return None
    ranks = [-(-n // 100) - 1, -(-99 * n // 100) - 1]  # ceil(n q) - 1, in integers
    if counts is None:
        low, high = np.partition(values, ranks)[ranks]
    else:
        low, high = values[np.searchsorted(np.cumsum(counts), ranks, side="right")]
    year = round(365 / resolution.days)
    return Bulk(int(low), int(high), max(int(high - low), year), resolution)


def summary_frame(
    customers: pd.Index,
    n_periods: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
    repeat_spend: np.ndarray | None,
    end_period: int,
    resolution: TimeUnit,
    unit: TimeUnit,
) -> pd.DataFrame:
    """The summary table from each customer's period count, first and last period and the
    spend after the first period (``customers`` already named and sorted)."""
    frequency = (n_periods - 1).astype(np.int64)
    columns = {
        "frequency": frequency,
        "recency": unit.from_periods(last - first, resolution),
        "T": unit.from_periods(end_period - first, resolution),
    }
    if repeat_spend is not None:
        columns["monetary_value"] = _mean_or_zero(repeat_spend, frequency)
    return pd.DataFrame(columns, index=customers)


def add_holdout_columns(
    summary: pd.DataFrame,
    holdout_periods: np.ndarray,
    holdout_spend: np.ndarray | None,
    duration_periods: int,
    resolution: TimeUnit,
    unit: TimeUnit,
) -> None:
    """Add ``frequency_holdout``, ``monetary_value_holdout`` and ``duration_holdout``."""
    summary["frequency_holdout"] = holdout_periods.astype(np.int64)
    if holdout_spend is not None:
        summary["monetary_value_holdout"] = _mean_or_zero(holdout_spend, holdout_periods)
    summary["duration_holdout"] = float(unit.from_periods(duration_periods, resolution))


def _mean_or_zero(total: np.ndarray, count: np.ndarray) -> np.ndarray:
    """``total / count``, and 0.0 where there is nothing to average."""
    return np.divide(total, count, out=np.zeros(len(total)), where=count > 0)


def summary_attrs(
    unit: TimeUnit,
    window: Window,
    *,
    n_transactions: int,
    n_transactions_excluded: int,
    n_customers_excluded: int,
) -> dict[str, str | int]:
    """The ``attrs`` of a summary, the same on every engine and JSON-safe (plain str and int:
    pandas writes attrs into Parquet files as JSON, and the CLI into its RFM metadata).

    Dates are ISO 8601 strings (``Timestamp.isoformat()``, with the offset of a time-zone-aware
    date), which ``pd.Timestamp`` reads back to the same instant. ``calibration_end`` is only
    present for :func:`~clvmodels.calibration_holdout`.
    """
    attrs: dict[str, str | int] = {"time_unit": unit.value}
    if window.calibration_end is not None:
        attrs["calibration_end"] = pd.Timestamp(window.calibration_end).isoformat()
    attrs.update(
        observation_end=pd.Timestamp(window.observation_end).isoformat(),
        n_transactions=int(n_transactions),
        n_transactions_excluded=int(n_transactions_excluded),
        n_customers_excluded=int(n_customers_excluded),
    )
    return attrs


def spend_overflow(amount_col: str, n_customers: int, example: object) -> ValidationError:
    """The error for customers whose amounts add up to more than the largest float."""
    return ValidationError(
        f"column {amount_col!r}: the amounts of {n_customers} customer(s) (e.g. customer "
        f"{example!r}) add up to more than the largest floating-point number "
        f"(~{np.finfo(float).max:.2e}), so their mean spend would be infinite; expected "
        "amounts whose sum per customer is finite (express them in a larger currency unit, "
        "e.g. thousands)"
    )


def no_calibration_purchase(date_col: str, calibration_end: pd.Timestamp | None
                            ) -> ValidationError:
    """The error for a calibration period that holds no purchase."""
    return ValidationError(
        f"column {date_col!r}: no purchase on or before calibration_end {calibration_end}; "
        "expected a calibration period that holds at least one purchase"
    )


def all_after_end(
    date_col: str, n_transactions: int, end: pd.Timestamp, first: pd.Timestamp
) -> ValidationError:
    """The error for an observation end before every purchase."""
    return ValidationError(
        f"column {date_col!r}: all {n_transactions} transactions are after observation_end {end} "
        f"(the first is on {first}); expected an observation_end on or after the first "
        "purchase"
    )


def warn_excluded(n_excluded: int, end: pd.Timestamp, n_dropped: int) -> None:
    """Announce the transactions after the observation end."""
    warn_user(
        f"{n_excluded} transaction(s) dated after observation_end {end} were excluded, "
        f"and with them {n_dropped} customer(s) whose first purchase is later; pass a later "
        "observation_end to keep them (counts are in the result's attrs)"
    )


def warn_user(message: str) -> None:
    """A ``UserWarning`` attributed to the first caller outside the clvmodels package, so that
    every engine's warning points at the user's own call, however deep the engine's stack."""
    level, frame = 2, sys._getframe(1)  # stacklevel 2: this function's caller
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        level, frame = level + 1, frame.f_back
    warnings.warn(message, UserWarning, stacklevel=level)
