"""The Spark engine of :func:`clvmodels.rfm_summary` and :func:`clvmodels.calibration_holdout`:
the summary as Spark SQL, from a ``pyspark.sql.DataFrame`` to one.

Dates of ``TimestampType`` (instants) are read as wall-clock time in the session time zone
(``spark.sql.session.timeZone``), or in ``timezone`` when it is given; ``TimestampNTZType`` and
``DateType`` as they are; strings with UTC offsets by the rule of :func:`clvmodels.rfm_summary`
(the summary's ``attrs`` give the end dates as wall-clock times, without an offset).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from clvmodels.engines.sql import (
    MINUTES,
    SPARK,
    aggregation_sql,
    amount_as_double,
    empty_table,
    offset_aggregates,
    offset_columns,
    raise_first_failure,
    read_offsets,
    strftime_to_java,
    transaction_checks,
)
from clvmodels.engines.window import (
    FAR_EXAMPLES,
    SummaryRequest,
    Window,
    bulk_of_the_log,
    no_calibration_purchase,
    resolve_window,
    spend_overflow,
    summary_attrs,
    warn_excluded,
)
from clvmodels.timeunit import TimeUnit
from clvmodels.validation import ValidationError, non_scalar_ids, require_columns

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkDataFrame

__all__ = ["import_pyspark", "quote_identifier", "summarise"]

_WALL_TIME = "yyyy-MM-dd HH:mm:ss.SSSSSS"


def import_pyspark():
    """The ``pyspark.sql`` module, or an ImportError saying which extra installs it."""
    try:
        import pyspark.sql
    except ImportError as error:
        raise ImportError(
            'the Spark integration needs pyspark: pip install "clvmodels[spark]"'
        ) from error
    return pyspark.sql


def quote_identifier(name: str) -> str:
    """A column name quoted for Spark SQL."""
    return SPARK.quote(name)


def _view(frame: SparkDataFrame) -> str:
    name = f"clvmodels_{uuid.uuid4().hex}"
    frame.createOrReplaceTempView(name)
    return name


def summarise(transactions: SparkDataFrame, request: SummaryRequest) -> SparkDataFrame:
    """:func:`~clvmodels.rfm_summary` (``request.calibration_end`` None) or
    :func:`~clvmodels.calibration_holdout` as Spark SQL; see there.

    Runs two jobs (the input checks with the date range, then the counts for ``attrs`` and the
    warning) and returns the summary as a lazy Spark DataFrame with the customer id as a
    column, rows in no particular order; its ``attrs`` attribute holds the pandas engine's
    ``attrs``. Numbers are computed with the same integer periods and the same floating-point
    operations as the pandas engine.
    """
    sql = import_pyspark()
    if not isinstance(transactions, sql.DataFrame):
        raise ValidationError(
            "engine='spark' expected a pyspark.sql.DataFrame of transactions, got "
            f"{type(transactions).__name__}"
        )
    spark = transactions.sparkSession
    n_rows, first_date, last_date, log = _checked_log(spark, transactions, request)
    clock = request.timezone or spark.conf.get("spark.sql.session.timeZone")
    window = resolve_window(request, first_date=first_date, last_date=last_date, n_rows=n_rows,
                            tz=None, clock=clock)
    with_amount = request.amount_col is not None
    per_customer = spark.sql(aggregation_sql(
        log, period="p", cut=window.cut, end=window.end_period, with_amount=with_amount
    ))
    infinite = "abs({x}) = double('Infinity')"
    overflow = (f"n_periods > 0 AND ({infinite.format(x='repeat_spend')} OR "
                f"{infinite.format(x='holdout_spend')})" if with_amount else "FALSE")
    counts = per_customer.selectExpr(
        "count(*)", "coalesce(sum(n_after), 0)",
        "count_if(n_periods + holdout_periods = 0)", "count_if(n_periods > 0)",
        f"count_if({overflow})", f"min(CASE WHEN {overflow} THEN c END)",
        "min(earliest)", "max(latest)",
    ).collect()[0]
    n_customers, n_excluded, n_dropped, n_cohort, n_overflow = (int(v) for v in counts[:5])
    if n_excluded:
        warn_excluded(n_excluded, window.observation_end, n_dropped)
    if counts[7] - counts[6] > 365 / request.resolution.days:  # (else nothing can be far out)
        _warn_far_dates(per_customer, request)
    if n_cohort == 0:
        raise no_calibration_purchase(request.date_col, window.calibration_end)
    if n_overflow:
        raise spend_overflow(request.amount_col, n_overflow, counts[5])
    summary = per_customer.where("n_periods > 0").selectExpr(*_summary_columns(window, request))
    summary.attrs = summary_attrs(
        request.unit, window, n_transactions=n_rows - n_excluded,
        n_transactions_excluded=n_excluded, n_customers_excluded=n_customers - n_cohort,
    )
    return summary


def _warn_far_dates(per_customer, request: SummaryRequest) -> None:
    """The pandas engine's warning about dates far outside the bulk of the log, from the
    histogram of the customers' earliest and latest periods (one job; one more to name the
    customers when the histogram holds a far-out period)."""
    histogram = (per_customer.where("earliest IS NOT NULL")
                 .selectExpr("explode(array(earliest, latest)) AS p").groupBy("p").count()
                 .orderBy("p").collect())
    values = np.array([row[0] for row in histogram], dtype=np.int64)
    bulk = bulk_of_the_log(values, np.array([row[1] for row in histogram]), request.resolution)
    if bulk is None or not bulk.outside(values[:1], values[-1:])[0]:
        return
    far = (f"earliest < {bulk.low - bulk.margin} OR latest > {bulk.high + bulk.margin}")
    n_far, examples = per_customer.where(f"earliest IS NOT NULL AND ({far})").selectExpr(
        "count(*)",
        f"slice(array_sort(collect_list(struct(c, earliest, latest))), 1, {FAR_EXAMPLES})",
    ).collect()[0]
    if n_far:
        bulk.warn(int(n_far), [row[0] for row in examples], bulk.far_period(
            np.array([row[1] for row in examples]), np.array([row[2] for row in examples])))


def _summary_columns(window: Window, request: SummaryRequest) -> list[str]:
    """SQL of the summary columns: the pandas engine's arithmetic on the same integers
    (:meth:`~clvmodels.timeunit.TimeUnit.from_periods`: a period difference times the
    resolution's days, divided by the unit's days)."""

    def in_units(periods: str) -> str:
        return (f"(CAST({periods} AS DOUBLE) * double({request.resolution.days!r})) "
                f"/ double({request.unit.days!r})")

    def mean_or_zero(total: str, count: str) -> str:
        return f"CASE WHEN {count} > 0 THEN {total} / CAST({count} AS DOUBLE) ELSE 0.0D END"

    with_amount = request.amount_col is not None
    cut = window.cut
    columns = [
        f"c AS {quote_identifier(request.customer_col)}",
        "CAST(n_periods - 1 AS BIGINT) AS frequency",
        f"{in_units('last - first')} AS recency",
        f"{in_units(f'{cut} - first')} AS T",
    ]
    if with_amount:
        columns.append(f"{mean_or_zero('repeat_spend', 'n_periods - 1')} AS monetary_value")
    if window.calibration_end is not None:
        columns.append("CAST(holdout_periods AS BIGINT) AS frequency_holdout")
        if with_amount:
            columns.append(
                f"{mean_or_zero('holdout_spend', 'holdout_periods')} AS monetary_value_holdout"
            )
        columns.append(f"{in_units(str(window.end_period - cut))} AS duration_holdout")
    return columns


def _checked_log(spark, transactions, request: SummaryRequest):
    """Run the pandas engine's input checks in one job; return the row count, the first and
    last date and a temporary view of (c, p, a) with the period of each row."""
    from pyspark.sql import types as T

    customer_col, date_col, amount_col = request.customer_col, request.date_col, request.amount_col
    schema = {field.name: field.dataType for field in transactions.schema.fields}
    require_columns(pd.DataFrame(columns=list(schema)),
                    [customer_col, date_col] + ([amount_col] if amount_col else []))
    if isinstance(schema[customer_col], (T.ArrayType, T.MapType, T.StructType)):
        raise non_scalar_ids(
            customer_col, f"{schema[customer_col].simpleString()} (Spark's type of the column)")
    customer, date = quote_identifier(customer_col), quote_identifier(date_col)
    date_type = schema[date_col]
    parsed, text = None, None
    is_number = isinstance(date_type, T.NumericType)
    if isinstance(date_type, T.TimestampType) and request.timezone is not None:
        wall = _on_clock(f"timestampadd(MICROSECOND, unix_micros({date}), {_EPOCH})",
                         request.timezone)
    elif isinstance(date_type, (T.TimestampType, T.TimestampNTZType, T.DateType)):
        wall = f"CAST({date} AS TIMESTAMP_NTZ)"  # (TimestampType: in the session time zone)
    elif is_number and request.date_format is None:
        wall = "CAST(NULL AS TIMESTAMP_NTZ)"
    else:
        text = date if isinstance(date_type, T.StringType) else f"CAST({date} AS STRING)"
        if request.date_format is None:
            parsed = f"try_cast({text} AS TIMESTAMP_NTZ)"  # (the time as written, no offset)
        else:
            pattern = strftime_to_java(request.date_format).replace("'", "\\'")
            parsed = f"CAST(try_to_timestamp({text}, '{pattern}') AS TIMESTAMP_NTZ)"
        wall = parsed
    amount_number = None
    amount_type, amount_is_numeric = "", False
    if amount_col:
        amount_field = schema[amount_col]
        amount_type = amount_field.simpleString()
        amount_is_numeric = isinstance(amount_field, T.NumericType)
        amount_number = amount_as_double(quote_identifier(amount_col),
                                         is_numeric=amount_is_numeric,
                                         is_text=isinstance(amount_field, T.StringType))
    checks = transaction_checks(
        SPARK, request, parsed_date=parsed, date_is_number=is_number, amount_number=amount_number,
        amount_is_numeric=amount_is_numeric, amount_type=amount_type,
    )
    source = _view(transactions)
    dated, offsets = source, []
    if text is not None:  # the UTC offsets of text dates, as the pandas engine finds them
        token, minutes = offset_columns(text, request.date_format)
        dated = f"(SELECT *, {minutes} FROM (SELECT *, {token} FROM {source}))"
        offsets = offset_aggregates(date)
    row = spark.sql(
        f"SELECT count(*), date_format(min(wall), '{_WALL_TIME}'), "
        f"date_format(max(wall), '{_WALL_TIME}'), "
        + ", ".join([f"count_if({check.condition})" for check in checks] + offsets)
        + f" FROM (SELECT *, {wall} AS wall FROM {dated})"
    ).collect()[0]
    n_rows = int(row[0])
    if n_rows == 0:
        raise empty_table()
    found = read_offsets(row[3 + len(checks):]) if offsets else None
    raise_first_failure(SPARK, checks, [int(v) for v in row[3:3 + len(checks)]],
                        offsets=found, request=request, source=source,
                        fetch_one=lambda query: spark.sql(query).collect()[0])
    if found is not None and found.n_with and request.timezone is not None:
        # Offsets that differ (a daylight-saving change): the instant, on the zone's clock.
        wall = _on_clock(f"timestampadd(MINUTE, -{MINUTES}, {parsed})", request.timezone)
        row = spark.sql(
            f"SELECT date_format(min(wall), '{_WALL_TIME}'), date_format(max(wall), "
            f"'{_WALL_TIME}') FROM (SELECT *, {wall} AS wall FROM {dated})"
        ).collect()[0]
        row = [n_rows, *row]
    days = "datediff(CAST(wall AS DATE), DATE'1970-01-01')"
    period = days if request.resolution is TimeUnit.DAY else f"{days} * 24 + hour(wall)"
    log = _view(spark.sql(
        f"SELECT {customer} AS c, {period} AS p"
        + (f", {amount_number} AS a" if amount_col else "")
        + f" FROM (SELECT *, {wall} AS wall FROM {dated})"
    ))
    return n_rows, pd.Timestamp(row[1]), pd.Timestamp(row[2]), log


_EPOCH = "TIMESTAMP_NTZ'1970-01-01 00:00:00'"


def _on_clock(utc_wall: str, timezone: str) -> str:
    """SQL of a UTC wall-clock time (TIMESTAMP_NTZ) as the wall-clock time in ``timezone``."""
    return f"convert_timezone('UTC', '{timezone}', {utc_wall})"
