"""Naive baselines of a holdout backtest: the forecasts a model has to beat.

Two forecasts of each customer's repeat purchases in the holdout, made from the table of
:func:`~clvmodels.calibration_holdout` alone (lifetimes issue #418 asks for them):

``baseline: calibration rate``
    The customer keeps buying at the rate of the calibration period: ``x / T`` repeat
    purchases per time unit (``x`` repeat purchases, the ``frequency``, in the ``T`` time units
    from the first purchase to the end of the calibration period), times the holdout length.
    A customer whose first purchase is on the calibration period's last day has ``T = 0`` and
    therefore ``x = 0``: no time observed, no rate; the forecast is 0 (the rate of 0 purchases
    seen), and the number of such customers is in ``attrs["customers_without_time"]``.
``baseline: zero``
    Nobody buys: 0 for every customer.

In discrete time (the BG/BB's table, from ``calibration_holdout(..., period=...)``)
the exposure is ``periods``, the calibration's transaction opportunities, instead of ``T``: the
calibration rate is ``frequency / periods`` transactions per period, times the holdout
periods (see :func:`exposure_column`).

:func:`baseline_metrics` scores them with the metrics :func:`~clvmodels.backtest` computes for a
model (:func:`forecast_metrics`); a metric that cannot apply to a baseline (a likelihood, a
predictive interval) is NaN with its reason in ``attrs["not_applicable"]``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from clvmodels.validation import ValidationError, check_rfm, invalid_rows

__all__ = [
    "BASELINES",
    "CALIBRATION_RATE",
    "EXPOSURE_COLUMNS",
    "ZERO",
    "baseline_forecasts",
    "baseline_metrics",
    "comparison_rows",
    "comparison_table",
    "exposure_column",
    "forecast_metrics",
    "holdout_duration",
]

CALIBRATION_RATE = "baseline: calibration rate"
"""The name of the baseline forecasting each customer's calibration purchase rate."""
ZERO = "baseline: zero"
"""The name of the baseline forecasting no purchase for every customer."""
BASELINES = (CALIBRATION_RATE, ZERO)
"""The naive baselines' names, in the order of the comparison tables."""

NO_PROBABILITY_MODEL = (
    "a baseline is no probability model: no parameters fitted, no likelihood, no calibration "
    "histogram"
)
NO_INTERVAL = "a baseline is a point forecast, with no predictive interval"
NO_UNCONDITIONAL = (
    "the calibration-rate forecast needs each customer's calibration purchases: it has no "
    "forecast from first purchase dates alone"
)
CONSTANT_FORECAST = "the forecast is the same for every customer: no correlation is defined"
CONSTANT_ACTUAL = "every customer's actual count is the same: no correlation is defined"
NO_HOLDOUT_PURCHASES = "no purchases in the holdout: the bias is relative to the actual total"
NO_BACKTEST = "a model without its Backtest: no holdout metrics"


def holdout_duration(table: pd.DataFrame) -> float:
    """The holdout length of a calibration/holdout table, the same for every customer.

    Parameters
    ----------
    table : DataFrame
        From :func:`~clvmodels.calibration_holdout`, with ``frequency_holdout`` and
        ``duration_holdout``.

    Returns
    -------
    float
        The holdout length, in the table's time unit.

    Raises
    ------
    ValidationError
        If a column is missing, the customers' holdout lengths differ, or the length is not a
        finite number > 0.
    """
    missing = {"frequency_holdout", "duration_holdout"} - set(table.columns)
    if missing:
        raise ValidationError(
            f"missing column(s) {sorted(missing)}; expected a table from "
            "clvmodels.calibration_holdout (frequency, recency, T, frequency_holdout, "
            "duration_holdout)"
        )
    durations = table["duration_holdout"].unique()
    if len(durations) != 1:
        raise ValidationError(
            "column 'duration_holdout': expected one holdout length for every customer, got "
            f"{len(durations)} different values"
        )
    duration = float(durations[0])
    if not (np.isfinite(duration) and duration > 0):
        raise ValidationError(
            f"column 'duration_holdout': expected a finite holdout length > 0, got {duration!r}"
        )
    return duration


#: The exposure column of each kind of calibration/holdout table: continuous time since the
#: first purchase, or the discrete transaction opportunities (periods) of the BG/BB.
EXPOSURE_COLUMNS = ("T", "periods")


def exposure_column(table: pd.DataFrame) -> str:
    """The column a calibration/holdout table measures each customer's calibration in.

    ``T`` (continuous time, :func:`~clvmodels.calibration_holdout`) or ``periods`` (discrete
    opportunities, ``calibration_holdout(..., period=...)``), whichever it has.

    Raises
    ------
    ValidationError
        If it has neither, or both (which one is meant cannot be told).
    """
    found = [column for column in EXPOSURE_COLUMNS if column in table.columns]
    if len(found) != 1:
        have = "both" if found else "neither"
        raise ValidationError(
            f"columns 'T' / 'periods': expected exactly one of them (the calibration exposure: "
            f"T from clvmodels.calibration_holdout, periods from "
            f"clvmodels.calibration_holdout(period=...)), the table has {have}"
        )
    return found[0]


def _check_table(data: pd.DataFrame) -> tuple[float, str]:
    """Check what the baselines read (counts, exposure >= 0, one holdout length); the
    duration and the exposure column."""
    exposure = exposure_column(data)
    # frequency and the exposure: present, numeric, finite, ids unique
    check_rfm(data, recency_col=None, T_col=exposure)
    check_rfm(data, frequency_col="frequency_holdout", recency_col=None, T_col=None)
    duration = holdout_duration(data)
    T = data[exposure].to_numpy(dtype=float)
    for mask, expected in (
        (T < 0, f"{exposure} >= 0 (calibration since the first purchase)"),
        ((T == 0) & (data["frequency"].to_numpy(dtype=float) > 0),
         f"frequency 0 where {exposure} == 0 (no time for a repeat purchase)"),
    ):
        if mask.any():
            first = np.flatnonzero(mask)[0]
            raise invalid_rows(exposure, int(mask.sum()), data.index[first], expected,
                               value=T[first])
    return duration, exposure


def baseline_forecasts(data: pd.DataFrame) -> pd.DataFrame:
    """Each customer's holdout repeat purchases under the two naive baselines.

    Parameters
    ----------
    data : DataFrame
        Calibration/holdout table (from :func:`~clvmodels.calibration_holdout`): ``frequency``
        and ``T`` of the calibration period, ``frequency_holdout`` and ``duration_holdout``;
        ``periods`` instead of ``T`` in discrete time (from
        ``calibration_holdout(..., period=...)``).

    Returns
    -------
    DataFrame
        Indexed as ``data``, with columns ``baseline: calibration rate`` (``frequency / T *
        duration_holdout``; 0 where ``T == 0``) and ``baseline: zero`` (0.0). ``attrs`` holds
        ``customers_without_time``, the number of customers with ``T == 0``.

    Raises
    ------
    ValidationError
        If a column is missing, a count is negative or not whole, ``T`` is negative or not
        finite (or 0 with repeat purchases), or the holdout lengths differ.
    """
    duration, exposure = _check_table(data)
    frequency = data["frequency"].to_numpy(dtype=float)
    T = data[exposure].to_numpy(dtype=float)
    observed = T > 0
    # Rate times length, in that order: x / T * d is what the docstring promises, to the ulp.
    rate = np.divide(frequency, T, out=np.zeros_like(frequency), where=observed)
    forecasts = pd.DataFrame(
        {CALIBRATION_RATE: rate * duration, ZERO: np.zeros(len(data))}, index=data.index
    )
    forecasts.attrs["customers_without_time"] = int(np.count_nonzero(~observed))
    return forecasts


def forecast_metrics(
    actual: pd.Series, predicted: pd.Series
) -> tuple[dict[str, float], dict[str, str]]:
    """Errors of a point forecast of each customer's holdout purchases.

    Parameters
    ----------
    actual, predicted : Series
        Per customer, in the same order: the holdout count and its forecast.

    Returns
    -------
    metrics : dict
        ``customers``, ``mae`` (mean absolute error), ``rmse`` (root mean squared error),
        ``actual_total``, ``predicted_total``, ``bias`` (predicted_total / actual_total - 1)
        and ``correlation`` (Pearson, actual vs predicted).
    not_applicable : dict
        For each metric that is NaN, why: ``bias`` without holdout purchases, ``correlation``
        when either side is the same for every customer.
    """
    actual_values = np.asarray(actual, dtype=float)
    predicted_values = np.asarray(predicted, dtype=float)
    error = predicted_values - actual_values
    actual_total, predicted_total = float(actual_values.sum()), float(predicted_values.sum())
    not_applicable = {}
    if actual_total == 0:
        not_applicable["bias"] = NO_HOLDOUT_PURCHASES
    if np.ptp(predicted_values) == 0:
        not_applicable["correlation"] = CONSTANT_FORECAST
    elif np.ptp(actual_values) == 0:
        not_applicable["correlation"] = CONSTANT_ACTUAL
    metrics = {
        "customers": float(len(actual_values)),
        "mae": float(np.abs(error).mean()),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "actual_total": actual_total,
        "predicted_total": predicted_total,
        "bias": float("nan") if "bias" in not_applicable else predicted_total / actual_total - 1.0,
        "correlation": (float("nan") if "correlation" in not_applicable
                        else float(np.corrcoef(actual_values, predicted_values)[0, 1])),
    }
    return metrics, not_applicable


def baseline_metrics(data: pd.DataFrame, forecasts: pd.DataFrame | None = None) -> pd.DataFrame:
    """The holdout metrics of :func:`~clvmodels.backtest` for the two naive baselines.

    Parameters
    ----------
    data : DataFrame
        Calibration/holdout table (see :func:`baseline_forecasts`).
    forecasts : DataFrame, optional
        The result of :func:`baseline_forecasts` on ``data``, if already computed.

    Returns
    -------
    DataFrame
        One row per baseline (``baseline: calibration rate``, ``baseline: zero``), with the
        columns of :attr:`Backtest.metrics <clvmodels.Backtest>`: ``customers``, ``mae``,
        ``rmse``, ``actual_total``, ``predicted_total``, ``bias``, ``correlation``,
        ``unconditional_total`` (0 for the zero forecast, which needs no history; not
        applicable to the calibration rate) and ``coverage`` (not applicable: no predictive
        interval). Not applicable metrics are NaN; ``attrs["not_applicable"]`` maps each
        baseline to ``{metric: reason}`` for every one of them (the zero forecast's
        correlation, for one: a constant has none).
    """
    if forecasts is None:
        forecasts = baseline_forecasts(data)
    actual = data["frequency_holdout"]
    rows, not_applicable = {}, {}
    for name in BASELINES:
        row, reasons = forecast_metrics(actual, forecasts[name])
        if name == ZERO:
            row["unconditional_total"] = 0.0
        else:
            row["unconditional_total"] = float("nan")
            reasons["unconditional_total"] = NO_UNCONDITIONAL
        row["coverage"] = float("nan")
        reasons["coverage"] = NO_INTERVAL
        rows[name], not_applicable[name] = row, reasons
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "baseline"
    table.attrs["not_applicable"] = not_applicable
    return table


# The columns a baseline's forecast is scored on: a table holding the same values is the same
# comparison, whichever model it was made for.
# The exposure column (T or periods) is the table's own: tables of different kinds differ.
_FORECAST_INPUTS = ["frequency", "frequency_holdout", "duration_holdout"]


def comparison_rows(
    named_tables: list[tuple[str, pd.DataFrame]],
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, str]]]:
    """The baseline rows of a model comparison, once per distinct calibration/holdout table.

    Parameters
    ----------
    named_tables : list of (str, DataFrame)
        The comparison's row name and calibration/holdout table of each backtest.

    Returns
    -------
    rows : dict
        Row name -> metrics (see :func:`baseline_metrics`; ``customers`` left out, as from a
        model's row). When every backtest has the same
        table (the same customers, calibration counts and T, holdout counts and length), the
        rows are ``baseline: calibration rate`` and ``baseline: zero``; otherwise each distinct
        table's rows add `` (data of <first row name on it>)``.
    not_applicable : dict
        Row name -> ``{metric: reason}`` for its not applicable metrics.
    """
    groups: list[tuple[str, pd.DataFrame]] = []
    for name, table in named_tables:
        inputs = table[[*_FORECAST_INPUTS[:1], exposure_column(table), *_FORECAST_INPUTS[1:]]]
        if not any(inputs.equals(seen) for _, seen in groups):
            groups.append((name, inputs))
    rows, not_applicable = {}, {}
    for first_name, inputs in groups:
        metrics = baseline_metrics(inputs).drop(columns="customers")  # as the models' rows
        for baseline in BASELINES:
            row_name = baseline if len(groups) == 1 else f"{baseline} (data of {first_name})"
            rows[row_name] = metrics.loc[baseline].to_dict()
            not_applicable[row_name] = dict(metrics.attrs["not_applicable"][baseline])
    return rows, not_applicable


def comparison_table(
    model_rows: dict[str, dict[str, float]],
    model_reasons: dict[str, dict[str, str]],
    backtest_tables: list[tuple[str, pd.DataFrame]],
) -> pd.DataFrame:
    """The model comparison table: the models' rows, then the baselines' (see
    :func:`~clvmodels.compare_models`).

    Parameters
    ----------
    model_rows : dict
        Row name -> metrics of each model or backtest, in order.
    model_reasons : dict
        Row name -> ``{metric: reason}`` of the NaN metrics whose reason is known.
    backtest_tables : list of (str, DataFrame)
        Row name and calibration/holdout table of each backtest whose baselines are shown
        (see :func:`comparison_rows`); empty for none.

    Returns
    -------
    DataFrame
        Indexed by ``model``; a first column ``baseline`` (True on the baselines' rows) and the
        metrics. ``attrs["not_applicable"]`` maps each row with a NaN to ``{metric: reason}``
        for every one: the known reason, else that a baseline is no probability model, or that
        a bare model has no holdout.

    Raises
    ------
    ValueError
        If a model's row name is a baseline's.
    """
    baseline_rows, reasons = comparison_rows(backtest_tables) if backtest_tables else ({}, {})
    clash = sorted(set(model_rows) & set(baseline_rows))
    if clash:
        raise ValueError(f"compare_models: the row name(s) {clash} are the baselines'; name the "
                         "models otherwise or pass baselines=False")
    reasons.update(model_reasons)
    table = pd.DataFrame.from_dict({**model_rows, **baseline_rows}, orient="index")
    table.index.name = "model"
    table.insert(0, "baseline", table.index.isin(list(baseline_rows)))
    not_applicable = {}
    for name in table.index:
        default = NO_PROBABILITY_MODEL if name in baseline_rows else NO_BACKTEST
        missing = table.columns[table.loc[name].isna().to_numpy()]
        if len(missing):
            known = reasons.get(name, {})
            not_applicable[name] = {column: known.get(column, default) for column in missing}
    table.attrs["not_applicable"] = not_applicable
    return table
