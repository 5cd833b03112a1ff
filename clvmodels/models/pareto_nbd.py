"""Pareto/NBD (Schmittlein, Morrison & Colombo 1987).

While alive a customer buys at Poisson rate lambda ~ Gamma(r, alpha); the lifetime is
exponential with rate mu ~ Gamma(s, beta).
"""

from __future__ import annotations

import numpy as np
from scipy.special import exprel, gammaln, hyp2f1, xlogy

from clvmodels._numerics import log1mexp, log_integral_concave
from clvmodels.models._base import FitData
from clvmodels.models._transaction import Params, TransactionModel, by_levels

# A customer's purchase-count integral starts at a tiny fraction of t instead of 0 (where the
# log integrand of the quadrature in log time is -inf): e**-60 of t leaves out less than
# e**-60 of the integral.
_LOG_TIME_FLOOR = 60.0


def _log_dropout_integral(r, alpha, s, beta, x, t_x, T):
    """``log I``, ``I = integral_{t_x}^T (alpha+tau)^-(r+x) (beta+tau)^-(s+1) dtau``.

    The closed form of Fader & Hardie's note uses the Gauss hypergeometric function on the branch
    with argument in [0, 1): ``I = (F(t_x) - F(T)) / m`` with ``m = r + s + x`` and
    ``F(tau) = (base + tau)^-m 2F1(m, b; m + 1; |alpha - beta| / (base + tau))``. Where SciPy's
    2F1 cannot evaluate it (huge x with alpha far from beta) the integral is computed by
    quadrature of its log-concave integrand instead.
    """
    r, alpha, s, beta, x, t_x, T = np.broadcast_arrays(r, alpha, s, beta, x, t_x, T)
    m = r + s + x
    alpha_larger = alpha >= beta
    base = np.where(alpha_larger, alpha, beta)
    second = np.where(alpha_larger, s + 1, r + x)
    gap = np.abs(alpha - beta)

    def log_f(tau):
        return -m * np.log(base + tau) + np.log(hyp2f1(m, second, m + 1, gap / (base + tau)))

    with np.errstate(all="ignore"):
        log_f_tx, log_f_T = log_f(t_x), log_f(T)
        result = log_f_tx - np.log(m) + log1mexp(log_f_T - log_f_tx)
    # Valid when both ends are finite and F(t_x) >= F(T) (I >= 0). When t_x == T the
    # interval is empty and I = 0 exactly, whatever F evaluates to.
    valid = np.isfinite(log_f_tx) & np.isfinite(log_f_T) & (log_f_T <= log_f_tx)
    empty = t_x >= T
    result = np.where(empty, -np.inf, result)
    bad = ~valid & ~empty
    if np.any(bad):
        result[bad] = _log_dropout_integral_quadrature(
            r[bad], alpha[bad], s[bad], beta[bad], x[bad], t_x[bad], T[bad]
        )
    return result


def _log_dropout_integral_quadrature(r, alpha, s, beta, x, t_x, T):
    """The same integral by quadrature in u = log(c + tau), c = min(alpha, beta).

    In u the log integrand ``u - (r+x) log(alpha-c+e^u) - (s+1) log(beta-c+e^u)`` is concave
    (one of the logs is linear in u), and bends where e^u reaches |alpha - beta|.
    """
    c = np.minimum(alpha, beta)
    a_shift, b_shift = alpha - c, beta - c
    k_a, k_b = r + x, s + 1

    def log_f(u):
        e_u = np.exp(u)
        return u - k_a * np.log(a_shift + e_u) - k_b * np.log(b_shift + e_u)

    def dlog_f(u):
        e_u = np.exp(u)
        return 1 - k_a * e_u / (a_shift + e_u) - k_b * e_u / (b_shift + e_u)

    with np.errstate(divide="ignore"):
        bend = np.log(np.abs(alpha - beta))
    lo, hi = np.log(c + t_x), np.log(c + T)
    bend = np.where(np.isfinite(bend), bend, lo)
    return log_integral_concave(log_f, dlog_f, lo, hi, breakpoints=[bend])


def _log_likelihood_parts(params, x, t_x, T, x_levels=None):
    """``LL = c + logaddexp(u, v)``: ``u`` alive at T, ``v`` dropped out in (t_x, T]."""
    r, alpha, s, beta = params
    (log_gamma_x,) = by_levels(lambda values: (gammaln(r + values),), x, x_levels)
    c = log_gamma_x - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    u = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    v = np.log(s) + _log_dropout_integral(r, alpha, s, beta, x, t_x, T)
    return c, u, v


class ParetoNBDModel(TransactionModel):
    """Pareto/NBD model fitted by maximum likelihood.

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty on the parameters (see :class:`~clvmodels.models._base.MLEModel`).

    Attributes
    ----------
    params_ : Series
        ``r``, ``alpha`` (purchase rate ~ Gamma(r, alpha)), ``s``, ``beta`` (dropout rate
        ~ Gamma(s, beta)); alpha and beta in the data's time unit.
    log_likelihood_, covariance_, n_customers_, time_unit_
        See :class:`~clvmodels.models._base.MLEModel`.
    """

    param_names = ("r", "alpha", "s", "beta")

    # ------------------------------------------------------------------------- likelihood
    _log_likelihood_parts = staticmethod(_log_likelihood_parts)

    def _initial_params(self, fit_data: FitData) -> np.ndarray:
        r, alpha, _, _ = super()._initial_params(fit_data)
        # Mean lifetime s / beta of the order of the observation length.
        beta = float(np.average(fit_data["T"], weights=fit_data.weights))
        return np.array([r, alpha, 1.0, beta])

    # ------------------------------------------------------------------------- new customers
    @staticmethod
    def _updated_params(params, x, T) -> Params:
        r, alpha, s, beta = params
        return r + x, alpha + T, s + np.zeros_like(x), beta + T  # broadcasts over draws of s

    @staticmethod
    def _expected_new(params: Params, t) -> np.ndarray:
        """E[X(t)] = r beta / (alpha (s-1)) [1 - (beta/(beta+t))^(s-1)], written stably at s=1."""
        r, alpha, s, beta = params
        log_growth = np.log1p(t / beta)
        return r * beta / alpha * log_growth * exprel(-(s - 1) * log_growth)

    @staticmethod
    def _log_rate_new(params: Params, t) -> np.ndarray:
        r, alpha, s, beta = params
        return np.log(r / alpha) - s * np.log1p(t / beta)

    @staticmethod
    def _pmf_new(params: Params, n: int, t) -> np.ndarray:
        """P(X(t) = n): alive at t, plus dropping out at tau < t after n purchases in (0, tau].

        The second part integrates over the lifetime in u = log(tau), where its log integrand
        is concave.
        """
        r, alpha, s, beta, t = np.broadcast_arrays(*params, np.asarray(t, dtype=float))
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

    @staticmethod
    def _rate_scale(params: Params) -> np.ndarray:
        return params[3]

    # ------------------------------------------------------------------------- simulation
    @staticmethod
    def _simulate(params, T, holdout, rng):
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
