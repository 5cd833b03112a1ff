"""Customer lifetime value and customer equity from a purchase-count and a spend model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

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
) -> pd.Series:
    """Discounted expected value of each customer's purchases over the next ``horizon``.

    ``CLV = margin * expected spend per purchase * discounted expected purchases``, where a
    purchase at time t is discounted by ``(1 + discount_rate) ** -t``. The purchase count and the
    spend are independent under the Gamma-Gamma assumptions, so their expectations multiply.

    Parameters
    ----------
    transaction_model : BetaGeoModel or ParetoNBDModel
        Fitted purchase-count model.
    spend_model : GammaGammaModel
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

    Returns
    -------
    Series
        CLV per customer, indexed like ``data``.
    """
    purchases, spend = _value_components(
        transaction_model, spend_model, data, horizon=horizon, discount_rate=discount_rate
    )
    return (_check_margin(margin) * spend * purchases).rename("clv")


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
        Sum of the CLV of every customer.
    clv : DataFrame
        Per customer: ``clv``, ``probability_alive``, ``expected_purchases`` (discounted),
        ``expected_spend`` and ``segment``.
    segments : DataFrame
        One row per CLV segment (1 = most valuable): ``customers``, ``equity``,
        ``share_of_equity``, ``mean_clv``, ``mean_probability_alive``.
    """

    total: float
    clv: pd.DataFrame
    segments: pd.DataFrame


def customer_equity(
    transaction_model: TransactionModel,
    spend_model: GammaGammaModel,
    data: pd.DataFrame,
    *,
    horizon: float,
    discount_rate: float = 0.0,
    margin: float = 1.0,
    n_segments: int = 10,
) -> CustomerEquity:
    """Total customer equity and its split by CLV segment (deciles by default).

    Parameters
    ----------
    transaction_model, spend_model, data, horizon, discount_rate, margin
        As in :func:`customer_lifetime_value`.
    n_segments : int, default 10
        Number of equal-sized CLV segments (ranked, so ties split evenly); segment 1 holds the
        most valuable customers.

    Returns
    -------
    CustomerEquity
    """
    if n_segments < 1:
        raise ValueError(f"n_segments must be >= 1, got {n_segments}")
    purchases, spend = _value_components(
        transaction_model, spend_model, data, horizon=horizon, discount_rate=discount_rate
    )
    clv = (_check_margin(margin) * spend * purchases).rename("clv")
    rank = clv.rank(method="first", ascending=False).to_numpy()
    n_segments = min(n_segments, len(clv))
    segment = np.ceil(rank * n_segments / len(clv)).astype(int)
    table = pd.DataFrame(
        {
            "clv": clv,
            "probability_alive": transaction_model.probability_alive(data),
            "expected_purchases": purchases,
            "expected_spend": spend,
            "segment": segment,
        }
    )
    total = float(clv.sum())
    grouped = table.groupby("segment")
    segments = pd.DataFrame(
        {
            "customers": grouped.size(),
            "equity": grouped["clv"].sum(),
            "mean_clv": grouped["clv"].mean(),
            "mean_probability_alive": grouped["probability_alive"].mean(),
        }
    )
    segments.insert(2, "share_of_equity", segments["equity"] / total if total else np.nan)
    return CustomerEquity(total=total, clv=table, segments=segments)
