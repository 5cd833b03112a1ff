"""Gamma-Gamma model of spend per transaction (Fader & Hardie 2013).

Each transaction of a customer is worth z ~ Gamma(p, nu), with the customer's scale
nu ~ Gamma(q, gamma) across customers. The mean of x transactions, zbar, is the sufficient
statistic; customers without repeat transactions carry no information and are left out of the fit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import digamma, gammaln, zeta

from clvmodels.models._base import FitData, MLEModel, derivative_hooks
from clvmodels.validation import ValidationError, check_rfm


def _expected_spend(params, x, spend):
    """Conditional mean spend per transaction given x transactions of mean ``spend``.

    Broadcasts, so parameters with a leading axis of draws give one row per draw.
    """
    p, q, gamma = params
    return p * (gamma + x * spend) / (p * x + q - 1)


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
    repeat purchases); ``n_customers_`` says how many were used and ``n_customers_excluded_``
    how many had no repeat purchase. The model assumes spend is independent of the purchase
    process; check ``data[["frequency", "monetary_value"]].corr()`` is near 0.

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty on the parameters (see :class:`~clvmodels.models._base.MLEModel`).

    Attributes
    ----------
    params_ : Series
        ``p`` (shape of spend per transaction), ``q``, ``gamma`` (shape and rate of the
        customers' spend scale).
    """

    param_names = ("p", "q", "gamma")

    def _fit_columns(self, data: pd.DataFrame) -> tuple[dict[str, np.ndarray], np.ndarray]:
        x, spend = self._spend_arrays(data)
        repeat = x > 0
        if not repeat.any():
            raise ValidationError(
                "column 'frequency': no customer has a repeat purchase; the Gamma-Gamma model "
                "needs customers with frequency > 0 and their monetary_value"
            )
        self.n_customers_excluded_ = int(np.count_nonzero(~repeat))
        return {"x": x[repeat], "zbar": spend[repeat]}, repeat

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
        purchases get the population mean.

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
