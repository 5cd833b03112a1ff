"""Contractual customer value: expected discounted remaining payments, per customer and for
the customer base.

A contractual customer pays ``payment`` per period while active; with a profit share
``margin`` and a discount rate d per period, the value of an active customer with n renewals
is ``payment * margin * DERL(d | n)``, the discounted expected residual lifetime of
:meth:`~clvmodels.estimation.contract.ContractPredictions.expected_residual_lifetime` (the
next payment a period away). A Bayesian model's draws give credible intervals per customer and
for the totals, with the conventions of :mod:`clvmodels.clv` (the posterior mean, ``lower`` and
``upper`` of an equal-tailed interval of mass ``level``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from clvmodels.display import contract_equity_html, total_repr
from clvmodels.estimation.contract import check_renewal_horizon, contract_draws
from clvmodels.estimation.draws import DistinctRows, summarise
from clvmodels.validation import ValidationError, check_level, check_margin

__all__ = ["ContractEquity", "contract_equity", "contract_lifetime_value"]


def _payments(data: pd.DataFrame, payment: Any) -> np.ndarray:
    """One finite payment >= 0 per customer: a number, a column name or a Series by customer."""
    if isinstance(payment, str):
        if payment not in data.columns:
            raise ValidationError(f"payment: no column {payment!r}; the table has "
                                  f"{list(data.columns)}")
        payment = data[payment]
    if isinstance(payment, pd.Series):
        missing = ~data.index.isin(payment.index)
        if missing.any():
            raise ValidationError(f"payment: no payment for customer "
                                  f"{data.index[np.flatnonzero(missing)[0]]!r}")
        payment = payment.reindex(data.index)
    values = np.broadcast_to(np.asarray(payment, dtype=float), (len(data),))
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValidationError(f"payment: {int(bad.sum())} value(s) invalid (e.g. customer "
                              f"{data.index[first]!r}, value {values[first]:g}); expected "
                              "finite amounts >= 0 per period")
    return values


@dataclass
class _Valuation:
    frame: pd.DataFrame
    total_draws: np.ndarray
    n_draws: int


def _valuation(model: Any, data: pd.DataFrame, payment: Any, margin: float,
               discount_rate: float, horizon: float, level: float, max_draws: int | None,
               keep_draws: bool = False) -> tuple[_Valuation, Any]:
    horizon, discount_rate = check_renewal_horizon(horizon, discount_rate)
    level, margin = check_level(level), check_margin(margin)
    params = contract_draws(model, max_draws)
    renewals, churned = model.contracts(data)
    payments = _payments(data, payment)
    n_draws = len(params[0])
    rows = DistinctRows({"n": renewals, "churned": churned.astype(float), "payment": payments},
                        merge=n_draws > 1)
    family = model.family
    residual = np.empty(len(rows))

    def evaluate(block: slice) -> np.ndarray:
        n, gone = rows["n"][block], rows["churned"][block] > 0
        lifetime = np.where(gone, 0.0, family.residual_lifetime(params, n, discount_rate,
                                                                horizon))
        residual[block] = np.broadcast_to(lifetime, (n_draws, len(n))).mean(axis=0)
        return margin * rows["payment"][block] * lifetime

    summary = summarise(evaluate, len(rows), n_draws, level=level, counts=rows.counts,
                        keep_draws=keep_draws)
    codes = rows.codes
    columns = {"clv": summary.mean[codes]}
    if n_draws > 1:
        columns.update(lower=summary.lower[codes], upper=summary.upper[codes])
    columns["expected_residual_lifetime"] = residual[codes]
    frame = pd.DataFrame(columns, index=data.index)
    draws = summary.draws_frame(rows, data.index) if keep_draws else None
    return _Valuation(frame, summary.total_draws, n_draws), draws


def contract_lifetime_value(
    model: Any,
    data: pd.DataFrame,
    *,
    payment: float | str | pd.Series,
    discount_rate: float,
    margin: float = 1.0,
    horizon: float = np.inf,
    level: float = 0.9,
    max_draws: int | None = None,
    return_draws: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Residual value of each customer of a contractual model: discounted expected remaining
    payments, ``payment * margin * DERL``.

    Parameters
    ----------
    model : a fitted contractual model
        sBG or BdW, maximum-likelihood or Bayesian.
    data : DataFrame
        Contract table (``renewals``, ``churned``) indexed by customer.
    payment : float, str or Series
        Payment per period: one amount, the name of a column of ``data``, or a Series by
        customer.
    discount_rate : float
        Per period (e.g. 0.10 for yearly renewals at 10% a year), >= 0; 0 needs a finite
        horizon.
    margin : float, default 1.0
        Share of a payment that is profit.
    horizon : float, default inf
        Count at most this many further renewals.
    level, max_draws, return_draws
        As in :func:`clvmodels.customer_lifetime_value`.

    Returns
    -------
    DataFrame or (DataFrame, DataFrame)
        Indexed like ``data``: ``clv`` (with ``lower``, ``upper`` when the model has draws) and
        ``expected_residual_lifetime`` (its posterior mean), and the draws with
        ``return_draws``. Customers who churned are worth 0.
    """
    value, draws = _valuation(model, data, payment, margin, discount_rate, horizon, level,
                              max_draws, keep_draws=return_draws)
    return (value.frame, draws) if return_draws else value.frame


@dataclass(frozen=True)
class ContractEquity:
    """The residual value of a contractual customer base, and of a customer yet to come.

    Attributes
    ----------
    total : float
        Sum of the residual value of every customer (with draws, its posterior mean).
    total_interval : tuple of float or None
        With draws: equal-tailed credible interval of the total, of mass ``level``.
    total_draws : ndarray
        The total per parameter draw.
    clv : DataFrame
        Per customer, as :func:`contract_lifetime_value` returns it.
    by_cohort : DataFrame or None
        With a ``cohort`` column: per cohort ``customers``, ``active``, ``equity``,
        ``share_of_equity`` and ``mean_clv``.
    new_customer_value : float
        Expected discounted payments of a customer just acquired, their first payment now:
        ``payment * margin * (1 + sum over k >= 1 of S(k) (1 + d)^-k)`` (the posterior mean),
        with the mean payment of ``data``.
    level : float
    horizon, discount_rate, margin : float or None
        What was valued: at most this many further renewals, the discount rate per period,
        the share of a payment that is profit.
    """

    total: float
    total_interval: tuple[float, float] | None
    total_draws: np.ndarray
    clv: pd.DataFrame
    by_cohort: pd.DataFrame | None
    new_customer_value: float
    level: float
    horizon: float | None = None
    discount_rate: float | None = None
    margin: float | None = None

    def __repr__(self) -> str:
        cohorts = "" if self.by_cohort is None else f", {len(self.by_cohort):,} cohorts"
        return total_repr(self, f"{cohorts}; new customer {self.new_customer_value:,.2f}")

    def _repr_html_(self) -> str:
        """Jupyter's display: the headline and the table by cohort (see
        :func:`clvmodels.display.contract_equity_html`)."""
        return contract_equity_html(self)


def contract_equity(
    model: Any,
    data: pd.DataFrame,
    *,
    payment: float | str | pd.Series,
    discount_rate: float,
    margin: float = 1.0,
    horizon: float = np.inf,
    level: float = 0.9,
    max_draws: int | None = None,
    cohort_col: str | None = "cohort",
) -> ContractEquity:
    """The customer equity of a contractual base: its customers' residual values, in total
    (with a credible interval from a Bayesian model's draws) and by cohort.

    Parameters
    ----------
    model, data, payment, discount_rate, margin, horizon, level, max_draws
        As in :func:`contract_lifetime_value`.
    cohort_col : str or None, default "cohort"
        Column of ``data`` grouping customers by acquisition cohort (as
        :func:`clvmodels.contract_summary` writes it); ignored when absent.

    Returns
    -------
    ContractEquity
    """
    value, _ = _valuation(model, data, payment, margin, discount_rate, horizon, level,
                          max_draws)
    total_draws = value.total_draws
    interval = None
    if value.n_draws > 1:
        lower, upper = np.quantile(total_draws, [(1 - level) / 2, (1 + level) / 2])
        interval = (float(lower), float(upper))
    total = float(total_draws.mean())
    table = value.frame
    by_cohort = None
    if cohort_col is not None and cohort_col in data.columns:
        _, churned = model.contracts(data)
        grouped = table.assign(active=~churned).groupby(data[cohort_col].to_numpy())
        by_cohort = pd.DataFrame({"customers": grouped.size(),
                                  "active": grouped["active"].sum(),
                                  "equity": grouped["clv"].sum(),
                                  "mean_clv": grouped["clv"].mean()})
        by_cohort.insert(3, "share_of_equity",
                         by_cohort["equity"] / total if total else np.nan)
        by_cohort.index.name = cohort_col
    params = contract_draws(model, max_draws)
    horizon_, discount_rate_ = check_renewal_horizon(horizon, discount_rate)
    new = 1.0 + model.family.residual_lifetime(params, np.zeros((1, 1)), discount_rate_,
                                               horizon_)
    mean_payment = float(_payments(data, payment).mean())
    return ContractEquity(total=total, total_interval=interval, total_draws=total_draws,
                          clv=table, by_cohort=by_cohort,
                          new_customer_value=float(check_margin(margin) * mean_payment
                                                   * np.mean(new)),
                          level=level, horizon=horizon_, discount_rate=discount_rate_,
                          margin=check_margin(margin))
