"""Model checking: holdout backtest, period-transaction fit, tracking forecast, model comparison.

The checks follow Fader, Hardie & Lee (2005): a model fitted on a calibration period should
reproduce the calibration histogram of repeat purchases (:func:`period_transactions`, with a
chi-square test), predict each customer's holdout purchases (:func:`backtest`) and track the
cohort's repeat transactions over calendar time (:func:`tracking`). Every function accepts every
purchase-count model, maximum-likelihood or Bayesian, through its parameter draws (one for a
maximum-likelihood fit): the population quantities (histogram, tracking curve, unconditional
forecast) are computed per draw, on a fixed subsample of at most 400 posterior draws, and
summarised by their mean and, with several draws, an equal-tailed interval; per-customer
predictions are the model's own.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from clvmodels.baselines import (
    baseline_forecasts,
    baseline_metrics,
    comparison_table,
    forecast_metrics,
)
from clvmodels.cohort import (
    AGE_BLOCK_VALUES,
    EXACT_AGE_DAYS,
    cohort_sums,
    evaluate_rows,
    expected_by_age,
)
from clvmodels.customer_counts import expected_count_histogram
from clvmodels.display import backtest_html
from clvmodels.estimation.base import FittedModel
from clvmodels.estimation.family import PurchaseFamily
from clvmodels.likelihood_ratio import LikelihoodRatioTest, likelihood_ratio_test
from clvmodels.models import PURCHASE_MODELS, model_by_name
from clvmodels.rfm import calibration_holdout
from clvmodels.timeunit import TimeUnit, check_same_unit
from clvmodels.validation import ValidationError, check_level, check_transactions

__all__ = [
    "Backtest",
    "backtest",
    "chi_square_test",
    "compare_models",
    "LikelihoodRatioTest",
    "likelihood_ratio_test",
    "period_transactions",
    "tracking",
]

# Cochran's rule for the chi-square approximation: every pooled cell expects at least 5.
_MIN_EXPECTED_PER_CELL = 5.0
# Posterior draws used for population-level intervals of Bayesian models (histogram, tracking):
# enough for stable 5% and 95% quantiles, few enough to keep the closed forms cheap.
_MAX_DRAWS = 400
# An interpolation error estimate of the tracking forecast above this (relative to the largest
# E[X(age)]) is announced.
_INTERPOLATION_WARNING = 1e-6
# ----------------------------------------------------------------------------- model access
def purchase_family(model: Any) -> PurchaseFamily:
    """The family of a fitted purchase-count model (maximum-likelihood or Bayesian)."""
    family = getattr(model, "family", None)
    if isinstance(model, FittedModel) and isinstance(family, PurchaseFamily):
        return family
    raise TypeError(
        f"{type(model).__name__} is not a purchase-count model; expected one of "
        f"{list(PURCHASE_MODELS)} (e.g. clvmodels.BetaGeoModel), maximum-likelihood or Bayesian"
    )


def parameter_draws(model: Any, max_draws: int = _MAX_DRAWS) -> np.ndarray:
    """Parameter vectors, one row each: the estimate of a maximum-likelihood model, up to
    ``max_draws`` posterior draws of a Bayesian one."""
    purchase_family(model)
    return model.parameter_draws(max_draws=max_draws, random_seed=0).to_numpy(dtype=float)


def unit_label(model: Any, default: str = "time units") -> str:
    """The plural name of a model's time unit ("weeks"), for axis labels."""
    unit = getattr(model, "time_unit_", None)
    return TimeUnit.parse(unit).plural if unit else default


def point_values(result: pd.Series | pd.DataFrame) -> pd.Series:
    """The point prediction: a maximum-likelihood model's Series, or a posterior mean."""
    if isinstance(result, pd.DataFrame):
        return result["mean"]
    return result


def has_draws(model: Any) -> bool:
    """Whether a model's predictions carry intervals (more than one parameter draw)."""
    return model.n_draws > 1


def _interval(values: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed interval of mass ``level`` over the first axis."""
    tail = (1.0 - level) / 2.0
    return np.quantile(values, tail, axis=0), np.quantile(values, 1.0 - tail, axis=0)


# ----------------------------------------------------------------------------- histogram
def count_labels(max_frequency: int) -> list[str]:
    return [str(n) for n in range(max_frequency)] + [f"{max_frequency}+"]


def check_max_frequency(max_frequency: int) -> int:
    if int(max_frequency) != max_frequency or max_frequency < 1:
        raise ValueError(f"max_frequency must be a whole number >= 1, got {max_frequency!r}")
    return int(max_frequency)


def count_probabilities(model: Any, T: np.ndarray, max_frequency: int):
    """Distinct ages, their number of customers, and per draw and age the probabilities of
    0, 1, ..., max_frequency - 1 and of max_frequency or more repeat purchases of a customer
    of that age (shape (draws, ages, max_frequency + 1)); customers sharing T are evaluated once.
    """
    family = purchase_family(model)
    ages, counts = np.unique(T, return_counts=True)
    draws = parameter_draws(model)
    probabilities = np.empty((len(draws), len(ages), max_frequency + 1))
    for n in range(max_frequency):
        probabilities[:, :, n] = evaluate_rows(
            lambda params, t, n=n: family.pmf_new(params, n, t), draws, ages
        )
    tail = 1.0 - probabilities[:, :, :max_frequency].sum(axis=2)
    probabilities[:, :, max_frequency] = np.clip(tail, 0.0, None)  # -1e-16 from rounding
    return ages, counts, probabilities


def observed_histogram(frequency: np.ndarray, max_frequency: int) -> np.ndarray:
    capped = np.minimum(frequency.astype(np.int64), max_frequency)
    return np.bincount(capped, minlength=max_frequency + 1).astype(float)


def period_transactions(
    model: Any, rfm: pd.DataFrame, *, max_frequency: int = 7, level: float = 0.9
) -> pd.DataFrame:
    """Observed and expected number of customers by count of repeat purchases in the period.

    The expected count for n repeat purchases is the sum over customers of the probability
    that a customer of the same age T makes n repeat purchases (the unconditional
    purchase-count distribution); the last bin holds ``max_frequency`` or more.

    Parameters
    ----------
    model : BetaGeoModel, ParetoNBDModel or a Bayesian purchase-count model
        Fitted model.
    rfm : DataFrame
        RFM table (``frequency``, ``recency``, ``T``; ``periods`` instead of ``T`` for the
        BG/BB) of the period the histogram describes.
    max_frequency : int, default 7
        Counts from this value up are pooled in the last bin.
    level : float, default 0.9
        For Bayesian models: mass of the interval of the expected counts over the posterior.

    Returns
    -------
    DataFrame
        Indexed by ``frequency`` ("0", "1", ..., "7+"), with ``observed`` and ``expected``
        customers; for Bayesian models also ``lower`` and ``upper`` of the expected counts.
    """
    # The family's own columns: T, or the opportunities (periods) in discrete time.
    _, _, ages = purchase_family(model).history(rfm)
    check_same_unit(type(model).__name__, model.time_unit_, rfm)
    max_frequency = check_max_frequency(max_frequency)
    if model.covariate_columns:  # each customer with their own parameters
        histogram = expected_count_histogram(model, rfm, ages, max_frequency)
    else:
        _, counts, probabilities = count_probabilities(model, ages, max_frequency)
        histogram = probabilities.transpose(0, 2, 1) @ counts  # (draws, cells)
    table = pd.DataFrame(
        {
            "observed": observed_histogram(rfm["frequency"].to_numpy(), max_frequency),
            "expected": histogram.mean(axis=0),
        },
        index=pd.Index(count_labels(max_frequency), name="frequency"),
    )
    if has_draws(model):
        table["lower"], table["upper"] = _interval(histogram, check_level(level))
    return table


def chi_square_test(table: pd.DataFrame, n_params: int = 0) -> pd.Series:
    """Pearson chi-square goodness of fit of an observed vs expected histogram.

    Cells are pooled, from the highest count down, until each expects at least 5 customers
    (Cochran's rule for the chi-square approximation); the degrees of freedom are the number of
    pooled cells minus 1 minus the number of estimated parameters.

    Parameters
    ----------
    table : DataFrame
        With ``observed`` and ``expected`` columns, as from :func:`period_transactions`.
    n_params : int, default 0
        Number of model parameters estimated from the same data.

    Returns
    -------
    Series
        ``statistic``, ``dof``, ``p_value`` and ``cells`` (the number of cells after pooling).
        ``p_value`` is NaN, with a warning, when pooling leaves no degrees of freedom.
    """
    observed = table["observed"].to_numpy(dtype=float)
    expected = table["expected"].to_numpy(dtype=float)
    pooled_observed, pooled_expected = [], []
    carry_observed = carry_expected = 0.0
    for o, e in zip(observed[::-1], expected[::-1], strict=True):
        carry_observed, carry_expected = carry_observed + o, carry_expected + e
        if carry_expected >= _MIN_EXPECTED_PER_CELL:
            pooled_observed.append(carry_observed)
            pooled_expected.append(carry_expected)
            carry_observed = carry_expected = 0.0
    if pooled_expected:  # what is left at the low end joins the nearest cell
        pooled_observed[-1] += carry_observed
        pooled_expected[-1] += carry_expected
    else:
        pooled_observed, pooled_expected = [carry_observed], [carry_expected]
    pooled_observed, pooled_expected = np.array(pooled_observed), np.array(pooled_expected)
    statistic = float(np.sum((pooled_observed - pooled_expected) ** 2 / pooled_expected))
    dof = len(pooled_expected) - 1 - int(n_params)
    if dof < 1:
        warnings.warn(
            f"after pooling cells to at least {_MIN_EXPECTED_PER_CELL:g} expected customers, "
            f"{len(pooled_expected)} cell(s) remain for {n_params} parameter(s): no degrees of "
            "freedom for a chi-square test (the p-value is NaN); use more customers",
            UserWarning,
            stacklevel=2,
        )
        p_value = float("nan")
    else:
        p_value = float(stats.chi2.sf(statistic, dof))
    return pd.Series(
        {"statistic": statistic, "dof": dof, "p_value": p_value, "cells": len(pooled_expected)},
        name="chi_square",
    )


# ----------------------------------------------------------------------------- tracking
def _repeat_purchase_days(
    transactions: pd.DataFrame, customer_col: str, date_col: str
) -> tuple[pd.Series, pd.DataFrame]:
    """First purchase day per customer, and the distinct (customer, day) repeat purchases."""
    dates = check_transactions(transactions, customer_col=customer_col, date_col=date_col)
    if getattr(dates.dtype, "tz", None) is not None:  # read days in the dates' own calendar
        dates = dates.dt.tz_localize(None)
    days = pd.DataFrame(
        {"customer": transactions[customer_col].to_numpy(), "day": dates.dt.normalize().to_numpy()}
    ).drop_duplicates()
    first = days.groupby("customer")["day"].min()
    repeat = days[days["day"] > first.reindex(days["customer"]).to_numpy()]
    return first, repeat


def tracking(
    model: Any,
    transactions: pd.DataFrame,
    *,
    calibration_end: object,
    observation_end: object = None,
    customer_col: str = "customer_id",
    date_col: str = "date",
    level: float = 0.9,
) -> pd.DataFrame:
    """Weekly and cumulative repeat transactions of the calibration cohort, observed and expected.

    The cohort is every customer whose first purchase is on or before ``calibration_end``.
    A repeat transaction is a day with a purchase after the customer's first day (as in
    :func:`~clvmodels.rfm_summary`). The expected cumulative count at the end of a day is the
    sum over the cohort of the unconditional expected repeat purchases of a new customer,
    ``E[X(age)]``, at the customer's age then (Fader, Hardie & Lee's tracking forecast): it
    uses no customer's history beyond the first purchase date.

    Ages are measured from the start of the first purchase day to the end of the day tracked,
    so a customer acquired on the cohort's first day is exactly k weeks old at the end of week
    k, and one acquired on a week's last day is one day old at its end. This is the convention
    of Fader, Hardie & Lee, BTYD (``bgnbd.ExpectedCumulativeTransactions``) and ``lifetimes``
    (``utils.expected_cumulative_transactions``), whose curves it reproduces; it is one day
    more than the RFM table's ``T`` (whole days between the first purchase date and the end
    date), which :func:`backtest`'s per-customer predictions and ``unconditional_total`` use.

    Parameters
    ----------
    model : BetaGeoModel, ParetoNBDModel or a Bayesian purchase-count model
        Fitted model, in the time unit in which ages are measured.
    transactions : DataFrame
        The transaction log.
    calibration_end, observation_end : date-like
        End of the calibration period (defines the cohort) and of the tracked period
        (default: the last transaction date, or ``calibration_end`` if later). They may be the
        same day: the calibration period alone is tracked (a log without holdout yet).
    customer_col, date_col : str
        Columns of the customer id and the purchase date.
    level : float, default 0.9
        For Bayesian models: mass of the posterior interval of the expected counts.

    Returns
    -------
    DataFrame
        One row per week, indexed by the week's last day (``week_end``; weeks run from the
        cohort's first purchase day, the last one may be shorter), with ``observed`` and
        ``expected`` repeat transactions in the week and ``cumulative_observed`` and
        ``cumulative_expected`` to its end; for Bayesian models also ``lower``/``upper`` and
        ``cumulative_lower``/``cumulative_upper``. ``attrs`` holds ``calibration_end``,
        ``observation_end``, ``customers``, ``time_unit`` and ``interpolation_error`` (see
        Notes).

    Notes
    -----
    The work is bounded however long the log spans (a purchase mistyped as 1700-01-01 makes
    108,626 days of ages): E[X(age)] is evaluated at every whole day up to 4,096 days of age
    and, beyond, interpolated from 513 ages spaced evenly in log(age)
    (:func:`clvmodels.cohort.expected_by_age`, estimated error ~1e-11 relative to the largest
    E[X], measured at the midpoints and stored in ``attrs["interpolation_error"]``, 0 when
    nothing is interpolated; a UserWarning announces one above 1e-6). Sums over more than
    10**6 (week, first day) pairs per draw are taken as a convolution by FFT.
    """
    family = purchase_family(model)
    model.check_fitted()
    unit = model.time_unit_
    if unit is None:
        raise ValueError(
            f"the {type(model).__name__} has no time unit (set_params_ without time_unit?): the "
            "customers' ages cannot be expressed in it; pass time_unit to set_params_"
        )
    first, repeat = _repeat_purchase_days(transactions, customer_col, date_col)
    calibration_day = pd.Timestamp(calibration_end).normalize()
    if observation_end is None:  # the data's end, at least the calibration period
        last_day = max(first.max(), repeat["day"].max()) if len(repeat) else first.max()
        end_day = max(last_day, calibration_day)
    else:
        end_day = pd.Timestamp(observation_end).normalize()
    if calibration_day > end_day:
        raise ValueError(f"calibration_end {calibration_day.date()} must not be after "
                         f"observation_end {end_day.date()}")
    cohort = first[first <= calibration_day]
    if cohort.empty:
        raise ValidationError(
            f"column {date_col!r}: nobody buys on or before calibration_end "
            f"{calibration_day.date()}; expected a calibration period with purchases"
        )
    start = cohort.min()
    n_days = (end_day - start).days + 1
    week_ends = np.minimum(np.arange(7, n_days + 7, 7), n_days)  # days since start, exclusive
    repeat = repeat[repeat["customer"].isin(cohort.index) & (repeat["day"] <= end_day)]
    day_number = (repeat["day"] - start).dt.days.to_numpy()
    observed = np.bincount(np.searchsorted(week_ends, day_number, side="right"),
                           minlength=len(week_ends))[: len(week_ends)].astype(float)

    first_day, cohort_size = np.unique((cohort - start).dt.days.to_numpy(), return_counts=True)
    # A week end is the end of its last day, ``week_end`` days after the start of the cohort's
    # first day; a customer's age then is week_end - first_day days (the peers' convention, see
    # the docstring). Ages are whole days, so E[X(age)] is needed at 0, 1, ..., n_days days
    # only (per draw); each week end gathers its customers' ages (0 for those not yet
    # acquired, where E[X(0)] = 0).
    draws = parameter_draws(model)
    block = max(1, AGE_BLOCK_VALUES // (n_days + 1))
    cumulative, interpolation_error = np.empty((len(draws), len(week_ends))), 0.0
    for first in range(0, len(draws), block):
        by_age, error = expected_by_age(family, draws[first:first + block], n_days, unit.days)
        cumulative[first:first + block] = cohort_sums(by_age, first_day, cohort_size,
                                                       week_ends)
        interpolation_error = max(interpolation_error, error)
    if interpolation_error > _INTERPOLATION_WARNING:
        warnings.warn(
            f"tracking: E[X(age)] beyond {EXACT_AGE_DAYS:,} days of age was interpolated "
            f"with an estimated relative error of {interpolation_error:.1e} (span of "
            f"{n_days:,} days from {start.date()}: check for mistyped dates)",
            UserWarning, stacklevel=2)
    weekly = np.diff(cumulative, axis=1, prepend=0.0)
    index = pd.DatetimeIndex(start + pd.to_timedelta(week_ends - 1, unit="D"), name="week_end")
    table = pd.DataFrame(
        {
            "observed": observed,
            "expected": weekly.mean(axis=0),
            "cumulative_observed": np.cumsum(observed),
            "cumulative_expected": cumulative.mean(axis=0),
        },
        index=index,
    )
    if has_draws(model):
        level = check_level(level)
        table["lower"], table["upper"] = _interval(weekly, level)
        table["cumulative_lower"], table["cumulative_upper"] = _interval(cumulative, level)
    table.attrs.update(calibration_end=calibration_day, observation_end=end_day,
                       customers=len(cohort), time_unit=unit,
                       interpolation_error=interpolation_error)
    return table


# ----------------------------------------------------------------------------- backtest
@dataclass(frozen=True)
class Backtest:
    """Result of :func:`backtest`.

    Attributes
    ----------
    model
        The fitted purchase-count model.
    data : DataFrame
        Calibration summary and holdout counts per customer (from
        :func:`~clvmodels.calibration_holdout`).
    predictions : DataFrame
        Per customer: ``actual`` holdout repeat purchases, ``predicted`` (conditional expected
        purchases over the holdout) and ``lower``/``upper`` of the predictive interval of the
        count (at the estimate for a maximum-likelihood model, averaged over the posterior for
        a Bayesian one).
    metrics : Series
        ``customers``, ``mae``, ``rmse``, ``actual_total``, ``predicted_total``, ``bias``
        (predicted_total / actual_total - 1), ``correlation`` (Pearson, actual vs predicted),
        ``unconditional_total`` (the forecast of the holdout total from first purchase dates
        alone: the sum over customers of E[X(T + duration)] - E[X(T)], over the same window
        (T, T + duration] as ``predicted``, whose average over every history a customer of age
        T could have it is; :func:`tracking` measures ages one day longer, to the end of each
        day, so its holdout weeks sum to a slightly different figure) and ``coverage`` (share
        of customers whose actual count lies in their predictive interval). A metric that is
        NaN has its reason in ``metrics.attrs["not_applicable"]``.
    period_transactions : DataFrame
        Calibration histogram of repeat purchases, observed vs expected (see
        :func:`period_transactions`).
    chi_square : Series
        Goodness of fit of that histogram (see :func:`chi_square_test`).
    baselines : DataFrame or None
        The same metrics for the naive forecasts the model should beat, one row each
        (``baseline: calibration rate``, ``baseline: zero``; see
        :func:`clvmodels.baselines.baseline_metrics`), None with ``baselines=False``.
    baseline_predictions : DataFrame or None
        Per customer, the baselines' forecasts (see
        :func:`clvmodels.baselines.baseline_forecasts`), None with ``baselines=False``.
    """

    model: Any
    data: pd.DataFrame
    predictions: pd.DataFrame
    metrics: pd.Series
    period_transactions: pd.DataFrame
    chi_square: pd.Series
    baselines: pd.DataFrame | None = None
    baseline_predictions: pd.DataFrame | None = None

    def __repr__(self) -> str:
        m = self.metrics
        return (
            f"Backtest({type(self.model).__name__}: {m['customers']:,.0f} customers, holdout "
            f"actual {m['actual_total']:,.0f} vs predicted {m['predicted_total']:,.1f} "
            f"(bias {m['bias']:+.1%}), MAE {m['mae']:.3f}, "
            f"chi-square p {self.chi_square['p_value']:.3g})"
        )

    def _repr_html_(self) -> str:  # Jupyter's display: see clvmodels.display.backtest_html
        return backtest_html(self)


def _model_instance(model: Any) -> Any:
    if isinstance(model, str):
        try:
            return model_by_name(model, kind="purchase").mle()
        except ValueError as error:
            raise ValueError(f"{error} or a model instance") from None
    try:
        purchase_family(model)
    except TypeError:
        raise TypeError(
            f"model: expected one of {list(PURCHASE_MODELS)} or a purchase-count model "
            f"instance (maximum-likelihood or Bayesian), got {type(model).__name__}"
        ) from None
    return model


def backtest(
    transactions: pd.DataFrame,
    *,
    calibration_end: object,
    observation_end: object = None,
    model: Any = "bgnbd",
    customer_col: str = "customer_id",
    date_col: str = "date",
    time_unit: str | None = None,
    level: float = 0.9,
    fit_kwargs: Mapping[str, Any] | None = None,
    baselines: bool = True,
) -> Backtest:
    """Fit on a calibration period, predict the holdout, and score the predictions.

    Beside the model, two naive forecasts are scored with the same metrics, so that one sees
    whether the model beats them: each customer buying at their calibration rate (repeat
    purchases / T, times the holdout length) and nobody buying (see
    :mod:`clvmodels.baselines`).

    Parameters
    ----------
    transactions : DataFrame
        The transaction log.
    calibration_end, observation_end : date-like
        Last day of the calibration period and of the holdout (default: the last transaction).
    model : str or model instance, default "bgnbd"
        A model name (one of ``clvmodels.models.PURCHASE_MODELS``, e.g. "bgnbd" or "pnbd": a
        new maximum-likelihood model), an unfitted instance (fitted here, with ``fit_kwargs``)
        or a fitted one (used as it is: e.g. published parameters set with ``set_params_``, or
        a Bayesian fit). Maximum-likelihood and Bayesian models alike.
    customer_col, date_col : str
        Columns of the customer id and the purchase date.
    time_unit : str, optional
        Unit of recency, T and the holdout length; defaults to a fitted model's unit, else "W".
        A discrete-time family (the BG/BB) splits the log into whole calendar periods of this
        length instead (``calibration_holdout(..., period=...)``: both ends must be a
        period's last day; default "Y") and predicts the holdout periods with a transaction.
    level : float, default 0.9
        Mass of the predictive intervals whose coverage is reported (and, with posterior
        draws, of the intervals of the expected counts).
    fit_kwargs : mapping, optional
        Keywords for ``model.fit`` (e.g. ``{"method": "map"}`` for a Bayesian model).
    baselines : bool, default True
        Score the naive baselines too (``Backtest.baselines``); False leaves them out.

    Returns
    -------
    Backtest
    """
    level = check_level(level)
    model = _model_instance(model)
    fitted = hasattr(model, "params_")
    discrete = purchase_family(model).discrete_time
    if time_unit is None:
        time_unit = (model.time_unit_ if fitted else None) or ("Y" if discrete else "W")
    data = calibration_holdout(
        transactions, customer_col, date_col, calibration_end=calibration_end,
        observation_end=observation_end, time_unit=None if discrete else time_unit,
        period=time_unit if discrete else None,
    )
    if not fitted:
        model.fit(data, **dict(fit_kwargs or {}))
    duration = float(data["duration_holdout"].iloc[0])
    actual = data["frequency_holdout"].astype(float).rename("actual")
    predicted = point_values(model.expected_purchases(data, duration)).rename("predicted")
    predictions = pd.concat([actual, predicted], axis=1)
    interval = model.predictive_purchases(data, duration, level=level)
    predictions["lower"] = interval["lower"].to_numpy(dtype=float)
    predictions["upper"] = interval["upper"].to_numpy(dtype=float)

    metrics, not_applicable = forecast_metrics(predictions["actual"], predictions["predicted"])
    metrics["unconditional_total"] = float(
        _unconditional_total(model, data, duration).mean())
    inside = (predictions["actual"] >= predictions["lower"]) & (
        predictions["actual"] <= predictions["upper"]
    )
    metrics["coverage"] = float(inside.mean())
    histogram = period_transactions(model, data, level=level)
    metrics = pd.Series(metrics, name="metrics")
    metrics.attrs["not_applicable"] = not_applicable
    forecasts = baseline_forecasts(data) if baselines else None
    return Backtest(
        model=model,
        data=data,
        predictions=predictions,
        metrics=metrics,
        period_transactions=histogram,
        chi_square=chi_square_test(histogram, n_params=len(purchase_family(model).parameters)),
        baselines=None if forecasts is None else baseline_metrics(data, forecasts),
        baseline_predictions=forecasts,
    )


def _unconditional_total(model: Any, data: pd.DataFrame, duration: float) -> np.ndarray:
    """Expected repeat purchases of the cohort in (T, T + duration] from acquisition alone,
    per draw: sum of E[X(T + duration)] - E[X(T)] of a new customer (T: the family's
    exposure column, the periods in discrete time)."""
    family = purchase_family(model)
    _, _, exposure = family.history(data)
    ages, counts = np.unique(exposure, return_counts=True)
    draws = parameter_draws(model)
    growth = (evaluate_rows(family.expected_new, draws, ages + duration)
              - evaluate_rows(family.expected_new, draws, ages))
    return growth @ counts


# ----------------------------------------------------------------------------- comparison
def compare_models(
    models_or_backtests: Iterable[Any] | Mapping[str, Any],
    *,
    data: pd.DataFrame | None = None,
    baselines: bool = True,
) -> pd.DataFrame:
    """One table comparing purchase-count models: fit criteria and holdout metrics.

    With backtests, the naive baselines (each customer buying at their calibration rate,
    nobody buying; see :mod:`clvmodels.baselines`) get rows of their own, scored on the same
    holdout with the same metrics, so that one sees whether a model beats them.

    Parameters
    ----------
    models_or_backtests : list or dict
        Fitted models or :class:`Backtest` results (or a mix); a dict gives the row names.
    data : DataFrame, optional
        RFM table on which to evaluate the log-likelihood of bare models. Needed for Bayesian
        models and models with set parameters; a maximum-likelihood fit otherwise reports the
        likelihood of the data it was fitted on. Backtests use their calibration data.
    baselines : bool, default True
        Add the baseline rows (when there is a backtest); False leaves them out.

    Returns
    -------
    DataFrame
        One row per entry: ``baseline`` (False), ``n_params``, ``log_likelihood``, ``aic``,
        ``bic`` (for Bayesian models at the posterior mean) and, for backtests, the holdout
        metrics (see :class:`Backtest`) and ``chi_square``, ``chi_square_p_value``. Then the
        baseline rows, ``baseline: calibration rate`` and ``baseline: zero`` (``baseline``
        True: ranking code excludes them with ``table[~table["baseline"]]``), once per distinct
        calibration/holdout table (see :func:`clvmodels.baselines.comparison_rows`). A metric
        a row does not have (holdout metrics of a bare model, a baseline's likelihood or
        coverage) is NaN, and ``attrs["not_applicable"]`` maps the row to ``{metric: reason}``
        for each.
    """
    if isinstance(models_or_backtests, Mapping):
        items = list(models_or_backtests.items())
    else:
        entries = list(models_or_backtests)
        items = [(_default_name(entry), entry) for entry in entries]
        names = [name for name, _ in items]
        items = [(_unique_name(name, names[:i]), entry) for i, (name, entry) in enumerate(items)]
    if not items:
        raise ValueError("compare_models needs at least one model or backtest")
    rows, not_applicable = {}, {}
    for name, entry in items:
        rows[name], not_applicable[name] = _comparison_row(entry, data)
    backtests = [(name, entry.data) for name, entry in items if isinstance(entry, Backtest)]
    return comparison_table(rows, not_applicable, backtests if baselines else [])


def _default_name(entry: Any) -> str:
    model = entry.model if isinstance(entry, Backtest) else entry
    return type(model).__name__


def _unique_name(name: str, earlier: list[str]) -> str:
    count = earlier.count(name)
    return name if count == 0 else f"{name} ({count + 1})"


def _comparison_row(
    entry: Any, data: pd.DataFrame | None
) -> tuple[dict[str, float], dict[str, str]]:
    """A model's comparison row, and the reasons of its NaN metrics that are known."""
    model = entry.model if isinstance(entry, Backtest) else entry
    family = purchase_family(model)
    if isinstance(entry, Backtest):
        table = entry.data
    elif data is not None:
        table = data
    elif np.isfinite(getattr(model, "log_likelihood_", np.nan)):
        table = None
    else:
        raise ValueError(
            f"{type(model).__name__} carries no fitted log-likelihood (a Bayesian model, or "
            "parameters set by hand): pass data= (the RFM table to evaluate it on) or a Backtest"
        )
    if table is None:
        log_likelihood, n_customers = model.log_likelihood_, model.n_customers_
    else:
        log_likelihood, n_customers = model.log_likelihood(table), len(table)
    k = len(family.parameters)
    row = {
        "n_params": float(k),
        "log_likelihood": log_likelihood,
        "aic": 2 * k - 2 * log_likelihood,
        "bic": k * np.log(n_customers) - 2 * log_likelihood,
    }
    if isinstance(entry, Backtest):
        row.update(entry.metrics.drop("customers").to_dict())
        row.setdefault("coverage", float("nan"))
        row["chi_square"] = entry.chi_square["statistic"]
        row["chi_square_p_value"] = entry.chi_square["p_value"]
        reasons = dict(entry.metrics.attrs.get("not_applicable", {}))
        if not np.isfinite(row["chi_square_p_value"]):
            reasons["chi_square_p_value"] = "no degrees of freedom (see chi_square_test)"
        return row, reasons
    return row, {}
