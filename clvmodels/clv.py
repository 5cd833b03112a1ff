"""Customer lifetime value and customer equity from a purchase-count and a spend model.

One path for every model: each draw of the purchase model's parameters is paired with a draw
of the spend model's (a maximum-likelihood model is one draw, so two of them give the point
value; a Bayesian model's posterior gives per-customer credible intervals and a posterior of
the total), evaluated per distinct customer in bounded memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from clvmodels.display import equity_html, total_repr
from clvmodels.estimation.base import FittedModel
from clvmodels.estimation.draws import DistinctRows, Summary, interval, summarise
from clvmodels.estimation.fitdata import first_rows, row_codes
from clvmodels.estimation.predictions import (
    block_params,
    discounted_future,
    elementwise,
    future_values,
    history_rows,
    log_alive_values,
    new_customer_profiles,
    spend_values,
    varying_columns,
)
from clvmodels.models.fused_value import fused_kernel, fused_valuation
from clvmodels.models.pareto_nbd_dynamic import TimeVaryingPredictions
from clvmodels.timeunit import check_same_unit
from clvmodels.validation import check_discounting, check_level, check_margin


@dataclass
class Valuation:
    """Every customer's CLV over the paired draws, with the means of its parts."""

    clv: Summary
    rows: DistinctRows
    index: pd.Index
    n_draws: int
    probability_alive: np.ndarray
    expected_purchases: np.ndarray
    expected_spend: np.ndarray
    #: Per part ("alive", "purchases", "spend") its interval (lower, upper) per distinct row,
    #: when asked for (``part_intervals``) and there are draws.
    part_intervals: dict[str, tuple[np.ndarray, np.ndarray]] | None = None
    #: Whether each model's draws were all used (a model with one draw counts as all): then a
    #: part's mean and interval are that model's own prediction's.
    all_draws: tuple[bool, bool] = (False, False)
    #: Draws of the purchase and the spend model (1 for a maximum-likelihood model).
    model_draws: tuple[int, int] = (1, 1)
    #: What was valued: the horizon and the discount rate (per time unit of the data), the
    #: margin, the time unit (None when the model does not record it).
    horizon: float | None = None
    discount_rate: float | None = None
    margin: float | None = None
    time_unit: str | None = None

    def frame(self) -> pd.DataFrame:
        """``clv`` per customer (the posterior mean with draws), with ``lower`` and ``upper``
        of its credible interval when there are several draws."""
        codes = self.rows.codes
        columns = {"clv": self.clv.mean[codes]}
        if self.n_draws > 1:
            columns.update(lower=self.clv.lower[codes], upper=self.clv.upper[codes])
        return pd.DataFrame(columns, index=self.index)

    def parts(self) -> pd.DataFrame:
        """P(alive), discounted expected purchases and expected spend per customer (their
        posterior means with draws)."""
        codes = self.rows.codes
        return pd.DataFrame(
            {"probability_alive": self.probability_alive[codes],
             "expected_purchases": self.expected_purchases[codes],
             "expected_spend": self.expected_spend[codes]},
            index=self.index,
        )

    def draws_frame(self) -> pd.DataFrame:
        """The CLV draws: one row per draw, one column per customer."""
        return self.clv.draws_frame(self.rows, self.index)

    def part_predictions(self) -> dict[str, pd.Series | pd.DataFrame] | None:
        """The parts as the models' own methods return them (``probability_alive``,
        ``discounted_expected_purchases``, ``expected_spend``: a Series for a model with one
        draw, ``mean``, ``lower``, ``upper`` for one with draws), or None when they are not
        those: a subset of a model's draws was paired, or the intervals were not computed."""
        with_draws = [n > 1 for n in self.model_draws]
        if not all(self.all_draws) or (any(with_draws) and self.part_intervals is None):
            return None
        codes = self.rows.codes
        parts = {}
        for name, key, mean, draws in (
            ("probability_alive", "alive", self.probability_alive, with_draws[0]),
            ("discounted_expected_purchases", "purchases", self.expected_purchases,
             with_draws[0]),
            ("expected_spend", "spend", self.expected_spend, with_draws[1]),
        ):
            if not draws:
                parts[name] = pd.Series(mean[codes], index=self.index, name=name)
                continue
            lower, upper = self.part_intervals[key]
            parts[name] = pd.DataFrame(
                {"mean": mean[codes], "lower": lower[codes], "upper": upper[codes]},
                index=self.index)
        return parts


def valuation(
    transaction_model: FittedModel,
    spend_model: FittedModel,
    data: pd.DataFrame,
    *,
    horizon: float,
    discount_rate: float,
    margin: float,
    level: float,
    max_draws: int | None,
    keep_draws: bool = False,
    random_seed: int = 0,
    part_intervals: bool = False,
    progress: bool | None = None,
) -> Valuation:
    """Per customer: CLV over the paired parameter draws (mean and interval), the means of its
    parts (and with ``part_intervals`` their intervals, in the same pass over the draws), and
    the per-draw total over customers.

    The two models' draws are paired at random (they come from independent fits, so any
    pairing is a draw from the joint posterior); the number of draws is the smaller of the two
    models' (and ``max_draws``), and a model with one draw (its estimate) stands for every one.
    A fit with time-varying covariates is valued as its bound predictions
    (``model.with_time_varying_covariates(table)``, see :func:`customer_lifetime_value`).
    A BG/NBD or MBG/NBD with a Gamma-Gamma, both with posterior draws and no covariates, is
    valued in one compiled pass per block of rows unless the draws or the parts' intervals are
    asked for (:mod:`clvmodels.models.fused_value`; the same values to rounding).
    """
    horizon, discount_rate = check_discounting(horizon, discount_rate)
    level = check_level(level)
    margin = check_margin(margin)
    if isinstance(transaction_model, TimeVaryingPredictions):
        return _time_varying_valuation(
            transaction_model, spend_model, data, (horizon, discount_rate, margin, level),
            max_draws, random_seed, (keep_draws, part_intervals, progress))
    for model in (transaction_model, spend_model):
        model.check_fitted()
    counts = [m.n_draws for m in (transaction_model, spend_model) if m.n_draws > 1]
    n_draws = min(counts + ([max_draws] if max_draws else [])) if counts else 1
    purchase_params = transaction_model.draw_arrays(n_draws, random_seed)
    spend_params = spend_model.draw_arrays(n_draws, random_seed + 1)
    family, spend_family = transaction_model.family, spend_model.family
    x, t_x, T = family.history(data)
    check_same_unit(type(transaction_model).__name__, transaction_model.time_unit_, data)
    _, spend = spend_family.spend_history(data)
    # Parameters that vary by customer (covariates) are columns of the rows.
    purchase_varying = varying_columns(family, transaction_model.customer_parameters(data))
    rows = history_rows(x, t_x, T, 0.0, n_draws,
                        {**purchase_varying,
                         **varying_columns(spend_family, spend_model.customer_parameters(data))},
                        spend=spend)
    future = discounted_future(family, horizon, discount_rate, n_draws)
    means = {name: np.empty(len(rows)) for name in ("alive", "purchases", "spend")}
    model_draws = (transaction_model.n_draws, spend_model.n_draws)
    # Intervals of the parts that vary over draws (a one-draw model's part is its point).
    varying = [name for name, draws in zip(means, (*model_draws[:1], *model_draws), strict=True)
               if draws > 1]
    intervals = ({name: (np.empty(len(rows)), np.empty(len(rows))) for name in varying}
                 if part_intervals and n_draws > 1 else None)
    owner = type(spend_model).__name__
    unit = transaction_model.time_unit_

    def evaluate(block: slice) -> np.ndarray:
        if n_draws > 1:
            # Rows differ by spend more than by history: P(alive) once per distinct history.
            history = row_codes([rows[name][block]
                                 for name in ("x", "t_x", "T", *purchase_varying)])
            firsts = rows.subset(np.arange(block.start, block.stop)[first_rows(history)])
            alive = np.exp(log_alive_values(family, purchase_params, firsts,
                                            slice(None)))[:, history]
        else:  # one row per customer, one draw: hashing the histories costs more than this
            alive = np.exp(log_alive_values(family, purchase_params, rows, block))
        purchases = alive * future_values(family, purchase_params, rows, block, future)
        spend_draws = spend_values(spend_family,
                                   block_params(spend_family, spend_params, rows, block),
                                   rows["x"][block], rows["spend"][block], owner)
        for name, values in (("alive", alive), ("purchases", purchases),
                             ("spend", spend_draws)):
            means[name][block] = values.mean(axis=0)
            if intervals is not None and name in intervals:
                lower, upper = interval(values, level)
                intervals[name][0][block], intervals[name][1][block] = lower, upper
        return margin * spend_draws * purchases

    kernel = (None if keep_draws or intervals is not None else
              fused_kernel(family, spend_family, purchase_params, spend_params, n_draws))
    if kernel is None:
        summary = summarise(evaluate, len(rows), n_draws, level=level, counts=rows.counts,
                            keep_draws=keep_draws, progress=progress)
    else:  # the same values in one compiled pass per block (the parts' means, no intervals)
        spend_family.check_finite_mean(spend_params, owner)
        summary, means = fused_valuation(kernel, family, purchase_params, spend_params, rows,
                                         future, margin=margin, level=level,
                                         progress=progress)
    return Valuation(summary, rows, data.index, n_draws, means["alive"], means["purchases"],
                     means["spend"], intervals,
                     tuple(draws in (1, n_draws) for draws in model_draws), model_draws,
                     horizon=horizon, discount_rate=discount_rate, margin=margin,
                     time_unit=None if unit is None else str(unit.value))


def _time_varying_valuation(predictions: TimeVaryingPredictions, spend_model: FittedModel,
                            data: pd.DataFrame, settings: tuple[float, float, float, float],
                            max_draws: int | None, random_seed: int,
                            outputs: tuple[bool, bool, bool | None]) -> Valuation:
    """:func:`valuation` of a Pareto/NBD fitted with time-varying covariates, from its
    predictions over a covariate table (``model.with_time_varying_covariates(table)``), for
    the checked ``settings`` (horizon, discount rate, margin, level) and ``outputs``
    (keep_draws, part_intervals, progress).

    The fit is one parameter set, so each customer's P(alive) and discounted expected
    purchases (over the table's periods of the horizon) are one value; a Bayesian spend
    model's draws carry the CLV's interval.

    Raises
    ------
    ValidationError
        An infinite horizon, or a customer whose covariate periods do not reach its end.
    """
    horizon, discount_rate, margin, level = settings
    keep_draws, part_intervals, progress = outputs
    predictions.model.check_fitted()
    spend_model.check_fitted()
    alive, future = predictions.value_parts(data, horizon=horizon, discount_rate=discount_rate)
    spend_draws = spend_model.n_draws
    n_draws = min(spend_draws, max_draws) if max_draws and spend_draws > 1 else spend_draws
    spend_params = spend_model.draw_arrays(n_draws, random_seed + 1)
    spend_family = spend_model.family
    x, spend = spend_family.spend_history(data)
    # The purchase side is one value per customer: a column of the rows like the history.
    rows = DistinctRows({"x": x, "spend": spend, "alive": alive, "purchases": alive * future,
                         **varying_columns(spend_family, spend_model.customer_parameters(data))},
                        merge=n_draws > 1)
    means = {"alive": rows["alive"], "purchases": rows["purchases"],
             "spend": np.empty(len(rows))}
    intervals = ({"spend": (np.empty(len(rows)), np.empty(len(rows)))}
                 if part_intervals and n_draws > 1 else None)
    owner = type(spend_model).__name__

    def evaluate(block: slice) -> np.ndarray:
        spend_per_purchase = spend_values(
            spend_family, block_params(spend_family, spend_params, rows, block),
            rows["x"][block], rows["spend"][block], owner)
        means["spend"][block] = spend_per_purchase.mean(axis=0)
        if intervals is not None:
            intervals["spend"][0][block], intervals["spend"][1][block] = interval(
                spend_per_purchase, level)
        return margin * spend_per_purchase * rows["purchases"][block]

    summary = summarise(evaluate, len(rows), n_draws, level=level, counts=rows.counts,
                        keep_draws=keep_draws, progress=progress)
    unit = predictions.time_unit_
    return Valuation(summary, rows, data.index, n_draws, means["alive"], means["purchases"],
                     means["spend"], intervals, (True, spend_draws in (1, n_draws)),
                     (1, spend_draws), horizon=horizon, discount_rate=discount_rate,
                     margin=margin, time_unit=None if unit is None else str(unit.value))


def customer_lifetime_value(
    transaction_model: FittedModel,
    spend_model: FittedModel,
    data: pd.DataFrame,
    *,
    horizon: float,
    discount_rate: float = 0.0,
    margin: float = 1.0,
    level: float = 0.9,
    max_draws: int | None = None,
    return_draws: bool = False,
    progress: bool | None = None,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Discounted expected value of each customer's purchases over the next ``horizon``.

    ``CLV = margin * expected spend per purchase * discounted expected purchases``, where a
    purchase at time t is discounted by ``(1 + discount_rate) ** -t``. The purchase count and
    the spend are independent under the Gamma-Gamma assumptions, so their expectations multiply.

    With a Bayesian model (either or both), each posterior draw of the purchase model is paired
    with one of the spend model (a maximum-likelihood model stands for every draw with its
    estimate), so the CLV draws carry both uncertainties; they are summarised per customer in
    blocks, never holding all draws of all customers unless ``return_draws`` asks for them.

    A Pareto/NBD fitted with time-varying covariates is valued over a covariate table that
    reaches the end of the horizon: pass ``model.with_time_varying_covariates(table)`` as
    ``transaction_model`` (its discounted expected purchases use each customer's future
    periods; the fit is one parameter set, so the CLV has an interval only from a Bayesian
    spend model).

    Parameters
    ----------
    transaction_model : a fitted purchase-count model, or TimeVaryingPredictions
        BG/NBD, MBG/NBD, Pareto/NBD, maximum-likelihood or Bayesian; or the predictions of a
        Pareto/NBD fitted with time-varying covariates over a table of their periods
        (``model.with_time_varying_covariates(table)``; the horizon must be finite).
    spend_model : GammaGammaModel or BayesianGammaGammaModel
        Fitted spend model.
    data : DataFrame
        RFM table with ``frequency``, ``recency``, ``T`` and ``monetary_value``, indexed by
        customer, in the transaction model's time unit.
    horizon : float
        Forecast horizon in the data's time unit (e.g. 52 for a year of weeks);
        ``float("inf")`` for the whole remaining lifetime.
    discount_rate : float, default 0.0
        Discount rate per time unit (e.g. ``TimeUnit.WEEK.rate_per_unit(0.10)`` for 10% a
        year in weeks).
    margin : float, default 1.0
        Share of revenue that is profit.
    level : float, default 0.9
        With draws: mass of the equal-tailed credible interval.
    max_draws : int, optional
        Use at most this many posterior draws.
    return_draws : bool, default False
        Also return the CLV draws (one row per draw, one column per customer; this
        materialises the whole matrix).
    progress : bool, optional
        Show a bar over the blocks of customers; by default where someone watches (a
        terminal, or Jupyter with ipywidgets) and there is more than one block.

    Returns
    -------
    DataFrame or (DataFrame, DataFrame)
        Indexed like ``data``: ``clv`` (the posterior mean with a Bayesian model) and, when
        either model has posterior draws, ``lower`` and ``upper`` of its credible interval
        (and the draws with ``return_draws=True``).
    """
    value = valuation(transaction_model, spend_model, data, horizon=horizon,
                      discount_rate=discount_rate, margin=margin, level=level,
                      max_draws=max_draws, keep_draws=return_draws, progress=progress)
    return (value.frame(), value.draws_frame()) if return_draws else value.frame()


def new_customer_lifetime_value(
    transaction_model: FittedModel,
    spend_model: FittedModel,
    *,
    horizon: float,
    discount_rate: float = 0.0,
    margin: float = 1.0,
    covariates: Mapping[str, Any] | pd.DataFrame | None = None,
    level: float = 0.9,
    max_draws: int | None = None,
) -> pd.DataFrame:
    """Expected value of a customer just acquired (cold start), optionally by covariate
    profile (e.g. by acquisition channel).

    The convention is that of :func:`customer_lifetime_value` for a customer with an empty
    history: the customer is acquired now (time 0, with the first purchase, which is not
    counted: it is the acquisition), and the value is ``margin * expected spend per purchase
    * discounted expected repeat purchases in (0, horizon]``, a purchase at time t discounted
    by ``(1 + discount_rate) ** -t``. With no purchase history the expected spend per purchase
    is the spend model's population mean (Gamma-Gamma: ``p gamma / (q - 1)``, of the
    customer's profile with spend covariates), and the purchases are the family's new-customer
    ones (``expected_purchases_new_customer(horizon)`` at ``discount_rate = 0``). Draws are
    paired as in :func:`customer_lifetime_value`.

    Parameters
    ----------
    transaction_model, spend_model, horizon, discount_rate, margin, level, max_draws
        As in :func:`customer_lifetime_value`.
    covariates : dict or DataFrame, optional
        For models fitted with covariates (and only then): the new customer's values (a
        mapping of column to value) or a DataFrame of profiles, one row each, holding the
        covariates of both models.

    Returns
    -------
    DataFrame
        One row per profile (indexed like ``covariates``; one row without profiles or with a
        mapping): ``clv``, ``expected_purchases`` (discounted) and ``expected_spend`` (their
        posterior means with draws), and with draws ``lower`` and ``upper`` of the CLV's
        credible interval of mass ``level``.

    Raises
    ------
    ValidationError
        Covariates for models without them, none for a model with them, or a profile lacking
        a covariate.
    """
    horizon, discount_rate = check_discounting(horizon, discount_rate)
    level = check_level(level)
    margin = check_margin(margin)
    for model in (transaction_model, spend_model):
        model.check_fitted()
    # The profiles are checked against whichever model has covariates (either may).
    holder = transaction_model if transaction_model.covariate_columns else spend_model
    profiles = new_customer_profiles(holder, covariates)
    counts = [m.n_draws for m in (transaction_model, spend_model) if m.n_draws > 1]
    n_draws = min(counts + ([max_draws] if max_draws else [])) if counts else 1
    purchase_params = _profile_params(transaction_model, n_draws, 0, profiles)
    spend_params = _profile_params(spend_model, n_draws, 1, profiles)
    family = transaction_model.family
    alive, updated = family.new_customer(purchase_params)
    future = discounted_future(family, horizon, discount_rate, n_draws)
    purchases = alive * elementwise(future, updated, np.zeros(1))
    no_history = np.zeros(1)
    spend = spend_values(spend_model.family, spend_params, no_history, no_history,
                         type(spend_model).__name__)
    n_profiles = 1 if profiles is None else len(profiles)
    purchases, spend = (np.broadcast_to(values, (n_draws, n_profiles))
                        for values in (purchases, spend))
    value = margin * purchases * spend
    index = (profiles.index if profiles is not None and not profiles.attrs.get("single")
             else pd.RangeIndex(1))
    table = pd.DataFrame({"clv": value.mean(axis=0), "expected_purchases": purchases.mean(axis=0),
                          "expected_spend": spend.mean(axis=0)}, index=index)
    if n_draws > 1:
        table["lower"], table["upper"] = interval(value, level)
    return table


def _profile_params(model: FittedModel, n_draws: int, random_seed: int,
                    profiles: pd.DataFrame | None) -> tuple[np.ndarray, ...]:
    """A model's draws ``(draws, 1)``, with each parameter that varies by profile (from
    covariates) by profile too: ``(1, profiles)`` for a point estimate, ``(draws, profiles)``
    for posterior draws of coefficients (as the model's own new-customer predictions)."""
    params = model.draw_arrays(n_draws, random_seed)
    varying = {} if profiles is None else model.customer_parameters(profiles)
    if not varying:
        return params
    rows = DistinctRows(varying_columns(model.family, varying), merge=False)
    return tuple(np.atleast_2d(value)
                 for value in block_params(model.family, params, rows, slice(None)))


@dataclass(frozen=True)
class CustomerEquity:
    """Customer equity of a base: the total, the per-customer CLV and a table by segment.

    Attributes
    ----------
    total : float
        Sum of the CLV of every customer (with a Bayesian model, its posterior mean).
    clv : DataFrame
        Per customer: ``clv`` (and ``lower``, ``upper`` with draws), ``probability_alive``,
        ``expected_purchases`` (discounted), ``expected_spend`` (posterior means with draws)
        and ``segment``.
    segments : DataFrame
        One row per CLV segment (1 = most valuable): ``customers``, ``equity``,
        ``share_of_equity``, ``mean_clv``, ``mean_probability_alive``.
    total_draws : ndarray
        The total per parameter draw (one value for maximum-likelihood models).
    total_interval : tuple of float or None
        With draws: equal-tailed credible interval of the total, of mass ``level``.
    level : float
        The mass of the credible intervals.
    horizon, discount_rate, margin : float or None
        What was valued: the horizon and the discount rate per time unit of the data, the
        share of revenue that is profit.
    time_unit : str or None
        The data's time unit (``"W"``), when the model records it.
    """

    total: float
    clv: pd.DataFrame
    segments: pd.DataFrame
    total_draws: np.ndarray
    total_interval: tuple[float, float] | None
    level: float
    horizon: float | None = None
    discount_rate: float | None = None
    margin: float | None = None
    time_unit: str | None = None

    def __repr__(self) -> str:
        return total_repr(self, f", {len(self.segments)} segments")

    def _repr_html_(self) -> str:
        """Jupyter's display: the headline and the table by decile (see
        :func:`clvmodels.display.equity_html`)."""
        return equity_html(self)


def customer_equity(
    transaction_model: FittedModel,
    spend_model: FittedModel,
    data: pd.DataFrame,
    *,
    horizon: float,
    discount_rate: float = 0.0,
    margin: float = 1.0,
    n_segments: int = 10,
    level: float = 0.9,
    max_draws: int | None = None,
    progress: bool | None = None,
) -> CustomerEquity:
    """Total customer equity and its split by CLV segment (deciles by default).

    Parameters
    ----------
    transaction_model, spend_model, data, horizon, discount_rate, margin, level, max_draws, progress
        As in :func:`customer_lifetime_value` (``transaction_model`` may be
        ``model.with_time_varying_covariates(table)``).
    n_segments : int, default 10
        Number of equal-sized CLV segments (ranked, so ties split evenly); segment 1 holds the
        most valuable customers (by posterior mean CLV with a Bayesian model).

    Returns
    -------
    CustomerEquity
    """
    if isinstance(n_segments, bool) or int(n_segments) != n_segments or n_segments < 1:
        raise ValueError(f"n_segments must be a whole number >= 1, got {n_segments!r}")
    value = valuation(transaction_model, spend_model, data, horizon=horizon,
                      discount_rate=discount_rate, margin=margin, level=level,
                      max_draws=max_draws, progress=progress)
    return equity_of(value, int(n_segments), level)


def equity_of(value: Valuation, n_segments: int, level: float) -> CustomerEquity:
    """The customer equity of a valuation (see :func:`customer_equity`), in ``n_segments``
    CLV segments, with intervals of mass ``level``."""
    table = with_segments(value.frame().join(value.parts()), "clv", n_segments)
    total_draws = value.clv.total_draws
    interval = None
    if value.n_draws > 1:
        lower, upper = np.quantile(total_draws, [(1 - level) / 2, (1 + level) / 2])
        interval = (float(lower), float(upper))
    total = float(total_draws.mean())
    return CustomerEquity(total=total, clv=table, segments=segment_table(table, "clv", total),
                          total_draws=total_draws, total_interval=interval, level=level,
                          horizon=value.horizon, discount_rate=value.discount_rate,
                          margin=value.margin, time_unit=value.time_unit)


def with_segments(table: pd.DataFrame, column: str, n_segments: int) -> pd.DataFrame:
    """The table with a ``segment`` column: equal-sized ranks of ``column``, 1 the highest."""
    rank = table[column].rank(method="first", ascending=False).to_numpy()
    n_segments = min(n_segments, len(table))
    return table.assign(segment=np.ceil(rank * n_segments / len(table)).astype(int))


def segment_table(table: pd.DataFrame, column: str, total: float) -> pd.DataFrame:
    """Customers, equity, its share, mean CLV and mean P(alive) per segment."""
    grouped = table.groupby("segment")
    segments = pd.DataFrame(
        {
            "customers": grouped.size(),
            "equity": grouped[column].sum(),
            "mean_clv": grouped[column].mean(),
            "mean_probability_alive": grouped["probability_alive"].mean(),
        }
    )
    segments.insert(2, "share_of_equity", segments["equity"] / total if total else np.nan)
    return segments


__all__ = ["CustomerEquity", "Valuation", "customer_equity", "customer_lifetime_value",
           "equity_of", "new_customer_lifetime_value", "valuation"]
