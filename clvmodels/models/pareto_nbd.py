"""Pareto/NBD (Schmittlein, Morrison & Colombo 1987).

While alive a customer buys at Poisson rate lambda ~ Gamma(r, alpha); the lifetime is
exponential with rate mu ~ Gamma(s, beta). Per row ``LL = c + logaddexp(u, v)`` with
``c = lnG(r + x) - lnG(r) + r ln(alpha) + s ln(beta)``, ``u = -(r + x) ln(alpha + T)
- s ln(beta + T)`` (alive at T) and ``v = ln(s) + ln I`` (gone in (t_x, T]), where
``I = integral_{t_x}^T (alpha + tau)^-(r + x) (beta + tau)^-(s + 1) dtau``.

The per-row likelihood takes I from its closed form (2F1); the fit's value, gradient and
analytic Hessian take I and its derivatives from one quadrature per distinct row
(:mod:`clvmodels.models.pareto_nbd_quadrature`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from scipy.special import digamma, expit, exprel, gammaln, hyp2f1, xlogy, zeta

from clvmodels._numerics import log1mexp, log_integral_concave
from clvmodels.estimation.bayesian import BayesianModel
from clvmodels.estimation.family import (
    CovariateLink,
    Parameter,
    Params,
    PurchaseFamily,
    by_levels,
    scalar_params,
)
from clvmodels.estimation.fitdata import FitData
from clvmodels.estimation.mle import MLEModel
from clvmodels.estimation.predictions import PurchasePredictions
from clvmodels.models.pareto_nbd_dynamic import TimeVaryingCovariates
from clvmodels.models.pareto_nbd_quadrature import (
    dropout_integral_derivatives,
    dropout_integral_pooled,
    log_dropout_integral_adaptive,
)

# A customer's purchase-count integral starts at a tiny fraction of t instead of 0 (where the
# log integrand of the quadrature in log time is -inf): e**-60 of t leaves out less than
# e**-60 of the integral.
_LOG_TIME_FLOOR = 60.0


def log_dropout_integral(r, alpha, s, beta, x, t_x, T):
    """``log I``, ``I = integral_{t_x}^T (alpha+tau)^-(r+x) (beta+tau)^-(s+1) dtau``.

    The closed form of Fader & Hardie's note uses the Gauss hypergeometric function on the branch
    with argument in [0, 1): ``I = (F(t_x) - F(T)) / m`` with ``m = r + s + x`` and
    ``F(tau) = (base + tau)^-m 2F1(m, b; m + 1; |alpha - beta| / (base + tau))``. Where SciPy's
    2F1 is slow and fails (see :func:`needs_quadrature`) or cannot evaluate it (huge x with
    alpha far from beta) the integral is computed by quadrature of its log-concave integrand
    instead.
    """
    r, alpha, s, beta, x, t_x, T = np.broadcast_arrays(r, alpha, s, beta, x, t_x, T)
    quadrature = needs_quadrature(r, alpha, s, beta, x, t_x)
    result = np.full(r.shape, -np.inf)
    closed = np.flatnonzero(~quadrature)
    values, valid = _closed_form(*(v.flat[closed] for v in (r, alpha, s, beta, x, t_x, T)))
    result.flat[closed] = values
    quadrature.flat[closed] = ~valid
    # When t_x == T the interval is empty and I = 0 exactly, whatever F evaluates to.
    quadrature &= t_x < T
    if np.any(quadrature):
        result[quadrature] = log_dropout_integral_quadrature(
            *(v[quadrature] for v in (r, alpha, s, beta, x, t_x, T)))
    return result


def needs_quadrature(r, alpha, s, beta, x, t_x) -> np.ndarray:
    """Rows whose closed form SciPy evaluates slowly or not at all: 2F1's argument z (largest
    at t_x) above 0.9, or its value near the float range, ``(1 - z)^-b`` beyond e**500. There
    SciPy's hyp2f1 takes up to ~1 ms per row and mostly returns inf or NaN (a fit of CDNOW
    plus one customer with 1e6 purchases spent minutes in it); the quadrature takes ~10 us.
    Elsewhere it takes ~1 us (measured with SciPy 1.17 over m and b from 1.5 to 1e6)."""
    base, second, gap = _branch(r, alpha, s, beta, x)
    z = gap / (base + t_x)
    with np.errstate(divide="ignore"):
        return (z > 0.9) | (second * -np.log1p(-z) > 500.0)


def _branch(r, alpha, s, beta, x) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The closed form's branch: ``base`` and 2F1's second argument (from the larger of alpha
    and beta), and ``gap = |alpha - beta|``, so that 2F1's argument is gap / (base + tau)."""
    alpha_larger = alpha >= beta
    return (np.where(alpha_larger, alpha, beta), np.where(alpha_larger, s + 1, r + x),
            np.abs(alpha - beta))


def _closed_form(r, alpha, s, beta, x, t_x, T) -> tuple[np.ndarray, np.ndarray]:
    """``log I`` from the closed form, and where it is valid (both ends finite, I >= 0)."""
    m = r + s + x
    base, second, gap = _branch(r, alpha, s, beta, x)

    def log_f(tau):
        return -m * np.log(base + tau) + np.log(hyp2f1(m, second, m + 1, gap / (base + tau)))

    with np.errstate(all="ignore"):
        log_f_tx, log_f_T = log_f(t_x), log_f(T)
        result = log_f_tx - np.log(m) + log1mexp(log_f_T - log_f_tx)
    return result, np.isfinite(log_f_tx) & np.isfinite(log_f_T) & (log_f_T <= log_f_tx)


def log_dropout_integral_quadrature(r, alpha, s, beta, x, t_x, T) -> np.ndarray:
    """The same integral by adaptive quadrature of its log-concave integrand in
    u = log(min(alpha, beta) + tau) (see :mod:`clvmodels.models.pareto_nbd_quadrature`)."""
    return log_dropout_integral_adaptive(r, alpha, s, beta, x, t_x, T)


class ParetoNBDFamily(PurchaseFamily):
    """The Pareto/NBD declaration (see the module docstring)."""

    name: ClassVar[str] = "pnbd"
    title: ClassVar[str] = "Pareto/NBD"
    aliases: ClassVar[tuple[str, ...]] = ("paretonbd",)
    parameters = (
        Parameter("r", "shape of the purchase rate lambda ~ Gamma(r, alpha)"),
        Parameter("alpha", "scale of the purchase rate (in the data's time unit)",
                  in_data_unit=True),
        Parameter("s", "shape of the dropout rate mu ~ Gamma(s, beta)"),
        Parameter("beta", "scale of the dropout rate (in the data's time unit)",
                  in_data_unit=True),
    )
    # NUTS's own default. The posterior of s and beta is a long curved ridge (s / beta, the
    # mean dropout rate, is far better determined than either), which in log-parameters took
    # 0.9 (at 0.8 one divergence in 12,000 CDNOW draws, R-hat up to 1.012); nutpie's native
    # model samples the survival coordinates (models/dropout_coordinates.py), where 0.8 left no
    # divergence and R-hat <= 1.007 on CDNOW over 12 seeds and on the apparel data with
    # covariates over 2, in ~30% fewer gradient calls than 0.9.
    target_accept: ClassVar[float] = 0.8
    has_hessian: ClassVar[bool] = True
    #: Static covariates, as CLVTools' and Fader & Hardie's note 019 (2007):
    #: ``alpha_i = alpha exp(-g_purchase' z)``, ``beta_i = beta exp(-g_dropout' z)``.
    covariate_links: ClassVar[tuple[CovariateLink, ...]] = (
        CovariateLink("purchase", ("alpha",), -1, "buying more often"),
        CovariateLink("dropout", ("beta",), -1, "leaving sooner"),
    )

    def initial_params(self, fit_data: FitData) -> np.ndarray:
        r, alpha, _, _ = super().initial_params(fit_data)
        # Mean lifetime s / beta of the order of the observation length.
        beta = float(np.average(fit_data["T"], weights=fit_data.weights))
        return np.array([r, alpha, 1.0, beta])

    # ------------------------------------------------------------------------- likelihood
    def likelihood_parts(self, params: Params, x, t_x, T, x_levels=None):
        r, alpha, s, beta = params
        (log_gamma_x,) = by_levels(lambda values: (gammaln(r + values),), x, x_levels)
        c = log_gamma_x - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        u = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
        v = np.log(s) + log_dropout_integral(r, alpha, s, beta, x, t_x, T)
        return c, u, v

    def log_likelihood_gradient(self, params: Params, fit_data: FitData):
        """Per row, with ``p = expit(v - u)`` the share of the dropped-out term:
        ``dLL = dc + (1 - p) du + p dv``; ``dv`` from one quadrature of the dropout integral
        (:func:`~clvmodels.models.pareto_nbd_quadrature.dropout_integral_derivatives`).

        The values are :meth:`log_likelihood`'s (the closed form where SciPy evaluates it),
        so that the two agree to rounding even where a row's log-likelihood is near 0; the fit
        (:meth:`derivatives`) takes them from the quadrature, which agrees to ~1e-13 of the
        terms.
        """
        _, gradient, _, _ = self._row_derivatives(params, fit_data, hessian=False)
        return self.log_likelihood(params, fit_data), gradient

    def derivatives(self, params: Params, fit_data: FitData, hessian: bool = False):
        """The weighted totals, from the per-row terms of :meth:`log_likelihood_gradient`.

        Per row ``LL = c + logaddexp(u, v)``, so with ``p = expit(v - u)`` the Hessian is
        ``c'' + (1 - p) u'' + p v'' + p (1 - p) (v' - u') (v' - u')^T``; ``v''`` is the
        second derivative of ``log s + log I`` from the same quadrature nodes as ``v'``.
        Returns ``(total, gradient, hessian or None)``.
        """
        rows, gradient, second, dropped = self._row_derivatives(params, fit_data, hessian)
        weights = fit_data.weights
        total, gradient_total = float(weights @ rows), gradient @ weights
        if not hessian:
            return total, gradient_total, None
        terms, pooled_dropout, spread = second
        weights_dropped = weights * dropped
        result = pooled_dropout(weights_dropped)
        result[2, 2] -= weights_dropped.sum() / params[2] ** 2  # v'' of log s
        result += np.einsum("ijn,n->ij", terms, weights)
        result += (spread * (weights * dropped * (1.0 - dropped))) @ spread.T
        return total, gradient_total, 0.5 * (result + result.T)

    def _row_derivatives(self, params: Params, fit_data: FitData, hessian: bool):
        """Per row: LL (from the quadrature), its gradient (4, rows), the parts of the
        Hessian with ``hessian`` (else None) and the dropped-out share p.

        The Hessian's parts (see :meth:`derivatives`): ``c'' + (1 - p) u''`` per row
        (4, 4, rows), a function of row weights giving the weighted sum of the rows' Hessians
        of log I (:func:`~clvmodels.models.pareto_nbd_quadrature.dropout_integral_pooled`;
        the weights are p), and ``v' - u'`` (4, rows), whose outer product is weighted by
        p (1 - p).
        """
        r, alpha, s, beta = params
        x, t_x, T = fit_data["x"], fit_data["t_x"], fit_data["T"]
        levels = fit_data.levels("x") if scalar_params(params) else None
        if hessian:  # shared parameters: the rows' Hessians of log I summed at once
            log_i, d_i, pooled_dropout = dropout_integral_pooled(r, alpha, s, beta, x, t_x, T)
        else:
            log_i, d_i, _ = dropout_integral_derivatives(r, alpha, s, beta, x, t_x, T)
        (log_gamma_x, digamma_x) = by_levels(
            lambda values: (gammaln(r + values), digamma(r + values)), x, levels)
        log_alpha_T, log_beta_T = np.log(alpha + T), np.log(beta + T)
        c = log_gamma_x - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        u = -(r + x) * log_alpha_T - s * log_beta_T
        v = np.log(s) + log_i
        dropped = expit(v - u)
        shape = np.shape(dropped)
        d_c = np.array(np.broadcast_arrays(
            digamma_x - digamma(r) + np.log(alpha), r / alpha + 0 * x, np.log(beta) + 0 * x,
            s / beta + 0 * x))
        d_u = np.array(np.broadcast_arrays(-log_alpha_T, -(r + x) / (alpha + T), -log_beta_T,
                                           -s / (beta + T)))
        d_v = d_i.reshape(4, *shape).copy()
        d_v[2] += 1.0 / s
        gradient = d_c + d_u + dropped * (d_v - d_u)
        rows = c + np.logaddexp(u, v)
        if not hessian:
            return rows, gradient, None, dropped
        (trigamma_x,) = by_levels(lambda values: (zeta(2, r + values),), x, levels)
        alive = 1.0 - dropped
        # c'' + (1 - p) u'': p enters through the dropped-out part alone.
        terms = np.zeros((4, 4, *shape))
        terms[0, 0] = trigamma_x - zeta(2, r)
        terms[0, 1] = terms[1, 0] = 1.0 / alpha - alive / (alpha + T)
        terms[1, 1] = -r / alpha**2 + alive * (r + x) / (alpha + T) ** 2
        terms[2, 3] = terms[3, 2] = 1.0 / beta - alive / (beta + T)
        terms[3, 3] = -s / beta**2 + alive * s / (beta + T) ** 2
        return rows, gradient, (terms, pooled_dropout, d_v - d_u), dropped

    # ------------------------------------------------------------------------- sampling
    def compiled_row_gradient(self) -> Any:
        """:meth:`log_likelihood_gradient` by the numba kernel
        (:func:`~clvmodels.models.pareto_nbd_kernel.row_log_likelihood_gradient`: the
        series or quadrature of the dropout integral per row), or None without numba."""
        try:
            from clvmodels.models.pareto_nbd_kernel import row_log_likelihood_gradient
        except ImportError:  # numba and PyTensor come with the bayes extra
            return None
        return row_log_likelihood_gradient

    def compiled_likelihood(self, fit_data: FitData) -> Any:
        """The numba kernel of the weighted likelihood on ``fit_data`` for the samplers
        (:class:`~clvmodels.models.pareto_nbd_kernel.CompiledParetoNBD`; imported here, on
        first use: it needs numba)."""
        from clvmodels.models.pareto_nbd_kernel import CompiledParetoNBD

        return CompiledParetoNBD(fit_data)

    # ------------------------------------------------------------------------- the future
    def updated_params(self, params: Params, x, T) -> tuple:
        r, alpha, s, beta = params
        return r + x, alpha + T, s + np.zeros_like(x), beta + T  # broadcasts over draws of s

    def future_expected(self, updated: tuple, t) -> np.ndarray:
        """E[X(t)] = r beta / (alpha (s-1)) [1 - (beta/(beta+t))^(s-1)], written stably at s=1."""
        r, alpha, s, beta = updated
        log_growth = np.log1p(t / beta)
        return r * beta / alpha * log_growth * exprel(-(s - 1) * log_growth)

    def future_log_rate(self, updated: tuple, t) -> np.ndarray:
        r, alpha, s, beta = updated
        return np.log(r / alpha) - s * np.log1p(t / beta)

    def future_pmf(self, updated: tuple, n: int, t) -> np.ndarray:
        """P(X(t) = n): alive at t, plus dropping out at tau < t after n purchases in (0, tau].

        The second part integrates over the lifetime in u = log(tau), where its log integrand
        is concave.
        """
        r, alpha, s, beta, t = np.broadcast_arrays(*updated, np.asarray(t, dtype=float))
        log_nb_constant = gammaln(r + n) - gammaln(r) - gammaln(n + 1) + r * np.log(alpha)

        def log_nb(tau):  # log P(n purchases in (0, tau]) at rate ~ Gamma(r, alpha)
            with np.errstate(divide="ignore", invalid="ignore"):
                return log_nb_constant - (r + n) * np.log(alpha + tau) + xlogy(n, tau)

        log_alive = s * (np.log(beta) - np.log(beta + t)) + log_nb(t)
        log_density_constant = np.log(s) + s * np.log(beta)

        def log_f(u):
            tau = np.exp(u)
            return log_density_constant - (s + 1) * np.log(beta + tau) + log_nb(tau) + u

        def dlog_f(u):
            tau = np.exp(u)
            return (n + 1) - (s + 1) * tau / (beta + tau) - (r + n) * tau / (alpha + tau)

        positive = t > 0
        log_t = np.log(np.where(positive, t, 1.0))
        log_dropped = log_integral_concave(
            log_f, dlog_f, log_t - _LOG_TIME_FLOOR, log_t, breakpoints=[np.log(alpha), np.log(beta)]
        )
        pmf = np.exp(np.logaddexp(log_alive, log_dropped))
        # Over an empty period nothing is bought.
        return np.where(positive, pmf, float(n == 0))

    def future_rate_scale(self, updated: tuple) -> np.ndarray:
        return updated[3]

    def simulate(self, params: Params, T: np.ndarray, holdout: float,
                 rng: np.random.Generator):
        r, alpha, s, beta = params
        n = len(T)
        rate = rng.gamma(r, 1.0 / alpha, n)
        lifetime = rng.exponential(1.0 / rng.gamma(s, 1.0 / beta, n))
        active = np.minimum(lifetime, T)
        x = rng.poisson(rate * active)
        # The last of x uniform purchase times in (0, active] is active * U ** (1 / x).
        t_x = np.where(x > 0, active * rng.random(n) ** (1.0 / np.maximum(x, 1)), 0.0)
        x_holdout = rng.poisson(rate * np.clip(lifetime - T, 0.0, holdout))
        return x, t_x, x_holdout


PARETO_NBD = ParetoNBDFamily()


class ParetoNBDModel(TimeVaryingCovariates, PurchasePredictions, MLEModel):
    """Pareto/NBD model fitted by maximum likelihood.

    Takes ``penalizer`` and keeps the fitted state of
    :class:`~clvmodels.estimation.mle.MLEModel` (``covariance_``, ``log_likelihood_``, ...).
    Covariates may also vary in time: ``fit(rfm, time_varying_covariates=table)``, then
    ``with_time_varying_covariates(table)`` for the predictions (see
    :mod:`clvmodels.models.pareto_nbd_dynamic`).

    Attributes
    ----------
    params_ : Series
        ``r``, ``alpha`` (purchase rate ~ Gamma(r, alpha)), ``s``, ``beta`` (dropout rate
        ~ Gamma(s, beta)); alpha and beta in the data's time unit.
    """

    family = PARETO_NBD


class BayesianParetoNBDModel(PurchasePredictions, BayesianModel):
    """Pareto/NBD model with a posterior over its parameters (PyMC; the ``bayes`` extra).

    The likelihood is :class:`ParetoNBDModel`'s (the family's NumPy code with its gradient),
    on customers merged into distinct weighted rows. Default priors: log-normals with
    log-scale sd 2 around ``r = s = 1``, ``alpha`` the time between purchases in the data and
    ``beta`` the mean T (a mean lifetime of the order of the observation length), so they
    follow the data's time unit.

    Parameters
    ----------
    priors : dict, optional
        Replacement priors by parameter name (unnamed PyMC distributions, positive support).

    Notes
    -----
    The likelihood runs in NumPy/SciPy (nutpie calls it in numba's object mode), its value
    and gradient from one quadrature of the dropout integral per distinct row
    (:mod:`clvmodels.models.pareto_nbd_quadrature`); ``method="map"`` takes seconds.
    """

    family = PARETO_NBD
