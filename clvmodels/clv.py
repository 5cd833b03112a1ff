"""Customer lifetime value and customer equity from a purchase-count and a spend model.

One path for every model: each draw of the purchase model's parameters is paired with a draw
of the spend model's (a maximum-likelihood model is one draw, so two of them give the point
value; a Bayesian model's posterior gives per-customer credible intervals and a posterior of
the total), evaluated per distinct customer in bounded memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from clvmodels.estimation.base import FittedModel
from clvmodels.estimation.draws import DistinctRows, Summary, summarise
from clvmodels.estimation.fitdata import first_rows, row_codes
from clvmodels.estimation.predictions import (
    block_params,
    discounted_future,
    future_values,
    history_rows,
    log_alive_values,
    spend_values,
    varying_columns,
)
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
) -> Valuation:
    """Per customer: CLV over the paired parameter draws (mean and interval), the means of its
    parts, and the per-draw total over customers.

    The two models' draws are paired at random (they come from independent fits, so any
    pairing is a draw from the joint posterior); the number of draws is the smaller of the two
    models' (and ``max_draws``), and a model with one draw (its estimate) stands for every one.
    """
    horizon, discount_rate = check_discounting(horizon, discount_rate)
    level = check_level(level)
    margin = check_margin(margin)
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
    owner = type(spend_model).__name__

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
        return margin * spend_draws * purchases

    summary = summarise(evaluate, len(rows), n_draws, level=level, counts=rows.counts,
                        keep_draws=keep_draws)
    return Valuation(summary, rows, data.index, n_draws, means["alive"], means["purchases"],
                     means["spend"])


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
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Discounted expected value of each customer's purchases over the next ``horizon``.

    ``CLV = margin * expected spend per purchase * discounted expected purchases``, where a
    purchase at time t is discounted by ``(1 + discount_rate) ** -t``. The purchase count and
    the spend are independent under the Gamma-Gamma assumptions, so their expectations multiply.

    With a Bayesian model (either or both), each posterior draw of the purchase model is paired
    with one of the spend model (a maximum-likelihood model stands for every draw with its
    estimate), so the CLV draws carry both uncertainties; they are summarised per customer in
    blocks, never holding all draws of all customers unless ``return_draws`` asks for them.

    Parameters
    ----------
    transaction_model : a fitted purchase-count model
        BG/NBD, MBG/NBD, Pareto/NBD, maximum-likelihood or Bayesian.
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

    Returns
    -------
    DataFrame or (DataFrame, DataFrame)
        Indexed like ``data``: ``clv`` (the posterior mean with a Bayesian model) and, when
        either model has posterior draws, ``lower`` and ``upper`` of its credible interval
        (and the draws with ``return_draws=True``).
    """
    value = valuation(transaction_model, spend_model, data, horizon=horizon,
                      discount_rate=discount_rate, margin=margin, level=level,
                      max_draws=max_draws, keep_draws=return_draws)
    return (value.frame(), value.draws_frame()) if return_draws else value.frame()


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
    """

    total: float
    clv: pd.DataFrame
    segments: pd.DataFrame
    total_draws: np.ndarray
    total_interval: tuple[float, float] | None
    level: float


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
) -> CustomerEquity:
    """Total customer equity and its split by CLV segment (deciles by default).

    Parameters
    ----------
    transaction_model, spend_model, data, horizon, discount_rate, margin, level, max_draws
        As in :func:`customer_lifetime_value`.
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
                      max_draws=max_draws)
    table = with_segments(value.frame().join(value.parts()), "clv", int(n_segments))
    total_draws = value.clv.total_draws
    interval = None
    if value.n_draws > 1:
        lower, upper = np.quantile(total_draws, [(1 - level) / 2, (1 + level) / 2])
        interval = (float(lower), float(upper))
    total = float(total_draws.mean())
    return CustomerEquity(total=total, clv=table, segments=segment_table(table, "clv", total),
                          total_draws=total_draws, total_interval=interval, level=level)


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


__all__ = ["CustomerEquity", "customer_equity", "customer_lifetime_value", "valuation"]
