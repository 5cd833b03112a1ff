"""Pareto/NBD (Schmittlein, Morrison & Colombo 1987).

While alive a customer buys at Poisson rate lambda ~ Gamma(r, alpha); the lifetime is
exponential with rate mu ~ Gamma(s, beta). Per row ``LL = c + logaddexp(u, v)`` with
``c = lnG(r + x) - lnG(r) + r ln(alpha) + s ln(beta)``, ``u = -(r + x) ln(alpha + T)
- s ln(beta + T)`` (alive at T) and ``v = ln(s) + ln I`` (gone in (t_x, T]), where
``I = integral_{t_x}^T (alpha + tau)^-(r + x) (beta + tau)^-(s + 1) dtau``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from scipy.special import digamma, expit, exprel, gammaln, hyp2f1, xlogy

from clvmodels._numerics import log1mexp, log_integral_concave
from clvmodels.estimation.bayesian import BayesianModel
from clvmodels.estimation.family import Parameter, Params, PurchaseFamily, by_levels
from clvmodels.estimation.fitdata import FitData
from clvmodels.estimation.mle import MLEModel
from clvmodels.estimation.predictions import PurchasePredictions

# A customer's purchase-count integral starts at a tiny fraction of t instead of 0 (where the
# log integrand of the quadrature in log time is -inf): e**-60 of t leaves out less than
# e**-60 of the integral.
_LOG_TIME_FLOOR = 60.0
# Relative step of the central differences of log I in r and s: the truncation error
# (~step**2) and the rounding error (~1e-16 * |log I| / step) balance near 1e-9.
_STEP = 1e-4


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


def log_dropout_integral_quadrature(r, alpha, s, beta, x, t_x, T, partials: bool = False):
    """The same integral by quadrature in u = log(c + tau), c = min(alpha, beta).

    In u the log integrand ``u - (r+x) log(alpha-c+e^u) - (s+1) log(beta-c+e^u)`` is concave
    (one of the logs is linear in u), and bends where e^u reaches |alpha - beta|. With
    ``partials``, also the derivatives of ``log I`` in (r, alpha, s, beta): averages over the
    integrand of the derivatives of its log, ``-log(alpha + tau)``, ``-(r + x) / (alpha +
    tau)``, ``-log(beta + tau)`` and ``-(s + 1) / (beta + tau)``, from the same nodes.
    """
    c = np.minimum(alpha, beta)
    a_shift, b_shift = alpha - c, beta - c
    k_a, k_b = r + x, s + 1
    last = {}  # the quadrature's nodes, evaluated by log_f, then by moments

    def log_f(u):
        e_u = np.exp(u)
        purchase, dropout = a_shift + e_u, b_shift + e_u
        log_purchase, log_dropout = np.log(purchase), np.log(dropout)
        if partials:
            last.update(u=u, terms=(purchase, dropout, log_purchase, log_dropout))
        return u - k_a * log_purchase - k_b * log_dropout

    def dlog_f(u):
        e_u = np.exp(u)
        return 1 - k_a * e_u / (a_shift + e_u) - k_b * e_u / (b_shift + e_u)

    def moments(u):
        if last.get("u") is not u:
            log_f(u)
        purchase, dropout, log_purchase, log_dropout = last["terms"]
        result = np.empty((4, *u.shape))
        np.negative(log_purchase, out=result[0])
        np.divide(-k_a, purchase, out=result[1])
        np.negative(log_dropout, out=result[2])
        np.divide(-k_b, dropout, out=result[3])
        return result

    with np.errstate(divide="ignore"):
        bend = np.log(np.abs(alpha - beta))
    lo, hi = np.log(c + t_x), np.log(c + T)
    bend = np.where(np.isfinite(bend), bend, lo)
    return log_integral_concave(log_f, dlog_f, lo, hi, breakpoints=[bend],
                                moments=moments if partials else None)


def log_dropout_integral_partials(r, alpha, s, beta, x, t_x, T) -> tuple[np.ndarray, ...]:
    """``log I`` and its partial derivatives in (r, alpha, s, beta), per row.

    From the closed form where SciPy evaluates it well: in alpha and beta exactly
    (differentiating the integrand brings down a factor -(r + x) / (alpha + tau), or
    -(s + 1) / (beta + tau), which is the integrand with r, or s, raised by one), in r and s
    (log-weighted integrals without a closed form) by central differences, accurate to ~1e-9
    relative: seven evaluations per row. Elsewhere (:func:`needs_quadrature`, or a closed form
    that fails) all five from one quadrature. Rows with an empty interval (t_x = T,
    ``log I = -inf``) get zero partials.
    """
    arrays = np.broadcast_arrays(r, alpha, s, beta, x, t_x, T)
    shape = arrays[0].shape
    r, alpha, s, beta, x, t_x, T = (np.asarray(v, dtype=float).reshape(-1) for v in arrays)
    base = np.full(len(r), -np.inf)
    partials = np.zeros((4, len(r)))
    nonempty = t_x < T
    quadrature = needs_quadrature(r, alpha, s, beta, x, t_x) & nonempty
    closed = np.flatnonzero(~quadrature & nonempty)
    if len(closed):
        rc, ac, sc, bc, xc, txc, Tc = (v[closed] for v in (r, alpha, s, beta, x, t_x, T))
        h_r, h_s = _STEP * rc, _STEP * sc
        shifted = [(rc, sc), (rc + 1, sc), (rc, sc + 1), (rc + h_r, sc), (rc - h_r, sc),
                   (rc, sc + h_s), (rc, sc - h_s)]
        n = len(shifted)
        values, valid = _closed_form(
            np.concatenate([point[0] for point in shifted]), np.tile(ac, n),
            np.concatenate([point[1] for point in shifted]), np.tile(bc, n),
            *(np.tile(column, n) for column in (xc, txc, Tc)),
        )
        values, valid = values.reshape(n, -1), valid.reshape(n, -1).all(axis=0)
        with np.errstate(invalid="ignore"):
            base[closed] = values[0]
            partials[:, closed] = (
                (values[3] - values[4]) / (2 * h_r),
                -(xc + rc) * np.exp(values[1] - values[0]),
                (values[5] - values[6]) / (2 * h_s),
                -(sc + 1) * np.exp(values[2] - values[0]),
            )
        quadrature[closed[~valid]] = True
    if np.any(quadrature):
        base[quadrature], partials[:, quadrature] = log_dropout_integral_quadrature(
            *(v[quadrature] for v in (r, alpha, s, beta, x, t_x, T)), partials=True)
    return (base.reshape(shape), *(partial.reshape(shape) for partial in partials))


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
    # The posterior of s and beta is a long curved ridge (s / beta, the mean dropout rate, is
    # far better determined than either): at 0.8 NUTS diverged once in 12,000 CDNOW draws,
    # 3.6 posterior sd out along it; 0.9 costs ~1.25x the sampling time.
    target_accept: ClassVar[float] = 0.9

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
        ``dLL = dc + (1 - p) du + p dv``; ``dv`` from :func:`log_dropout_integral_partials`."""
        r, alpha, s, beta = params
        x, t_x, T = fit_data["x"], fit_data["t_x"], fit_data["T"]
        log_i, d_r, d_alpha, d_s, d_beta = log_dropout_integral_partials(
            r, alpha, s, beta, x, t_x, T)
        c = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        u = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
        v = np.log(s) + log_i
        dropped = expit(v - u)
        alive = 1.0 - dropped
        gradient = np.array([
            digamma(r + x) - digamma(r) + np.log(alpha) - alive * np.log(alpha + T)
            + dropped * d_r,
            r / alpha - alive * (r + x) / (alpha + T) + dropped * d_alpha,
            np.log(beta) - alive * np.log(beta + T) + dropped * (1 / s + d_s),
            s / beta - alive * s / (beta + T) + dropped * d_beta,
        ])
        return c + np.logaddexp(u, v), gradient

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


class ParetoNBDModel(PurchasePredictions, MLEModel):
    """Pareto/NBD model fitted by maximum likelihood.

    Takes ``penalizer`` and keeps the fitted state of
    :class:`~clvmodels.estimation.mle.MLEModel` (``covariance_``, ``log_likelihood_``, ...).

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
    The likelihood runs in NumPy/SciPy (nutpie calls it in numba's object mode) and its
    gradient costs about seven evaluations of the dropout integral: NUTS takes minutes on
    CDNOW with the default 4 x 2,000 iterations; ``method="map"`` takes seconds.
    """

    family = PARETO_NBD
