"""Customer lifetime value and customer equity from a purchase-count and a spend model.

The models may be maximum-likelihood or Bayesian (:mod:`clvmodels.bayes`); with a Bayesian model
the results carry its posterior: per-customer credible intervals and a posterior of the total.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from clvmodels.models._base import is_bayesian
from clvmodels.models._transaction import TransactionModel
from clvmodels.models.gamma_gamma import GammaGammaModel


def customer_lifetime_value(
    transaction_model: TransactionModel,
    spend_model: GammaGammaModel,
    data: pd.DataFrame,
    *,
    horizon: float,
    discount_rate: float = 0.0,
    margin: float = 1.0,
    level: float = 0.9,
    max_draws: int | None = None,
    return_draws: bool = False,
) -> pd.Series | pd.DataFrame:
    """Discounted expected value of each customer's purchases over the next ``horizon``.

    ``CLV = margin * expected spend per purchase * discounted expected purchases``, where a
    purchase at time t is discounted by ``(1 + discount_rate) ** -t``. The purchase count and the
    spend are independent under the Gamma-Gamma assumptions, so their expectations multiply.

    With a Bayesian model (either or both), each posterior draw of the purchase model is paired
    with one of the spend model (a maximum-likelihood model stands for every draw with its
    estimate), so the CLV draws carry both uncertainties; they are summarised per customer in
    blocks, never holding all draws of all customers unless ``return_draws`` asks for them.

    Parameters
    ----------
    transaction_model : BetaGeoModel, ParetoNBDModel or their Bayesian variants
        Fitted purchase-count model.
    spend_model : GammaGammaModel or BayesianGammaGammaModel
        Fitted spend model.
    data : DataFrame
        RFM table with ``frequency``, ``recency``, ``T`` and ``monetary_value``, indexed by
        customer, in the transaction model's time unit.
    horizon : float
        Forecast horizon in the data's time unit (e.g. 52 for a year of weeks);
        ``float("inf")`` for the whole remaining lifetime.
    discount_rate : float, default 0.0
        Discount rate per time unit (e.g. ``1.10 ** (1 / 52) - 1`` for 10% a year in weeks).
    margin : float, default 1.0
        Share of revenue that is profit.
    level : float, default 0.9
        Bayesian models only: mass of the equal-tailed credible interval.
    max_draws : int, optional
        Bayesian models only: use at most this many posterior draws.
    return_draws : bool, default False
        Bayesian models only: also return the CLV draws (one row per draw, one column per
        customer; this materialises the whole matrix).

    Returns
    -------
    Series or DataFrame
        CLV per customer, indexed like ``data``: a Series ``clv`` for maximum-likelihood
        models; with a Bayesian model a DataFrame with ``mean``, ``lower`` and ``upper`` (or
        ``(summary, draws)`` with ``return_draws=True``).
    """
    margin = _check_margin(margin)
    if is_bayesian(transaction_model) or is_bayesian(spend_model):
        from clvmodels.bayes._clv import posterior_value

        value = posterior_value(
            transaction_model, spend_model, data, horizon=horizon, discount_rate=discount_rate,
            margin=margin, level=level, max_draws=max_draws, keep_draws=return_draws,
        )
        frame = value.frame()
        if return_draws:
            return frame, value.clv.draws_frame(value.rows, value.index)
        return frame
    purchases, spend = _value_components(
        transaction_model, spend_model, data, horizon=horizon, discount_rate=discount_rate
    )
    return (margin * spend * purchases).rename("clv")


def _value_components(transaction_model, spend_model, data, *, horizon, discount_rate):
    """Discounted expected purchases and expected spend per purchase, per customer."""
    purchases = transaction_model.discounted_expected_purchases(
        data, horizon=horizon, discount_rate=discount_rate
    )
    return purchases, spend_model.expected_spend(data)


def _check_margin(margin: float) -> float:
    if not np.isfinite(margin):
        raise ValueError(f"margin must be a finite number, got {margin}")
    return float(margin)


@dataclass(frozen=True)
class CustomerEquity:
    """Customer equity of a base: the total, the per-customer CLV and a table by segment.

    Attributes
    ----------
    total : float
        Sum of the CLV of every customer (with a Bayesian model, its posterior mean).
    clv : DataFrame
        Per customer: ``clv``, ``probability_alive``, ``expected_purchases`` (discounted),
        ``expected_spend`` and ``segment``. With a Bayesian model ``mean``, ``lower`` and
        ``upper`` of the CLV replace ``clv``, and the other columns are posterior means.
    segments : DataFrame
        One row per CLV segment (1 = most valuable): ``customers``, ``equity``,
        ``share_of_equity``, ``mean_clv``, ``mean_probability_alive``.
    total_draws : ndarray or None
        Bayesian models only: the posterior of the total, one value per draw.
    total_interval : tuple of float or None
        Bayesian models only: equal-tailed credible interval of the total, of mass ``level``.
    level : float or None
        The mass of the credible intervals.
    """

    total: float
    clv: pd.DataFrame
    segments: pd.DataFrame
    total_draws: np.ndarray | None = None
    total_interval: tuple[float, float] | None = None
    level: float | None = None


def customer_equity(
    transaction_model: TransactionModel,
    spend_model: GammaGammaModel,
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
    transaction_model, spend_model, data, horizon, discount_rate, margin
        As in :func:`customer_lifetime_value`.
    n_segments : int, default 10
        Number of equal-sized CLV segments (ranked, so ties split evenly); segment 1 holds the
        most valuable customers (by posterior mean CLV with a Bayesian model).
    level, max_draws
        Bayesian models only, as in :func:`customer_lifetime_value`.

    Returns
    -------
    CustomerEquity
    """
    if n_segments < 1:
        raise ValueError(f"n_segments must be >= 1, got {n_segments}")
    margin = _check_margin(margin)
    if is_bayesian(transaction_model) or is_bayesian(spend_model):
        from clvmodels.bayes._clv import posterior_value

        value = posterior_value(
            transaction_model, spend_model, data, horizon=horizon, discount_rate=discount_rate,
            margin=margin, level=level, max_draws=max_draws,
        )
        table = _with_segments(value.frame().join(value.parts()), "mean", n_segments)
        total_draws = value.clv.total_draws
        lower, upper = np.quantile(total_draws, [(1 - level) / 2, (1 + level) / 2])
        return CustomerEquity(
            total=float(total_draws.mean()),
            clv=table,
            segments=_segment_table(table, "mean", float(table["mean"].sum())),
            total_draws=total_draws,
            total_interval=(float(lower), float(upper)),
            level=level,
        )
    purchases, spend = _value_components(
        transaction_model, spend_model, data, horizon=horizon, discount_rate=discount_rate
    )
    clv = (margin * spend * purchases).rename("clv")
    table = pd.DataFrame(
        {
            "clv": clv,
            "probability_alive": transaction_model.probability_alive(data),
            "expected_purchases": purchases,
            "expected_spend": spend,
        }
    )
    total = float(clv.sum())
    table = _with_segments(table, "clv", n_segments)
    return CustomerEquity(total=total, clv=table, segments=_segment_table(table, "clv", total))


def _with_segments(table: pd.DataFrame, column: str, n_segments: int) -> pd.DataFrame:
    """The table with a ``segment`` column: equal-sized ranks of ``column``, 1 the highest."""
    rank = table[column].rank(method="first", ascending=False).to_numpy()
    n_segments = min(n_segments, len(table))
    return table.assign(segment=np.ceil(rank * n_segments / len(table)).astype(int))


def _segment_table(table: pd.DataFrame, column: str, total: float) -> pd.DataFrame:
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
