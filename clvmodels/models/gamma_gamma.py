"""Gamma-Gamma model of spend per transaction (Fader & Hardie 2013).

Each transaction of a customer is worth z ~ Gamma(p, nu), with the customer's scale
nu ~ Gamma(q, gamma) across customers. The mean of x transactions, zbar, is the sufficient
statistic; customers without repeat transactions carry no information and are left out of the fit.
So are repeat buyers whose repeat purchases are all worth 0 (free orders, fully discounted
ones): the model's spends are positive, a zbar of 0 has no likelihood, and they are counted and
announced instead of failing the whole table. Both kinds get the population mean spend.
"""

from __future__ import annotations

import warnings
from typing import Self

import numpy as np
import pandas as pd
from scipy.special import digamma, gammaln, zeta

from clvmodels.models._base import FitData, MLEModel, derivative_hooks
from clvmodels.validation import ValidationError, check_rfm


def _expected_spend(params, x, spend):
    """Conditional mean spend per transaction given x transactions of mean ``spend``.

    Customers whose mean spend is 0 (no repeat purchase, or repeat purchases all worth 0) are
    left out of the fit and get the population mean ``p gamma / (q - 1)``, the formula's value
    at x = 0. Broadcasts, so parameters with a leading axis of draws give one row per draw.
    """
    p, q, gamma = params
    x = np.where(spend > 0, x, 0.0)
    return p * (gamma + x * spend) / (p * x + q - 1)


def _plain(value: object) -> object:
    """Numpy scalars as Python ones, so messages read ``7`` rather than ``np.int64(7)``."""
    return value.item() if isinstance(value, np.generic) else value


def spend_fit_exclusions(
    data: pd.DataFrame, weights: pd.Series | np.ndarray | None, owner: str, *, stacklevel: int
) -> tuple[float, float]:
    """Customers a spend fit leaves out: those without repeat purchases, and those whose repeat
    purchases are all worth 0, the latter announced with a UserWarning.

    Parameters
    ----------
    data : DataFrame
        Table with ``frequency`` and ``monetary_value``, indexed by customer (checked here).
    weights : array-like, optional
        Customers each row stands for, as in :meth:`GammaGammaModel.fit` (checked here).
    owner : str
        The model's name, for the warning.
    stacklevel : int
        Where the warning points, counted from the caller (1: the caller itself).

    Returns
    -------
    (float, float)
        All customers left out, and those of them with repeat purchases at 0 (sums of their
        weights).
    """
    x, spend = GammaGammaModel._spend_arrays(data)
    weights = GammaGammaModel._check_weights(data, weights)
    zero_spend = (x > 0) & (spend == 0) & (weights > 0)
    n_zero_spend = float(weights[zero_spend].sum())
    # (With no positive spend at all the fit raises instead, naming the same customers.)
    if n_zero_spend and np.any((x > 0) & (spend > 0)):
        warn_zero_spend(n_zero_spend, owner, stacklevel=stacklevel + 1,
                        example=_plain(data.index[np.flatnonzero(zero_spend)[0]]))
    return float(weights[x == 0].sum()) + n_zero_spend, n_zero_spend


def warn_zero_spend(count: float, owner: str, *, stacklevel: int, example: object = None) -> None:
    """Warn that ``count`` repeat buyers whose repeat purchases are all worth 0 were left out
    of a spend fit (``stacklevel`` counted from the caller; ``example`` a customer id, when
    known)."""
    which = f" (e.g. customer {example!r})" if example is not None else ""
    warnings.warn(
        f"{owner}: {count:,.0f} customer(s) with repeat purchases all worth 0{which} were left "
        "out of the fit, as the model's spends are positive (column 'monetary_value' is 0); "
        "like customers without repeat purchases, they get the population mean spend "
        "p * gamma / (q - 1). n_customers_zero_spend_ counts them",
        UserWarning,
        stacklevel=stacklevel + 1,
    )


def no_positive_spend(count: int, example: object = None) -> ValidationError:
    """The error for a table whose ``count`` repeat buyers all have a mean spend of 0
    (``example`` a customer id, when known)."""
    which = f" (e.g. customer {example!r})" if example is not None else ""
    return ValidationError(
        f"column 'monetary_value': all {count:,} customer(s) with repeat purchases have a mean "
        f"spend of 0{which}; expected some repeat buyers with a positive spend to fit the "
        "Gamma-Gamma model on"
    )


def _log_likelihood_derivatives(params, fit_data: FitData, hessian: bool):
    """The weighted total log-likelihood, its gradient and (if ``hessian``) its Hessian with
    respect to (p, q, gamma), in one pass; ``(total, gradient, hessian or None)``.

    Per row ``LL = lnG(px+q) - lnG(px) - lnG(q) + q ln(gamma) + px ln(x zbar) - ln(zbar)
    - (px+q) ln(gamma + x zbar)``. The gamma-function terms depend on x alone, so they are
    evaluated once per distinct x (there are few) and weighted by the rows there.
    """
    p, q, gamma = params
    x, w = fit_data["x"], fit_data.weights
    values, codes = fit_data.levels("x")
    log_x_zbar, log_zbar, x_zbar, w_x, level_weight, level_x_weight = fit_data.cached(
        "gg terms", lambda: (
            np.log(x * fit_data["zbar"]), np.log(fit_data["zbar"]), x * fit_data["zbar"], w * x,
            np.bincount(codes, w, len(values)), np.bincount(codes, w * x, len(values))))
    level_px = p * values
    log_total = np.log(gamma + x_zbar)
    n = w.sum()
    total = (level_weight @ (gammaln(level_px + q) - gammaln(level_px))
             + w @ (p * x * (log_x_zbar - log_total) - q * log_total - log_zbar)
             + n * (q * np.log(gamma) - gammaln(q)))
    psi_total = digamma(level_px + q)
    inverse_total = 1 / (gamma + x_zbar)
    w_total_shape = p * w_x + q * w  # weight * (p x + q)
    gradient = np.array([
        level_x_weight @ (psi_total - digamma(level_px)) + w_x @ (log_x_zbar - log_total),
        level_weight @ psi_total - w @ log_total + n * (np.log(gamma) - digamma(q)),
        n * q / gamma - w_total_shape @ inverse_total,
    ])
    if not hessian:
        return total, gradient, None
    trigamma_total = zeta(2, level_px + q)  # trigamma, as a fast ufunc
    h_pq = level_x_weight @ trigamma_total
    h_p_gamma = -(w_x @ inverse_total)
    h_q_gamma = n / gamma - w @ inverse_total
    curvature = np.array([
        [(level_x_weight * values) @ (trigamma_total - zeta(2, level_px)), h_pq, h_p_gamma],
        [h_pq, level_weight @ trigamma_total - n * zeta(2, q), h_q_gamma],
        [h_p_gamma, h_q_gamma,
         -n * q / gamma**2 + w_total_shape @ inverse_total**2],
    ])
    return total, gradient, curvature


class GammaGammaModel(MLEModel):
    """Gamma-Gamma spend model fitted by maximum likelihood.

    Fitted on the customers with ``frequency > 0`` (their ``monetary_value`` is the mean of the
    repeat purchases) and a positive ``monetary_value``. Repeat buyers whose repeat purchases
    are all worth 0 are left out with a UserWarning that counts them; they, like customers
    without repeat purchases, get the population mean spend ``p gamma / (q - 1)`` from
    :meth:`expected_spend`. The model assumes spend is independent of the purchase process;
    check ``data[["frequency", "monetary_value"]].corr()`` is near 0.

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty on the parameters (see :class:`~clvmodels.models._base.MLEModel`).

    Attributes
    ----------
    params_ : Series
        ``p`` (shape of spend per transaction), ``q``, ``gamma`` (shape and rate of the
        customers' spend scale).
    n_customers_ : float
        Customers the likelihood was fitted on (the sum of their weights).
    n_customers_excluded_ : float
        Customers left out of the fit: those without repeat purchases and those counted by
        ``n_customers_zero_spend_``.
    n_customers_zero_spend_ : float
        Customers left out because their repeat purchases are all worth 0.
    """

    param_names = ("p", "q", "gamma")

    def fit(
        self,
        data: pd.DataFrame,
        weights: pd.Series | np.ndarray | None = None,
        initial_params: dict[str, float] | None = None,
    ) -> Self:
        """Fit the model by maximum likelihood on the repeat buyers with a positive spend.

        Parameters are as in :meth:`MLEModel.fit`; ``data`` needs ``frequency`` and
        ``monetary_value`` only.

        Warns
        -----
        UserWarning
            When repeat buyers with a ``monetary_value`` of 0 are left out (with their count).
        """
        # Counted (and announced) before fitting, so that the warning precedes a failed fit.
        self.n_customers_excluded_, self.n_customers_zero_spend_ = spend_fit_exclusions(
            data, weights, type(self).__name__, stacklevel=2)
        return super().fit(data, weights, initial_params)

    def _fit_columns(self, data: pd.DataFrame) -> tuple[dict[str, np.ndarray], np.ndarray]:
        x, spend = self._spend_arrays(data)
        repeat = x > 0
        if not repeat.any():
            raise ValidationError(
                "column 'frequency': no customer has a repeat purchase; the Gamma-Gamma model "
                "needs customers with frequency > 0 and their monetary_value"
            )
        # A mean spend of 0 has no likelihood under positive Gamma spends: such customers are
        # left out (counted by spend_fit_exclusions), as those without repeat purchases are.
        fitted = repeat & (spend > 0)
        if not fitted.any():
            raise no_positive_spend(int(np.count_nonzero(repeat)),
                                    _plain(data.index[np.flatnonzero(repeat)[0]]))
        return {"x": x[fitted], "zbar": spend[fitted]}, fitted

    @staticmethod
    def _spend_arrays(data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        # Recency and T play no part in the spend model: a (frequency, monetary_value) table is
        # enough.
        check_rfm(data, recency_col=None, T_col=None, monetary_col="monetary_value")
        return (
            data["frequency"].to_numpy(dtype=float),
            data["monetary_value"].to_numpy(dtype=float),
        )

    def _initial_params(self, fit_data: FitData) -> np.ndarray:
        return np.array([1.0, 2.0, float(np.average(fit_data["zbar"], weights=fit_data.weights))])

    @staticmethod
    def _log_likelihood(params, fit_data: FitData) -> np.ndarray:
        p, q, gamma = params
        x, zbar = fit_data["x"], fit_data["zbar"]
        px = p * x
        return (
            gammaln(px + q) - gammaln(px) - gammaln(q)
            + q * np.log(gamma)
            + (px - 1) * np.log(zbar)
            + px * np.log(x)
            - (px + q) * np.log(gamma + x * zbar)
        )

    _log_likelihood_and_gradient, _log_likelihood_gradient_hessian = derivative_hooks(
        _log_likelihood_derivatives)

    def expected_spend(self, data: pd.DataFrame) -> pd.Series:
        """Conditional expected spend per transaction of each customer.

        A weighted average of the population mean ``p gamma / (q - 1)`` and the customer's
        observed mean, weighted by their number of repeat purchases; customers without repeat
        purchases, and those whose repeat purchases are all worth 0 (left out of the fit),
        get the population mean.

        Parameters
        ----------
        data : DataFrame
            Table with ``frequency`` and ``monetary_value``, indexed by customer.

        Returns
        -------
        Series
            Expected spend per transaction, indexed like ``data``.
        """
        self._check_fitted()
        p, q, gamma = self.params_.to_numpy(dtype=float)
        if q <= 1:
            raise ValueError(
                f"q = {q:.4g} <= 1: the mean spend per transaction is infinite under these "
                "parameters; check the monetary values for extreme outliers"
            )
        x, spend = self._spend_arrays(data)
        expected = _expected_spend((p, q, gamma), x, spend)
        return pd.Series(expected, index=data.index, name="expected_spend")

    def simulate(
        self,
        frequency: pd.Series | np.ndarray,
        random_state: int | np.random.Generator | None = None,
    ) -> pd.Series:
        """Draw each customer's mean spend over ``frequency`` transactions.

        Parameters
        ----------
        frequency : Series or array
            Number of transactions per customer (0 gives a mean spend of 0).
        random_state : int or Generator, optional
            Seed for reproducible draws.

        Returns
        -------
        Series
            Simulated ``monetary_value``, indexed like ``frequency`` when it is a Series.
        """
        self._check_fitted()
        rng = np.random.default_rng(random_state)
        p, q, gamma = self.params_.to_numpy(dtype=float)
        x = np.asarray(frequency, dtype=float)
        scale = rng.gamma(q, 1.0 / gamma, x.shape)
        # The mean of x Gamma(p, scale) draws is Gamma(p x, scale x).
        mean = rng.gamma(np.maximum(p * x, 1e-300), 1.0 / (scale * np.maximum(x, 1.0)))
        index = frequency.index if isinstance(frequency, pd.Series) else None
        return pd.Series(np.where(x > 0, mean, 0.0), index=index, name="monetary_value")
