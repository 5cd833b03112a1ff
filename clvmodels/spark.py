"""Spark integration (``pip install "clvmodels[spark]"``): RFM summaries as Spark SQL, fitting
from the distinct rows only, and scoring on the executors.

- ``rfm_summary(df, ..., engine="spark")`` / ``calibration_holdout(..., engine="spark")`` take and
  return a ``pyspark.sql.DataFrame`` (see :func:`summarise`);
- :func:`fit` fits a clvmodels model on a Spark summary by collecting to the driver only its
  distinct (frequency, recency, T) rows with their counts (for the Gamma-Gamma model the
  distinct (frequency, monetary_value) pairs, its sufficient statistics), fitted as weights;
- :func:`score` adds predictions and CLV to every customer of a Spark summary on the executors
  (``mapInPandas``), with the fitted parameters broadcast.

Dates of ``TimestampType`` are read as wall-clock time in the session time zone
(``spark.sql.session.timeZone``), like naive pandas dates; ``TimestampNTZType`` and ``DateType``
as they are.
"""

from __future__ import annotations

import math
import uuid
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pandas as pd

from clvmodels._engine import (
    aggregation_sql,
    empty_table,
    first_failure,
    strftime_to_java,
    transaction_checks,
)
from clvmodels.estimation.mle import MLEModel
from clvmodels.models import model_class
from clvmodels.rfm import (
    TIME_UNITS,
    _as_timestamp,
    all_after_end,
    check_calibration_window,
    check_resolution,
    no_calibration_purchase,
    period_of,
    summary_attrs,
    warn_excluded,
)
from clvmodels.scoring import SCORE_COLUMNS, ValueSettings, customer_scores
from clvmodels.validation import ValidationError, _require_columns, invalid_rows

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkDataFrame

__all__ = ["distinct_rows", "fit", "score", "summarise"]

_WALL_TIME = "yyyy-MM-dd HH:mm:ss.SSSSSS"


def _import_pyspark():
    try:
        import pyspark.sql
    except ImportError as error:
        raise ImportError(
            'the Spark integration needs pyspark: pip install "clvmodels[spark]"'
        ) from error
    return pyspark.sql


def _quote(name: str) -> str:
    return "`" + str(name).replace("`", "``") + "`"


def _view(frame: SparkDataFrame) -> str:
    name = f"clvmodels_{uuid.uuid4().hex}"
    frame.createOrReplaceTempView(name)
    return name


# ----------------------------------------------------------------------------- summaries
def summarise(
    transactions: SparkDataFrame,
    *,
    customer_col: str,
    date_col: str,
    amount_col: str | None,
    date_format: str | None,
    resolution: str,
    unit: str,
    observation_end: object,
    calibration_end: object,
) -> SparkDataFrame:
    """:func:`~clvmodels.rfm.rfm_summary` (``calibration_end`` None) or
    :func:`~clvmodels.rfm.calibration_holdout` as Spark SQL; arguments as there.

    Runs two jobs (the input checks with the date range, then the counts for ``attrs`` and the
    warning) and returns the summary as a lazy Spark DataFrame with the customer id as a
    column, rows in no particular order; its ``attrs`` attribute holds the pandas engine's
    ``attrs``. Numbers are computed with the same integer periods and the same floating-point
    operations as the pandas engine.
    """
    sql = _import_pyspark()
    if not isinstance(transactions, sql.DataFrame):
        raise ValidationError(
            "engine='spark' expected a pyspark.sql.DataFrame of transactions, got "
            f"{type(transactions).__name__}"
        )
    spark = transactions.sparkSession
    resolution = check_resolution(resolution)
    n_rows, first_date, last_date, log = _checked_log(
        spark, transactions, customer_col, date_col, amount_col, date_format, resolution
    )
    end = last_date if observation_end is None else _wall_time(
        _as_timestamp(observation_end, date_format, "observation_end"), spark
    )
    end_period = period_of(end, resolution, None)
    if period_of(first_date, resolution, None) > end_period:
        raise all_after_end(date_col, n_rows, end, first_date)
    cut, calibration_ts = end_period, None
    if calibration_end is not None:
        calibration_ts = _wall_time(
            _as_timestamp(calibration_end, date_format, "calibration_end"), spark
        )
        cut = period_of(calibration_ts, resolution, None)
        check_calibration_window(calibration_ts, cut, end, end_period)
    with_amount = amount_col is not None
    per_customer = spark.sql(aggregation_sql(
        log, period="p", cut=cut, end=end_period, with_amount=with_amount
    ))
    counts = per_customer.selectExpr(
        "count(*)", "coalesce(sum(n_after), 0)",
        "count_if(n_periods + holdout_periods = 0)", "count_if(n_periods > 0)",
    ).collect()[0]
    n_customers, n_excluded, n_dropped, n_cohort = (int(v) for v in counts)
    if n_excluded:
        warn_excluded(n_excluded, end, n_dropped, stacklevel=4)
    if n_cohort == 0:
        raise no_calibration_purchase(date_col, calibration_ts)
    summary = per_customer.where("n_periods > 0").selectExpr(
        *_summary_columns(customer_col, cut, end_period, resolution, unit, with_amount,
                          holdout=calibration_end is not None)
    )
    summary.attrs = summary_attrs(
        unit, end, calibration_end=calibration_ts, n_transactions=n_rows - n_excluded,
        n_transactions_excluded=n_excluded, n_customers_excluded=n_customers - n_cohort,
    )
    return summary


def _summary_columns(customer_col, cut, end_period, resolution, unit, with_amount, holdout):
    """SQL of the summary columns: the pandas engine's arithmetic on the same integers
    (a period difference times the resolution's days, divided by the unit's days)."""

    def in_units(periods: str) -> str:
        return (f"(CAST({periods} AS DOUBLE) * double({TIME_UNITS[resolution]!r})) "
                f"/ double({TIME_UNITS[unit]!r})")

    def mean_or_zero(total: str, count: str) -> str:
        return f"CASE WHEN {count} > 0 THEN {total} / CAST({count} AS DOUBLE) ELSE 0.0D END"

    columns = [
        f"c AS {_quote(customer_col)}",
        "CAST(n_periods - 1 AS BIGINT) AS frequency",
        f"{in_units('last - first')} AS recency",
        f"{in_units(f'{cut} - first')} AS T",
    ]
    if with_amount:
        columns.append(f"{mean_or_zero('repeat_spend', 'n_periods - 1')} AS monetary_value")
    if holdout:
        columns.append("CAST(holdout_periods AS BIGINT) AS frequency_holdout")
        if with_amount:
            columns.append(
                f"{mean_or_zero('holdout_spend', 'holdout_periods')} AS monetary_value_holdout"
            )
        columns.append(f"{in_units(str(end_period - cut))} AS duration_holdout")
    return columns


def _wall_time(timestamp: pd.Timestamp, spark) -> pd.Timestamp:
    """An end date as naive wall-clock time in the session time zone."""
    if timestamp.tzinfo is None:
        return timestamp
    zone = spark.conf.get("spark.sql.session.timeZone")
    return timestamp.tz_convert(zone).tz_localize(None)


def _checked_log(spark, transactions, customer_col, date_col, amount_col, date_format,
                 resolution):
    """Run the pandas engine's input checks in one job; return the row count, the first and
    last date and a temporary view of (c, p, a) with the period of each row."""
    from pyspark.sql import types as T

    schema = {field.name: field.dataType for field in transactions.schema.fields}
    _require_columns(pd.DataFrame(columns=list(schema)),
                     [customer_col, date_col] + ([amount_col] if amount_col else []))
    customer, date = _quote(customer_col), _quote(date_col)
    date_type = schema[date_col]
    parsed = None
    is_number = isinstance(date_type, T.NumericType)
    if isinstance(date_type, (T.TimestampType, T.TimestampNTZType, T.DateType)):
        wall = f"CAST({date} AS TIMESTAMP_NTZ)"
    elif is_number and date_format is None:
        wall = "CAST(NULL AS TIMESTAMP_NTZ)"
    else:
        text = date if isinstance(date_type, T.StringType) else f"CAST({date} AS STRING)"
        if date_format is None:
            parsed = f"try_cast({text} AS TIMESTAMP_NTZ)"
        else:
            pattern = strftime_to_java(date_format).replace("'", "\\'")
            parsed = f"CAST(try_to_timestamp({text}, '{pattern}') AS TIMESTAMP_NTZ)"
        wall = parsed
    amount = amount_number = None
    amount_type, amount_is_numeric = "", False
    if amount_col:
        amount, amount_field = _quote(amount_col), schema[amount_col]
        amount_type = amount_field.simpleString()
        amount_is_numeric = isinstance(amount_field, T.NumericType)
        if amount_is_numeric:
            amount_number = f"CAST({amount} AS DOUBLE)"
        elif isinstance(amount_field, T.StringType):
            amount_number = f"try_cast({amount} AS DOUBLE)"
    checks = transaction_checks(
        customer, date, amount, customer_col=customer_col, date_col=date_col,
        amount_col=amount_col, parsed_date=parsed, date_is_number=is_number,
        date_format=date_format, parser="Spark", amount_number=amount_number,
        amount_is_numeric=amount_is_numeric, amount_type=amount_type,
        not_finite="(isnan({x}) OR abs({x}) = double('Infinity'))",
    )
    source = _view(transactions)
    row = spark.sql(
        f"SELECT count(*), date_format(min(wall), '{_WALL_TIME}'), "
        f"date_format(max(wall), '{_WALL_TIME}'), "
        + ", ".join(f"count_if({check.condition})" for check in checks)
        + f" FROM (SELECT *, {wall} AS wall FROM {source})"
    ).collect()[0]
    n_rows = int(row[0])
    if n_rows == 0:
        raise empty_table()
    failure = first_failure([int(v) for v in row[3:]], checks)
    if failure is not None:
        raise _example_error(spark, source, failure, customer)
    days = "datediff(CAST(wall AS DATE), DATE'1970-01-01')"
    period = days if resolution == "D" else f"{days} * 24 + hour(wall)"
    log = _view(spark.sql(
        f"SELECT {customer} AS c, {period} AS p"
        + (f", {amount_number} AS a" if amount_col else "")
        + f" FROM (SELECT *, {wall} AS wall FROM {source})"
    ))
    return n_rows, pd.Timestamp(row[1]), pd.Timestamp(row[2]), log


def _example_error(spark, source: str, failure, customer: str) -> ValidationError:
    """The pandas engine's message for a failed check, with one example row."""
    check, count = failure
    if check.example_of == "row":
        row = spark.sql(
            "SELECT row FROM (SELECT row_number() OVER (ORDER BY monotonically_increasing_id()) "
            f"- 1 AS row, * FROM {source}) WHERE {check.condition} LIMIT 1"
        ).collect()[0]
        return invalid_rows(check.column, count, row[0], check.expected, example_of="row")
    row = spark.sql(
        f"SELECT {customer}, {_quote(check.column)} FROM {source} WHERE {check.condition} "
        "LIMIT 1"
    ).collect()[0]
    if check.with_value:
        return invalid_rows(check.column, count, row[0], check.expected, value=row[1])
    return invalid_rows(check.column, count, row[0], check.expected)


# ----------------------------------------------------------------------------- fitting
def distinct_rows(summary: SparkDataFrame, columns: list[str]) -> pd.DataFrame:
    """The distinct values of ``columns`` in a Spark summary with a ``count`` of customers,
    collected to the driver as a pandas DataFrame (in the summary's time unit)."""
    table = (summary.groupBy(*[_quote(c) for c in columns]).count()
             .orderBy(*[_quote(c) for c in columns]).toPandas())
    table.attrs["time_unit"] = _attrs(summary).get("time_unit")
    return table


def _attrs(frame: SparkDataFrame) -> dict:
    """The ``attrs`` :func:`summarise` set on a Spark DataFrame (empty on derived ones)."""
    try:
        return frame.attrs
    except AttributeError:
        return {}


def fit(model: MLEModel, summary: SparkDataFrame) -> MLEModel:
    """Fit ``model`` (an unfitted clvmodels maximum-likelihood model) on a Spark RFM summary.

    Only the distinct rows of the columns the model's likelihood reads (its family's
    ``rfm_columns``: frequency, recency, T for the purchase models, frequency and
    monetary_value for Gamma-Gamma) reach the driver, with their customer counts as weights:
    the fit on every customer, as the likelihood is a sum over customers. Customers the family
    leaves out (spend models: no repeat purchase, repeat purchases all worth 0) are left out
    and counted as in pandas, by those weights.

    Returns
    -------
    The fitted model; ``n_distinct_rows_`` says how many rows the likelihood read.
    """
    if not isinstance(model, MLEModel):
        raise TypeError(f"expected a clvmodels maximum-likelihood model, got "
                        f"{type(model).__name__}")
    columns = list(model.family.rfm_columns)
    _require_columns(pd.DataFrame(columns=summary.columns), columns)
    table = distinct_rows(summary, columns)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        model.fit(table, weights=table["count"].to_numpy(dtype=float))
    for warning in caught:  # the fit's notes, pointing at this function's caller
        warnings.warn(warning.message, warning.category, stacklevel=2)
    return model


# ----------------------------------------------------------------------------- scoring
def score(
    summary: SparkDataFrame,
    transaction_model: MLEModel,
    spend_model: MLEModel | None = None,
    *,
    settings: ValueSettings,
    customer_col: str | None = None,
) -> SparkDataFrame:
    """Scores for every customer of a Spark summary, computed on the executors.

    The fitted parameters are broadcast; each executor rebuilds the models from them and scores
    its partitions in Arrow batches (``mapInPandas``) with :func:`clvmodels.scoring.
    customer_scores`, so every column means what it means in ``clvmodels predict``.

    Parameters
    ----------
    summary : pyspark.sql.DataFrame
        From ``rfm_summary(..., engine="spark")``: the customer id, ``frequency``, ``recency``,
        ``T`` (and ``monetary_value`` with a spend model).
    transaction_model : a fitted maximum-likelihood purchase-count model
    spend_model : GammaGammaModel, optional
        Fitted spend model; adds ``expected_spend`` and ``clv``.
    settings : ValueSettings
        Horizon (in the model's time unit), discount rate per year, margin.
    customer_col : str, optional
        The customer id column; by default the first column that is not an RFM column.

    Returns
    -------
    pyspark.sql.DataFrame
        The customer id and the columns of :data:`clvmodels.scoring.SCORE_COLUMNS` but
        ``segment`` (a decile needs the whole base; rank ``clv`` in Spark for it).
    """
    _import_pyspark()
    from pyspark.sql import types as T

    models = {"transaction": transaction_model}
    if spend_model is not None:
        models["spend"] = spend_model
    for model in models.values():
        if not isinstance(model, MLEModel):
            raise TypeError(
                f"spark.score takes maximum-likelihood models (their parameters are broadcast "
                f"to the executors), got {type(model).__name__}"
            )
    settings.check()
    rfm = list(transaction_model.family.rfm_columns)
    if spend_model is not None:
        rfm += [c for c in spend_model.family.rfm_columns if c not in rfm]
    if customer_col is None:
        others = [c for c in summary.columns if c not in rfm]
        if not others:
            raise ValidationError("the summary has no customer id column besides the RFM ones")
        customer_col = others[0]
    _require_columns(pd.DataFrame(columns=summary.columns), [customer_col, *rfm])
    names = [name for name in SCORE_COLUMNS[:-1]
             if spend_model is not None or name not in ("expected_spend", "clv")]
    if not math.isfinite(settings.horizon):
        names.remove("expected_purchases")
    fields = [summary.schema[customer_col],
              *(T.StructField(name, T.DoubleType()) for name in names)]
    shared = _broadcast(summary.sparkSession,
                        {role: _portable(model) for role, model in models.items()})

    def score_batches(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        rebuilt = {role: _rebuild(state) for role, state in shared().items()}
        for batch in batches:
            scores = customer_scores(rebuilt["transaction"], rebuilt.get("spend"),
                                     batch.set_index(customer_col), settings)
            yield scores[names].reset_index()

    return summary.select(customer_col, *rfm).mapInPandas(score_batches, T.StructType(fields))


def _broadcast(spark, value):
    """A function returning ``value`` on the executors: from a broadcast variable, or, where
    there is none (Spark Connect has no SparkContext), from the function's own closure."""
    try:
        shared = spark.sparkContext.broadcast(value)
    except Exception:  # noqa: BLE001 (Connect raises its own not-implemented error types)
        return lambda: value
    return lambda: shared.value


def _portable(model: MLEModel) -> tuple[str, dict[str, float], str | None]:
    """What an executor needs to rebuild a fitted model: its class name and parameters."""
    model.check_fitted()
    unit = None if model.time_unit_ is None else model.time_unit_.value
    return type(model).__name__, model.params_.to_dict(), unit


def _rebuild(state: tuple[str, dict[str, float], str | None]) -> MLEModel:
    name, params, time_unit = state
    return model_class(name)().set_params_(params, time_unit=time_unit)
