"""Contractual retention models: the shifted-beta-geometric (sBG) and the beta-discrete-Weibull
(BdW).

Each customer leaves at the end of a period with a churn probability theta, heterogeneous
across customers as theta ~ Beta(alpha, beta). In the BdW (Fader, Hardie, Liu, Davin &
Steenburgh 2018, "How to project customer retention revisited: the role of duration
dependence", Journal of Interactive Marketing 43) a customer's lifetime is discrete Weibull,
``P(T > t | theta) = (1 - theta) ** (t ** c)``: c < 1 is a churn hazard falling with tenure,
c > 1 a rising one; so ``S(t) = B(alpha, beta + t ** c) / B(alpha, beta)``. At c = 1 it is the
sBG (Fader & Hardie 2007, "How to project customer retention", Journal of Interactive
Marketing 21(1)), with geometric lifetimes, retention rates
``r(t) = (beta + t - 1) / (alpha + beta + t - 1)`` and ``P(T = t) = B(alpha + 1, beta + t - 1)
/ B(alpha, beta)``.

The mathematics is written once (:func:`log_survival` and its gradient in alpha, beta, c); the
sBG is its own two-parameter family, whose churn probability and discounted expected residual
lifetime (Fader & Hardie 2010, via 2F1) use the sBG's closed forms.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import scipy.special

from clvmodels._numerics import log1mexp, log_hyp2f1_forms, log_rising
from clvmodels.estimation.bayesian import BayesianModel
from clvmodels.estimation.contract import (
    ContractFamily,
    ContractPredictions,
    discounted_survival_series,
)
from clvmodels.estimation.family import CovariateLink, Parameter, Params
from clvmodels.estimation.fitdata import FitData
from clvmodels.estimation.mle import MLEModel
from clvmodels.models.compiled_kernel import CompiledContract

# Beyond y = t**c = e**600 the terms of log Gamma(beta + y + alpha) - log Gamma(beta + y) after
# alpha log y are below e**-600 relative (and y itself may overflow): alpha log y alone.
_LOG_Y_ASYMPTOTIC = 600.0


def _log_y(c: np.ndarray, t: np.ndarray) -> np.ndarray:
    """log(t ** c), -inf at t = 0."""
    with np.errstate(divide="ignore"):
        return c * np.log(t)


def log_beta_ratio(alpha, start, step, log_end=None) -> np.ndarray:
    """log B(alpha, start + step) - log B(alpha, start), for step >= 0 (``inf`` allowed).

    Written as ``log_rising(start, step) - log_rising(alpha + start, step)`` when step <
    alpha and as ``log_rising(start, alpha) - log_rising(start + step, alpha)`` otherwise: the
    two terms of the chosen form are of the size of the smaller of step and alpha, so their
    difference loses nothing to cancellation (for step = 1e6 and alpha = 1 the first form's
    terms are ~1e7). Where ``start + step`` is beyond e**600 (or inf), the last term is
    ``alpha log(start + step)`` alone (the rest is below e**-600 relative), with
    ``log(start + step)`` given as ``log_end`` when the sum overflows.
    """
    alpha, start, step = np.broadcast_arrays(*(np.asarray(v, dtype=float)
                                               for v in (alpha, start, step)))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        end = start + step
        log_end = np.log(end) if log_end is None else log_end
        huge = ~(log_end <= _LOG_Y_ASYMPTOTIC)
        finite_step = np.where(huge, 0.0, step)
        small_step = log_rising(start, finite_step) - log_rising(alpha + start, finite_step)
        large_step = log_rising(start, alpha) - np.where(
            huge, alpha * log_end, log_rising(np.where(huge, 1.0, end), alpha))
    return np.where(~huge & (step < alpha), small_step, large_step)


def log_survival(alpha, beta, c, t) -> np.ndarray:
    """log S(t) = log B(alpha, beta + t ** c) - log B(alpha, beta) (see
    :func:`log_beta_ratio`)."""
    log_y = _log_y(np.asarray(c, dtype=float), t)
    with np.errstate(over="ignore"):
        return log_beta_ratio(alpha, beta, np.exp(log_y),
                              np.logaddexp(np.log(np.asarray(beta, dtype=float)), log_y))


def log_survival_step(alpha, beta, c, n) -> np.ndarray:
    """log S(n + 1) - log S(n), without the cancellation of the difference: the ratio of beta
    functions from ``beta + n ** c`` by the step ``(n + 1) ** c - n ** c`` (computed as
    ``n ** c expm1(c log1p(1 / n))``, exact for n near 1e4 and c near 0). Where (n + 1) ** c
    is beyond e**600 the step is at least ``alpha (600 - log n ** c)`` nats and the difference
    itself is accurate enough; where n ** c is too, its limit ``-alpha c log1p(1 / n)``
    (relative error below e**-600)."""
    alpha, beta, c, n = np.broadcast_arrays(*(np.asarray(v, dtype=float)
                                              for v in (alpha, beta, c, n)))
    log_y = _log_y(c, n)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        inverse = 1.0 / np.where(n > 0, n, 1.0)
        huge_next = c * np.log1p(n) > _LOG_Y_ASYMPTOTIC
        y = np.where(huge_next, 0.0, np.exp(log_y))
        step = np.where(n > 0, y * np.expm1(c * np.log1p(inverse)), 1.0)
        exact = log_beta_ratio(alpha, beta + y, np.where(huge_next, 0.0, step))
        difference = (log_survival(alpha, beta, c, n + 1.0)
                      - log_survival(alpha, beta, c, n))
        limit = -alpha * c * np.log1p(inverse)
    return np.where(log_y > _LOG_Y_ASYMPTOTIC, limit, np.where(huge_next, difference, exact))


def log_survival_gradient(alpha, beta, c, t, with_c: bool) -> np.ndarray:
    """The derivatives of :func:`log_survival` in alpha, beta (and c with ``with_c``)."""
    alpha, beta, c, t = np.broadcast_arrays(*(np.asarray(v, dtype=float)
                                              for v in (alpha, beta, c, t)))
    log_y = _log_y(c, t)
    psi = scipy.special.digamma
    with np.errstate(over="ignore", invalid="ignore"):
        y = np.exp(log_y)
        total = psi(alpha + beta + y)
        d_alpha = psi(alpha + beta) - total
        d_beta = psi(beta + y) - psi(beta) + d_alpha
        parts = [d_alpha, d_beta]
        if with_c:
            # d/dc = d/dy * dy/dc with dy/dc = y log t (0 at t = 0, where y = 0).
            parts.append(np.where(t > 0, (psi(beta + y) - total) * y * log_y / np.where(
                c > 0, c, 1.0), 0.0))
    return np.stack(parts)


class BetaDiscreteWeibullFamily(ContractFamily):
    """The BdW declaration (alpha, beta, c)."""

    name: ClassVar[str] = "bdw"
    title: ClassVar[str] = "BdW"
    aliases: ClassVar[tuple[str, ...]] = ("betadiscreteweibull", "beta-discrete-weibull")
    parameters = (
        Parameter("alpha", "churn probability theta ~ Beta(alpha, beta)"),
        Parameter("beta", "churn probability theta ~ Beta(alpha, beta)"),
        Parameter("c", "duration dependence: P(T > t | theta) = (1 - theta)^(t^c)"),
    )
    #: Static covariates shift the log-odds of the mean churn probability: ``alpha_i = alpha
    #: exp(g_dropout' z)``, so ``logit E[theta_i] = log(alpha / beta) + g_dropout' z`` and
    #: P(T = 1) = alpha_i / (alpha_i + beta) rises with it (the sBG's first-period churn).
    #: Scaling alpha and beta together (as the BG/NBD's a and b) would leave every
    #: customer's first-period churn unchanged.
    covariate_links: ClassVar[tuple[CovariateLink, ...]] = (
        CovariateLink("dropout", ("alpha",), 1, "churning sooner"),
    )
    #: The BdW's posterior on a short cohort curves along c (a few divergent transitions at
    #: NUTS's 0.8 on the high-end cohort's years 0-7, none at 0.9 over three seeds).
    target_accept: ClassVar[float] = 0.9

    def shape(self, params: Params):
        """(alpha, beta, c) of the parameters."""
        return params[0], params[1], params[2]

    def initial_params(self, fit_data: FitData) -> np.ndarray:
        return np.ones(len(self.parameters))

    def log_survival(self, params: Params, t) -> np.ndarray:
        return log_survival(*self.shape(params), t)

    def log_survival_gradient(self, params: Params, t) -> np.ndarray:
        return log_survival_gradient(*self.shape(params), t, with_c=len(params) == 3)

    def log_churn(self, params: Params, n) -> np.ndarray:
        # log(S(n) - S(n + 1)) = log S(n) + log(1 - S(n + 1) / S(n)).
        step = log_survival_step(*self.shape(params), n)
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.log_survival(params, n) + log1mexp(np.minimum(step, 0.0))

    def log_churn_gradient(self, params: Params, n) -> np.ndarray:
        step = log_survival_step(*self.shape(params), n)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            # d log(1 - e^D) = -dD / (e^-D - 1), D = log S(n + 1) - log S(n) < 0.
            weight = -1.0 / np.expm1(-step)
        g_now = self.log_survival_gradient(params, n)
        g_later = self.log_survival_gradient(params, np.add(n, 1.0))
        return g_now + weight * (g_later - g_now)

    def compiled_likelihood(self, fit_data: FitData) -> CompiledContract:
        """The numba kernel of the weighted likelihood on ``fit_data`` (for the samplers; the
        sBG's too, by its number of parameters)."""
        return CompiledContract.of(fit_data["n"], fit_data["churned"], fit_data.weights)

    def simulate(self, params: Params, periods: np.ndarray, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray]:
        alpha, beta, c = (np.broadcast_to(p, periods.shape) for p in self.shape(params))
        theta = rng.beta(alpha, beta)
        # T > t  <=>  U < (1 - theta)^(t^c)  <=>  t < (log U / log(1 - theta))^(1/c).
        with np.errstate(divide="ignore"):
            ratio = np.log(rng.uniform(size=periods.shape)) / np.log1p(-theta)
            lifetime = np.maximum(np.ceil(ratio ** (1.0 / c)), 1.0)
        churned = lifetime <= periods
        return np.where(churned, lifetime - 1.0, periods), churned


class ShiftedBetaGeoFamily(BetaDiscreteWeibullFamily):
    """The sBG declaration (alpha, beta): the BdW at c = 1, with its closed forms."""

    name: ClassVar[str] = "sbg"
    title: ClassVar[str] = "sBG"
    aliases: ClassVar[tuple[str, ...]] = ("shiftedbetageo", "shifted-beta-geometric")
    parameters = BetaDiscreteWeibullFamily.parameters[:2]
    target_accept: ClassVar[float] = 0.8  # two parameters, no ridge along c

    def shape(self, params: Params):
        return params[0], params[1], 1.0

    def log_churn(self, params: Params, n) -> np.ndarray:
        # P(T = n + 1) = S(n) alpha / (alpha + beta + n): no difference of survivals.
        alpha, beta, _ = self.shape(params)
        return np.log(alpha) - np.log(alpha + beta + n) + self.log_survival(params, n)

    def log_churn_gradient(self, params: Params, n) -> np.ndarray:
        alpha, beta, _ = self.shape(params)
        inverse = 1.0 / (alpha + beta + np.asarray(n, dtype=float))
        return self.log_survival_gradient(params, n) + np.stack(
            np.broadcast_arrays(1.0 / alpha - inverse, -inverse))

    def residual_lifetime(self, params: Params, n: np.ndarray, discount_rate: float,
                          horizon: float) -> np.ndarray:
        """Fader & Hardie (2010): ``(beta + n) / (alpha + beta + n) 2F1(1, beta + n + 1;
        alpha + beta + n + 1; z)`` with z = 1 / (1 + d), times z (the first further renewal
        is a period away); the series where 2F1 fails or the horizon is finite."""
        if np.isfinite(horizon):
            return discounted_survival_series(self, params, n, discount_rate, horizon)
        alpha, beta, _ = self.shape(params)
        z = 1.0 / (1.0 + discount_rate)
        b_n = beta + n
        log_value = log_hyp2f1_forms(
            (np.log(z) + np.log(b_n) - np.log(alpha + b_n), 1.0, b_n + 1.0,
             alpha + b_n + 1.0, z), exact_fallback=False)
        value = np.exp(log_value)
        failed = ~np.isfinite(value)
        if failed.any():
            shape = value.shape
            series = discounted_survival_series(
                self, tuple(np.broadcast_to(p, shape)[failed] for p in params),
                np.broadcast_to(n, shape)[failed], discount_rate, horizon)
            value[failed] = series
        return value


BETA_DISCRETE_WEIBULL = BetaDiscreteWeibullFamily()
SHIFTED_BETA_GEO = ShiftedBetaGeoFamily()


class ShiftedBetaGeoModel(ContractPredictions, MLEModel):
    """sBG contractual retention model fitted by maximum likelihood.

    Fitted on a contract table (``renewals``, ``churned`` per customer; see
    :func:`clvmodels.contract_summary` and :func:`clvmodels.cohort_to_customers`).

    Static covariates (``dropout_covariates=``, columns of the contract table) shift the
    log-odds of the mean churn probability: ``alpha_i = alpha exp(g_dropout' z_i)``
    (positive: churning sooner). Per-customer predictions (residual lifetime, P(active),
    elasticity) use each customer's own alpha; the curves take ``covariates=`` (a
    profile).

    Attributes
    ----------
    params_ : Series
        ``alpha``, ``beta``: each customer's churn probability per period ~ Beta(alpha, beta).

    Examples
    --------
    >>> from clvmodels import ShiftedBetaGeoModel, cohort_to_customers, load_retention_cohorts
    >>> cohorts = load_retention_cohorts()
    >>> table = cohort_to_customers(cohorts.loc[:7, "high_end"], time_unit="Y")
    >>> ShiftedBetaGeoModel().fit(table).params_.round(3).tolist()
    [0.668, 3.806]
    """

    family = SHIFTED_BETA_GEO


class BayesianShiftedBetaGeoModel(ContractPredictions, BayesianModel):
    """sBG model with a posterior over alpha and beta (PyMC; the ``bayes`` extra).

    Default priors: log-normal, median 1, log-scale sd 2 (see
    :class:`~clvmodels.estimation.bayesian.BayesianModel`).
    """

    family = SHIFTED_BETA_GEO


class BetaDiscreteWeibullModel(ContractPredictions, MLEModel):
    """Beta-discrete-Weibull contractual retention model fitted by maximum likelihood.

    Static covariates (``dropout_covariates=``, columns of the contract table) shift the
    log-odds of the mean churn probability: ``alpha_i = alpha exp(g_dropout' z_i)``
    (positive: churning sooner). Per-customer predictions (residual lifetime, P(active),
    elasticity) use each customer's own alpha; the curves take ``covariates=`` (a
    profile).

    Attributes
    ----------
    params_ : Series
        ``alpha``, ``beta`` (churn probability ~ Beta(alpha, beta)) and ``c`` (duration
        dependence: a customer's churn hazard falls with tenure for c < 1, rises for c > 1;
        c = 1 is the sBG).
    """

    family = BETA_DISCRETE_WEIBULL


class BayesianBetaDiscreteWeibullModel(ContractPredictions, BayesianModel):
    """BdW model with a posterior over alpha, beta and c (PyMC; the ``bayes`` extra)."""

    family = BETA_DISCRETE_WEIBULL


__all__ = ["BETA_DISCRETE_WEIBULL", "SHIFTED_BETA_GEO", "BayesianBetaDiscreteWeibullModel",
           "BayesianShiftedBetaGeoModel", "BetaDiscreteWeibullFamily",
           "BetaDiscreteWeibullModel", "ShiftedBetaGeoFamily", "ShiftedBetaGeoModel",
           "log_beta_ratio", "log_survival", "log_survival_gradient",
           "log_survival_step"]
