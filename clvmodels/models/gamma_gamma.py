"""Gamma-Gamma model of spend per transaction (Fader & Hardie 2013).

Each transaction of a customer is worth z ~ Gamma(p, nu), with the customer's scale
nu ~ Gamma(q, gamma) across customers. The mean of x transactions, zbar, is the sufficient
statistic; customers without repeat transactions carry no information and are left out of the
fit. So are repeat buyers whose repeat purchases are all worth 0 (free orders, fully discounted
ones): the model's spends are positive, a zbar of 0 has no likelihood, and they are counted and
announced instead of failing the whole table. Both kinds get the population mean spend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy.special import digamma, gammaln, zeta

from clvmodels.estimation.bayesian import BayesianModel
from clvmodels.estimation.family import (
    CovariateLink,
    FitColumns,
    Parameter,
    Params,
    SpendFamily,
)
from clvmodels.estimation.fitdata import FitData
from clvmodels.estimation.mle import MLEModel
from clvmodels.estimation.predictions import SpendPredictions
from clvmodels.models.compiled_kernel import SampledInLogParameters
from clvmodels.validation import ValidationError


class GammaGammaFamily(SpendFamily):
    """The Gamma-Gamma declaration (see the module docstring)."""

    name: ClassVar[str] = "gamma-gamma"
    title: ClassVar[str] = "Gamma-Gamma"
    parameters = (
        Parameter("p", "shape of the spend per transaction z ~ Gamma(p, nu)"),
        Parameter("q", "shape of the customers' spend scale nu ~ Gamma(q, gamma)"),
        Parameter("gamma", "rate of the customers' spend scale (in the currency)",
                  in_data_unit=True),
    )
    has_hessian: ClassVar[bool] = True
    #: Static covariates of the spend (CLVTools' Gamma-Gamma has none): ``gamma_i = gamma
    #: exp(g_spend' z)``, so that the mean spend per transaction ``p gamma_i / (q - 1)`` is
    #: multiplied by ``exp(g_spend' z)``.
    covariate_links: ClassVar[tuple[CovariateLink, ...]] = (
        CovariateLink("spend", ("gamma",), 1, "a higher mean spend per transaction"),
    )
    announced_exclusions: ClassVar[dict[str, str]] = {
        "zero_spend": (
            "{owner}: {count:,.0f} customer(s) with repeat purchases all worth 0{example} were "
            "left out of the fit, as the model's spends are "
            "positive (column 'monetary_value' is 0); like customers without repeat purchases, "
            "they get the population mean spend p * gamma / (q - 1). "
            "excluded_customers_['zero_spend'] counts them"
        ),
    }

    # ------------------------------------------------------------------------- data
    def fit_columns(self, data: pd.DataFrame) -> FitColumns:
        x, spend = self.spend_history(data)
        repeat = x > 0
        if not repeat.any():
            raise ValidationError(
                "column 'frequency': no customer has a repeat purchase; the Gamma-Gamma model "
                "needs customers with frequency > 0 and their monetary_value"
            )
        # A mean spend of 0 has no likelihood under positive Gamma spends.
        zero_spend = repeat & (spend == 0)
        fitted = repeat & ~zero_spend
        if not fitted.any():
            example = data.index[np.flatnonzero(repeat)[0]]
            raise ValidationError(
                f"column 'monetary_value': all {int(repeat.sum()):,} customer(s) with repeat "
                f"purchases have a mean spend of 0 (e.g. customer {example!r}); expected some "
                "repeat buyers with a positive spend to fit the Gamma-Gamma model on"
            )
        return FitColumns({"x": x[fitted], "zbar": spend[fitted]}, fitted,
                          {"no_repeat_purchase": ~repeat, "zero_spend": zero_spend})

    def initial_params(self, fit_data: FitData) -> np.ndarray:
        return np.array([1.0, 2.0, float(np.average(fit_data["zbar"],
                                                    weights=fit_data.weights))])

    def prior_medians(self, fit_data: FitData) -> np.ndarray:
        """p and q around 1, gamma around the mean spend (the data's currency)."""
        return np.array([1.0, 1.0, self.initial_params(fit_data)[2]])

    # ------------------------------------------------------------------------- likelihood
    def log_likelihood(self, params: Params, fit_data: FitData) -> np.ndarray:
        return self.log_likelihood_gradient(params, fit_data)[0]

    def log_likelihood_gradient(self, params: Params, fit_data: FitData):
        """Per row ``LL = lnG(px+q) - lnG(px) - lnG(q) + q ln(gamma) + (px-1) ln(zbar)
        + px ln(x) - (px+q) ln(gamma + x zbar)`` and its derivatives in (p, q, gamma)."""
        p, q, gamma = params
        x, zbar = fit_data["x"], fit_data["zbar"]
        px = p * x
        log_total = np.log(gamma + x * zbar)
        rows = (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(gamma)
                + (px - 1) * np.log(zbar) + px * np.log(x) - (px + q) * log_total)
        psi_total = digamma(px + q)
        gradient = np.array([
            x * (psi_total - digamma(px) + np.log(x * zbar) - log_total),
            psi_total - digamma(q) + np.log(gamma) - log_total,
            q / gamma - (px + q) / (gamma + x * zbar),
        ])
        return rows, gradient

    def derivatives(self, params: Params, fit_data: FitData, hessian: bool = False):
        """The weighted total log-likelihood, its gradient and (if ``hessian``) its Hessian with
        respect to (p, q, gamma), in one pass; ``(total, gradient, hessian or None)``.

        Per row ``LL = lnG(px+q) - lnG(px) - lnG(q) + q ln(gamma) + px ln(x zbar) - ln(zbar)
        - (px+q) ln(gamma + x zbar)``. The gamma-function terms depend on x alone, so they are
        evaluated once per distinct x (there are few) and weighted by the rows there.
        """
        p, q, gamma = params
        x, w = fit_data["x"], fit_data.weights
        values, codes = fit_data.levels("x")
        zbar = fit_data["zbar"]
        log_x_zbar, log_zbar, x_zbar, w_x, level_weight, level_x_weight = fit_data.cached(
            "gg terms", lambda: (
                np.log(x * zbar), np.log(zbar), x * zbar, w * x,
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

    def compiled_likelihood(self, fit_data: FitData) -> CompiledGammaGamma:
        """The numba kernel of the weighted likelihood on ``fit_data`` (for the samplers)."""
        return CompiledGammaGamma(kernel_data(fit_data))

    # ------------------------------------------------------------------------- predictions
    def expected_spend(self, params: Params, x, spend) -> np.ndarray:
        """Conditional mean spend per transaction given x transactions of mean ``spend``: a
        weighted average of the population mean ``p gamma / (q - 1)`` and the customer's mean.

        Customers whose mean spend is 0 (no repeat purchase, or repeat purchases all worth 0)
        are left out of the fit and get the population mean, the formula's value at x = 0.
        Broadcasts, so parameters with a leading axis of draws give one row per draw.
        """
        p, q, gamma = params
        x = np.where(spend > 0, x, 0.0)
        shape = np.broadcast_shapes(*(np.shape(value) for value in (p, q, gamma, x, spend)))
        if not shape:
            return p * (gamma + x * spend) / (p * x + q - 1)
        # The same operations in the same order, in place: for draws x rows two arrays
        # allocated, not six.
        value = np.add(gamma, x * spend, out=np.empty(shape))
        value *= p
        scale = np.multiply(p, x, out=np.empty(shape))
        scale += q
        scale -= 1
        value /= scale
        return value

    def check_finite_mean(self, params: Params, owner: str) -> None:
        """Refuse parameters with q <= 1, where the mean spend per transaction is infinite."""
        q = np.asarray(params[1])
        if np.any(q <= 1):
            raise ValueError(
                f"{owner}: q <= 1 in {int(np.count_nonzero(q <= 1))} of {q.size} draw(s): the "
                "mean spend per transaction is infinite under these parameters; check the "
                "monetary values for extreme outliers (or, for a Bayesian model, use a prior "
                "on q with support above 1)"
            )

    def simulate(self, params: Params, frequency: np.ndarray, rng: np.random.Generator
                 ) -> np.ndarray:
        p, q, gamma = params
        x = np.asarray(frequency, dtype=float)
        scale = rng.gamma(q, 1.0 / gamma, x.shape)
        # The mean of x Gamma(p, scale) draws is Gamma(p x, scale x).
        mean = rng.gamma(np.maximum(p * x, 1e-300), 1.0 / (scale * np.maximum(x, 1.0)))
        return np.where(x > 0, mean, 0.0)


def kernel_data(fit_data: FitData) -> tuple[np.ndarray, ...]:
    """The arrays the compiled kernel reads after the parameters: the distinct x with the
    weight and the weight * x summed per x, then per distinct row x * zbar, its log, log zbar,
    the weight and the weight * x (the terms :meth:`GammaGammaFamily.derivatives` caches)."""
    x, weights, zbar = fit_data["x"], fit_data.weights, fit_data["zbar"]
    values, codes = fit_data.levels("x")
    x_zbar = x * zbar
    return tuple(np.ascontiguousarray(array, dtype=float) for array in (
        values, np.bincount(codes, weights, len(values)),
        np.bincount(codes, weights * x, len(values)),
        x_zbar, np.log(x_zbar), np.log(zbar), weights, weights * x))


@dataclass(frozen=True)
class CompiledGammaGamma(SampledInLogParameters):
    """The likelihood of one fit's data as a compiled kernel
    (:mod:`clvmodels.models.gamma_gamma_kernel`, imported on first use: it needs numba).

    With log-normal priors it is nutpie's native model (:meth:`packed`, :meth:`log_density`,
    :meth:`callbacks`); with other priors the samplers run the family's NumPy likelihood, as
    it has no PyTensor Op of its own (no ``tensor``).
    """

    data: tuple[np.ndarray, ...]

    @staticmethod
    def _kernel() -> Any:
        from clvmodels.models import gamma_gamma_kernel

        return gamma_gamma_kernel

    def value_and_gradient(self, params: np.ndarray) -> tuple[float, np.ndarray]:
        """The weighted total log-likelihood and its gradient at ``params``."""
        return self._kernel().value_and_gradient(*(float(v) for v in params), *self.data)

    def packed(self, priors: np.ndarray, centre: np.ndarray, factor: np.ndarray) -> np.ndarray:
        """The one float array nutpie's callbacks read: the numbers of distinct x and of
        distinct rows, the log-normal priors' (mean, sd) of each log-parameter, the whitening
        (centre and Cholesky factor), then the data."""
        sizes = [len(self.data[0]), len(self.data[3])]
        return np.concatenate([np.array(sizes, dtype=float), np.ravel(priors),
                               np.ravel(centre), np.ravel(factor), *self.data])

    def log_density(self, theta: np.ndarray, packed: np.ndarray) -> tuple[float, np.ndarray]:
        """The log posterior density of the log-parameters and its gradient (log-normal
        priors, as packed)."""
        return self._kernel().log_density(np.asarray(theta, dtype=float), packed)

    def callbacks(self) -> tuple:
        """nutpie's C callbacks (log density, expansion of a draw), cached by numba."""
        return self._kernel().compiled_callbacks()


GAMMA_GAMMA = GammaGammaFamily()


class GammaGammaModel(SpendPredictions, MLEModel):
    """Gamma-Gamma spend model fitted by maximum likelihood.

    Fitted on the customers with ``frequency > 0`` (their ``monetary_value`` is the mean of the
    repeat purchases) and a positive ``monetary_value``. Repeat buyers whose repeat purchases
    are all worth 0 are left out with a UserWarning that counts them; they, like customers
    without repeat purchases, get the population mean spend ``p gamma / (q - 1)`` from
    :meth:`expected_spend`. ``excluded_customers_`` counts both kinds
    (``"no_repeat_purchase"``, ``"zero_spend"``). The model assumes spend is independent of
    the purchase process; check ``data[["frequency", "monetary_value"]].corr()`` is near 0.

    Takes ``penalizer`` and keeps the fitted state of
    :class:`~clvmodels.estimation.mle.MLEModel` (``covariance_``, ``log_likelihood_``, ...).

    Static covariates (``spend_covariates=``, columns of the table): ``gamma_i = gamma
    exp(g_spend' z_i)``, so a customer's mean spend per transaction is the base one times
    ``exp(g_spend' z_i)`` (CLVTools' Gamma-Gamma has no covariates; this is the natural
    link of its rate parameter); see :class:`~clvmodels.estimation.mle.MLEModel`.

    Attributes
    ----------
    params_ : Series
        ``p`` (shape of spend per transaction), ``q``, ``gamma`` (shape and rate of the
        customers' spend scale).
    """

    family = GAMMA_GAMMA


class BayesianGammaGammaModel(SpendPredictions, BayesianModel):
    """Gamma-Gamma spend model with a posterior over its parameters (PyMC; the ``bayes``
    extra).

    Fitted on the same customers as :class:`GammaGammaModel`, whose likelihood (the family's
    NumPy code and gradient) and rules it shares. Default priors (weakly informative
    log-normals with log-scale sd 2): ``p``, ``q`` ~ LogNormal(log 1, 2); ``gamma`` ~
    LogNormal(log m, 2) with m the mean ``monetary_value`` of the repeat buyers, so the prior
    follows the data's currency.

    Parameters
    ----------
    priors : dict, optional
        Replacement priors by parameter name (unnamed PyMC distributions, positive support).
    """

    family = GAMMA_GAMMA
