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
* Times are continuous in ``time_unit`` (a :class:`~clvmodels.timeunit.TimeUnit`), never rounded.

Dates and time zones (one rule, on every engine): purchases are bucketed on one wall clock.

* Dates without a time zone or UTC offset are wall-clock times and are used as they are (in
  ``timezone`` when it is given).
* Dates with one (a time-zone-aware column; strings such as ``1997-01-01T00:30:00+01:00``; a
  Parquet file's time-zone-aware timestamps; Spark's ``TimestampType``) are instants. With
  ``timezone`` they are read on that zone's clock (``timezone="Europe/Paris"`` for a Paris
  shop's local days). Without it they keep their own: a column's time zone (Parquet: the zone
  its writer recorded, else UTC; Spark: the session time zone), or the one UTC offset all the
  strings carry, i.e. the time as written. Strings with different offsets (a local-time
  export across a daylight-saving change, ``+01:00`` and ``+02:00``) are then refused, asking
  for ``timezone``.
* A column mixing dates with and without an offset is refused (the ones without name no
  instant).
* ``observation_end`` and ``calibration_end`` with a time zone are converted to the same
  clock; without one they are read on it.

Engines (``engine=``, see :mod:`clvmodels.engines`): ``"pandas"`` (default, in memory),
``"duckdb"`` (a DataFrame or a CSV or Parquet file read out of core; needs ``clvmodels[fast]``)
and ``"spark"`` (a ``pyspark.sql.DataFrame`` in and out; needs ``clvmodels[spark]``). Every
engine counts periods from the same integers and converts them to ``time_unit`` with the same
floating-point operations, so frequency, recency, T and the holdout columns agree exactly; mean
spend agrees to the rounding of its sum, whose order each engine chooses (see
:func:`rfm_summary`).
"""

from __future__ import annotations

import pandas as pd

from clvmodels import engines
from clvmodels.engines import ENGINES
from clvmodels.engines.discrete import summarise_discrete, summarise_discrete_holdout
from clvmodels.engines.window import SummaryRequest

__all__ = [
    "ENGINES",
    "calibration_holdout",
    "discrete_rfm_summary",
    "rfm_summary",
]


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
    timezone: str | None = None,
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
    time_unit : str or TimeUnit
        Unit of recency and T: "h", "D", "W", "M" or "Y" (or their names, see
        :class:`~clvmodels.timeunit.TimeUnit`).
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
    timezone : str, optional
        The time zone (an IANA name such as ``"Europe/Paris"``, or ``"UTC"``) on whose wall
        clock dates with a time zone or a UTC offset are bucketed into days; see "Dates and
        time zones" in the module docstring. Needed for strings whose offsets differ (a
        local-time export across a daylight-saving change).

    Returns
    -------
    DataFrame or pyspark.sql.DataFrame
        Indexed by customer id (named ``customer_col``, sorted), with ``frequency`` (int64),
        ``recency`` and ``T`` (float, in ``time_unit``) and, with ``amount_col``,
        ``monetary_value``. ``attrs`` holds JSON-safe values (so that ``to_parquet`` and
        ``json.dumps`` take them; see :func:`~clvmodels.engines.window.summary_attrs`):
        ``time_unit`` (canonical code),
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
        refuses dates whose day/month order is ambiguous, and the UTC offsets the rule below
        refuses), ``observation_end`` is before every purchase, or it is a string with an
        ambiguous day/month order.
    ValueError
        If ``time_unit``, ``resolution``, ``engine`` or ``timezone`` is unknown.

    Notes
    -----
    See the module docstring for how periods, recency and T are counted.
    """
    request = SummaryRequest.make(
        customer_col=customer_col, date_col=date_col, amount_col=amount_col,
        date_format=date_format, time_unit=time_unit, resolution=resolution,
        observation_end=observation_end, calibration_end=None, timezone=timezone,
    )
    return engines.summarise(transactions, request, engine)


def calibration_holdout(
    transactions: pd.DataFrame,
    customer_col: str = "customer_id",
    date_col: str = "date",
    amount_col: str | None = None,
    *,
    calibration_end: object,
    observation_end: object = None,
    time_unit: str | None = None,
    date_format: str | None = None,
    resolution: str = "D",
    engine: str = "pandas",
    timezone: str | None = None,
    period: str | None = None,
) -> pd.DataFrame:
    """Split a transaction log into a calibration summary and holdout-period counts.

    With ``period``, in discrete time for the BG/BB: the calibration columns are
    :func:`discrete_rfm_summary`'s at ``calibration_end`` and the holdout is the whole
    calendar periods after it up to ``observation_end``. Both must then be the last day of a
    period (e.g. 31 December for years, a Sunday for weeks): a period cut in two would be an
    opportunity counted twice or half, so another date is refused rather than rounded. The
    cohort is then every customer with a transaction by ``calibration_end`` and at least one
    calibration period after their first (one first seen in the calibration's last period has
    had no opportunity, which the BG/BB cannot condition on); they are counted in
    ``attrs["n_customers_without_opportunity"]``, by definition and without a warning.

    The calibration cohort is every customer with a purchase on or before ``calibration_end``;
    customers who first buy later are not part of it (by definition, so without a warning) and
    are counted in ``attrs["n_customers_excluded"]``. Transactions after ``observation_end`` are
    excluded with a ``UserWarning``, as in :func:`rfm_summary`.

    Parameters
    ----------
    transactions, customer_col, date_col, amount_col, time_unit, date_format, resolution, engine,
    timezone
        As for :func:`rfm_summary`.
    calibration_end : date-like
        Last day of the calibration period (read as ``observation_end`` is).
    observation_end : date-like, optional
        Last day of the holdout period; defaults to the last transaction date.
    time_unit : str, optional
        As for :func:`rfm_summary` (default "W"); not with ``period``.
    period : str, optional
        A discrete-time split in calendar periods: "Y", "M", "W" (starting on Monday) or "D"
        (see :func:`discrete_rfm_summary`); in memory (``engine="pandas"``), by days
        (``resolution="D"``), without ``time_unit``.

    Returns
    -------
    DataFrame
        The :func:`rfm_summary` columns computed up to ``calibration_end``, plus
        ``frequency_holdout`` (purchase periods in (calibration_end, observation_end]),
        ``monetary_value_holdout`` (mean amount per holdout purchase period, 0.0 if none; only
        with ``amount_col``) and ``duration_holdout`` (length of the holdout period in
        ``time_unit``). ``attrs`` holds, JSON-safe (see
        :func:`~clvmodels.engines.window.summary_attrs`), ``time_unit``,
        ``calibration_end`` and ``observation_end`` (ISO strings), ``n_transactions`` (rows up
        to ``observation_end``, calibration and holdout), ``n_transactions_excluded`` (rows
        after ``observation_end``) and ``n_customers_excluded`` (no purchase by
        ``calibration_end``). With ``period``: ``frequency``, ``recency`` and ``periods`` of
        :func:`discrete_rfm_summary` (and ``monetary_value``), ``frequency_holdout`` the
        holdout periods with a transaction (several in one count once),
        ``monetary_value_holdout`` per such period, ``duration_holdout`` the number of holdout
        periods (int64); ``attrs`` also ``discrete_periods`` and
        ``n_customers_without_opportunity``, and ``time_unit`` is the period's code.

    Raises
    ------
    ValidationError
        If the transactions are invalid or nobody buys by ``calibration_end``; with
        ``period``, if ``calibration_end`` or ``observation_end`` is not the last day of a
        period, or no customer has a calibration opportunity.
    ValueError
        If ``calibration_end`` is not before ``observation_end``, or a unit or the engine is
        unknown, or ``period`` comes with ``time_unit``, another resolution or engine.
    """
    if period is not None:
        for name, value, allowed in (("time_unit", time_unit, None), ("resolution", resolution,
                                     "D"), ("engine", engine, "pandas")):
            if value != allowed:
                raise ValueError(
                    f"calibration_holdout: period={period!r} (discrete time, in memory, by days) "
                    f"takes no {name}={value!r}; leave {name} at its default")
    request = SummaryRequest.make(
        customer_col=customer_col, date_col=date_col, amount_col=amount_col,
        date_format=date_format, time_unit=time_unit or period or "W",
        resolution=resolution, observation_end=observation_end,
        calibration_end=calibration_end, timezone=timezone,
    )
    if period is not None:
        return summarise_discrete_holdout(transactions, request)
    return engines.summarise(transactions, request, engine)


def discrete_rfm_summary(
    transactions: pd.DataFrame,
    customer_col: str = "customer_id",
    date_col: str = "date",
    amount_col: str | None = None,
    observation_end: object = None,
    period: str = "Y",
    date_format: str | None = None,
    timezone: str | None = None,
) -> pd.DataFrame:
    """Summarise a transaction log in discrete time, for the BG/BB model: per customer the
    repeat periods with a transaction, the last of them and the opportunities.

    The opportunities are the calendar periods (``period``: years, months, weeks starting on
    Monday, or days) after the one of the customer's first transaction, up to the one holding
    the observation end; a transaction marks its period, several in one period count once.
    See :mod:`clvmodels.engines.discrete`.

    Parameters
    ----------
    transactions : DataFrame
        One row per transaction (in memory: the pandas engine's reading and checks).
    customer_col, date_col, amount_col, observation_end, date_format, timezone
        As for :func:`rfm_summary`.
    period : str or TimeUnit, default "Y"
        The length of a period: "Y", "M", "W" or "D" (or their names).

    Returns
    -------
    DataFrame
        Indexed by customer id (sorted), with ``frequency``, ``recency`` and ``periods``
        (int64; recency is the period of the last repeat transaction counted from the first
        one's, 0 if none) and, with ``amount_col``, ``monetary_value`` (mean spend per repeat
        period). ``attrs`` as :func:`rfm_summary`'s, with ``time_unit`` the period's code.

    Raises
    ------
    ValidationError
        If the transactions fail :func:`~clvmodels.validation.check_transactions` or the
        observation end is before every transaction.
    ValueError
        If ``period`` is not one of those above, or ``timezone`` is unknown.
    """
    request = SummaryRequest.make(
        customer_col=customer_col, date_col=date_col, amount_col=amount_col,
        date_format=date_format, time_unit=period, resolution="D",
        observation_end=observation_end, calibration_end=None, timezone=timezone,
    )
    return summarise_discrete(transactions, request)

