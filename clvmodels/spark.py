"""Spark integration (``pip install "clvmodels[spark]"``): fitting from the distinct rows only,
and scoring on the executors.

- ``rfm_summary(df, ..., engine="spark")`` / ``calibration_holdout(..., engine="spark")`` take and
  return a ``pyspark.sql.DataFrame`` (the Spark engine, :mod:`clvmodels.engines.spark`);
- :func:`fit` fits a clvmodels model on a Spark summary by collecting to the driver only its
  distinct (frequency, recency, T) rows with their counts (for the Gamma-Gamma model the
  distinct (frequency, monetary_value) pairs, its sufficient statistics), fitted as weights;
- :func:`score` adds predictions and CLV to every customer of a Spark summary on the executors
  (``mapInPandas``), with the fitted parameters broadcast.

Models with static covariates take part too: :func:`fit` collects the distinct rows of the
history and the covariate columns, and :func:`score` passes each customer's covariate columns
to the executors, which score every customer with their own parameters (the model's
covariate design is broadcast with its parameters). A Pareto/NBD fitted with time-varying
covariates is refused by :func:`score` (its predictions need each customer's covariate
periods, which are not sent to the executors): score such a base in pandas, with
``customer_lifetime_value(model.with_time_varying_covariates(table), ...)`` or
``clvmodels predict --time-varying-covariates FILE``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pandas as pd

from clvmodels.engines.spark import import_pyspark, quote_identifier
from clvmodels.estimation.mle import MLEModel, load_covariates
from clvmodels.models import model_class
from clvmodels.scoring import SCORE_COLUMNS, ValueSettings, customer_scores
from clvmodels.timeunit import TimeUnit
from clvmodels.validation import ValidationError, require_columns

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkDataFrame

__all__ = ["distinct_rows", "fit", "score"]


# ----------------------------------------------------------------------------- fitting
def distinct_rows(summary: SparkDataFrame, columns: list[str]) -> pd.DataFrame:
    """The distinct values of ``columns`` in a Spark summary with a ``count`` of customers,
    collected to the driver as a pandas DataFrame (in the summary's time unit)."""
    table = (summary.groupBy(*[quote_identifier(c) for c in columns]).count()
             .orderBy(*[quote_identifier(c) for c in columns]).toPandas())
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

    A model given covariates (``purchase_covariates=...``) collects the distinct rows of the
    history and its covariate columns (numeric, boolean or string columns of the summary).

    Returns
    -------
    MLEModel
        The fitted model; ``n_distinct_rows_`` says how many rows the likelihood read.
    """
    if not isinstance(model, MLEModel):
        raise TypeError(f"expected a clvmodels maximum-likelihood model, got "
                        f"{type(model).__name__}")
    covariates = model.covariate_spec().source_columns()
    columns = list(model.family.rfm_columns)
    columns += [name for name in covariates if name not in columns]
    _require_covariates(summary, covariates, "the model was given covariates")
    require_columns(pd.DataFrame(columns=summary.columns), columns)
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
    Models fitted with covariates read each customer's covariate columns from ``summary``
    (join them to it by customer id): a missing one is a ``ValidationError`` naming it. A
    fit with time-varying covariates is refused (a ``ValidationError`` saying what to use).

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
        The customer id column; by default the first column that is not an RFM column (nor
        a covariate of the models).

    Returns
    -------
    pyspark.sql.DataFrame
        The customer id and the columns of :data:`clvmodels.scoring.SCORE_COLUMNS` but
        ``segment`` (a decile needs the whole base; rank ``clv`` in Spark for it).
    """
    import_pyspark()
    from pyspark.sql import types as T

    models = {"transaction": transaction_model}
    if spend_model is not None:
        models["spend"] = spend_model
    for model in models.values():
        _refuse_time_varying(model)
        if not isinstance(model, MLEModel):
            raise TypeError(
                f"spark.score takes maximum-likelihood models (their parameters are broadcast "
                f"to the executors), got {type(model).__name__}"
            )
    settings.check()
    rfm = list(transaction_model.family.rfm_columns)
    if spend_model is not None:
        rfm += [c for c in spend_model.family.rfm_columns if c not in rfm]
    covariates = [name for model in models.values() for name in model.covariate_columns]
    covariates = [name for name in dict.fromkeys(covariates) if name not in rfm]
    _require_covariates(summary, covariates, "the models were fitted with covariates")
    rfm += covariates
    if customer_col is None:
        others = [c for c in summary.columns if c not in rfm]
        if not others:
            raise ValidationError("the summary has no customer id column besides the RFM ones")
        customer_col = others[0]
    require_columns(pd.DataFrame(columns=summary.columns), [customer_col, *rfm])
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


def _refuse_time_varying(model: Any) -> None:
    """Refuse a Pareto/NBD fitted with time-varying covariates, or its predictions over a
    table: the executors would score it without the customers' covariate periods."""
    fitted = getattr(model, "model", model)  # TimeVaryingPredictions hold the fit
    if getattr(fitted, "time_varying_covariates_", None) is not None:
        raise ValidationError(
            f"spark.score: {type(fitted).__name__} was fitted with time-varying covariates, "
            "whose predictions need each customer's covariate periods, which Spark scoring "
            "does not send to the executors; score the customers in pandas instead (e.g. "
            "customer_lifetime_value(model.with_time_varying_covariates(table), spend_model, "
            "rfm, ...), or clvmodels predict --time-varying-covariates FILE)")


def _require_covariates(summary: SparkDataFrame, covariates: list[str], why: str) -> None:
    """Refuse a Spark summary without the models' covariate columns, naming them."""
    missing = [name for name in covariates if name not in summary.columns]
    if missing:
        raise ValidationError(
            f"{why} {covariates}, and the Spark summary lacks column(s) {missing}; join the "
            f"covariates to it by customer id (it has columns {list(summary.columns)})")


def _broadcast(spark, value):
    """A function returning ``value`` on the executors: from a broadcast variable, or, where
    there is none (Spark Connect has no SparkContext), from the function's own closure."""
    try:
        shared = spark.sparkContext.broadcast(value)
    except Exception:  # noqa: BLE001 (Connect raises its own not-implemented error types)
        return lambda: value
    return lambda: shared.value


def _portable(model: MLEModel) -> tuple[str, dict[str, float], str | None, Any]:
    """What an executor needs to rebuild a fitted model: its class name, parameters, time
    unit and covariate design (None without covariates)."""
    model.check_fitted()
    unit = None if model.time_unit_ is None else model.time_unit_.value
    design = model.covariate_design
    return (type(model).__name__, model.params_.to_dict(), unit,
            None if design is None else design.to_document())


def _rebuild(state: tuple[str, dict[str, float], str | None, Any]) -> MLEModel:
    name, params, time_unit, design = state
    cls = model_class(name)
    if design is None:
        return cls().set_params_(params, time_unit=time_unit)
    # The model file's reader: the same checks, from the document broadcast.
    model, values = load_covariates(cls, design, params, 0.0, f"spark.score: {name}")
    model.params_ = values.rename("estimate")
    model.time_unit_ = None if time_unit is None else TimeUnit.parse(time_unit)
    return model
