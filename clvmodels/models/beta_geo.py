"""BG/NBD: the beta-geometric / negative binomial model (Fader, Hardie & Lee 2005).

While alive a customer buys at Poisson rate lambda ~ Gamma(r, alpha); after each repeat purchase
they drop out with probability p ~ Beta(a, b).
"""

from __future__ import annotations

import numpy as np
from scipy.special import betainc, betaln, digamma, expit, gammaln

from clvmodels._numerics import log_hyp2f1_forms
from clvmodels.models._base import FitData
from clvmodels.models._transaction import (
    Params,
    TransactionModel,
    _integrate_rate,
    by_levels,
)

# Within this distance of a = 1 the closed form of E[X(t)] is 0/0 to rounding: the purchase
# rate, whose formula has no such point, is integrated instead.
_A_NEAR_ONE = 1e-4
# For t below this fraction of alpha, 1 - term cancels (relative error ~ eps * alpha / t): the
# rate is integrated there too.
_SHORT_T = 1e-4


def _log_likelihood_parts(params, x, t_x, T, x_levels=None):
    """The three log terms of the BG/NBD likelihood, ``LL = c + logaddexp(u, v)``.

    ``u`` is the customer still alive at T, ``v`` the customer dropped out right after the last
    purchase (impossible when x = 0, so ``v = -inf`` there). ``x_levels`` (distinct x, and each
    row's index into them) lets the special functions of x run once per distinct count.
    """
    alpha = params[1]
    return _parts_from_logs(params, x, np.log(alpha + T), np.log(alpha + t_x), x_levels)


def _parts_from_logs(params, x, log_T, log_t, x_levels):
    """:func:`_log_likelihood_parts` given ``log(alpha + T)`` and ``log(alpha + t_x)``."""
    r, alpha = params[:2]
    gamma_part, beta_alive, beta_dropped = by_levels(
        lambda values: _level_terms(params, values), x, x_levels
    )
    c = gamma_part + r * np.log(alpha)
    u = beta_alive - (r + x) * log_T
    v = beta_dropped - (r + x) * log_t  # -inf for x = 0
    return c, u, v


def _repeat_buyers(fit_data: FitData):
    """Rows with x > 0 and their x, t_x, weights and x-level codes; weight per x level."""
    values, codes = fit_data.levels("x")
    rows = np.flatnonzero(fit_data["x"] > 0)
    return (rows, fit_data["x"][rows], fit_data["t_x"][rows], fit_data.weights[rows],
            codes[rows], np.bincount(codes, fit_data.weights, len(values)))


def _level_terms(params, x):
    """The likelihood's terms of x alone: log-gamma and the two log-beta ratios."""
    r, _, a, b = params
    log_beta_ab = betaln(a, b)
    x_safe = np.where(x > 0, x, 1.0)  # keeps betaln finite where the term is -inf anyway
    return (
        gammaln(r + x) - gammaln(r),
        betaln(a, b + x) - log_beta_ab,
        np.where(x > 0, betaln(a + 1, b + x_safe - 1) - log_beta_ab, -np.inf),
    )


class BetaGeoModel(TransactionModel):
    """BG/NBD model fitted by maximum likelihood.

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty on the parameters (see :class:`~clvmodels.models._base.MLEModel`).

    Attributes
    ----------
    params_ : Series
        ``r``, ``alpha`` (purchase rate ~ Gamma(r, alpha), alpha in the data's time unit),
        ``a``, ``b`` (dropout probability ~ Beta(a, b)).
    log_likelihood_, covariance_, n_customers_, time_unit_
        See :class:`~clvmodels.models._base.MLEModel`.

    Examples
    --------
    >>> from clvmodels import BetaGeoModel, load_cdnow_summary
    >>> model = BetaGeoModel().fit(load_cdnow_summary())
    >>> model.params_.round(3).tolist()
    [0.243, 4.414, 0.793, 2.426]
    """

    param_names = ("r", "alpha", "a", "b")

    # ------------------------------------------------------------------------- likelihood
    _log_likelihood_parts = staticmethod(_log_likelihood_parts)

    @staticmethod
    def _log_likelihood_and_gradient(params, fit_data: FitData) -> tuple[float, np.ndarray]:
        r, alpha, a, b = params
        x, T, weights = fit_data["x"], fit_data["T"], fit_data.weights
        values, codes = fit_data.levels("x")
        repeat_rows = fit_data.cached("repeat buyers", lambda: _repeat_buyers(fit_data))
        rows, x_rows, t_x_rows, w, codes_rows, level_weight = repeat_rows
        gamma_part, beta_alive, beta_dropped = _level_terms(params, values)
        log_T = np.log(alpha + T)
        u = beta_alive[codes] - (r + x) * log_T
        # Only repeat buyers can have dropped out (v = -inf otherwise): the dropped-out term,
        # the costliest part, is evaluated on their rows alone.
        rx = r + x_rows
        log_t = np.log(alpha + t_x_rows)
        diff = beta_dropped[codes_rows] - rx * log_t - u[rows]
        # Share of the dropped-out term; log(1 + e**diff) from the larger share, which is
        # exact (and cheaper than logaddexp): it is -log(1 - p) below 0 and diff - log(p) above.
        dropped = expit(diff)
        above = diff > 0
        softplus = np.where(above, diff, 0.0) - np.log(np.where(above, dropped, 1.0 - dropped))
        n = level_weight.sum()
        total = level_weight @ gamma_part + n * r * np.log(alpha) + weights @ u + w @ softplus
        # The gradient of each term of a level of x is weighted by the rows' shares there.
        w_dropped = w * dropped
        level_dropped = np.bincount(codes_rows, w_dropped, len(values))
        level_alive = level_weight - level_dropped
        inverse_T = 1 / (alpha + T)
        repeat = values > 0
        x_safe = np.where(repeat, values, 1.0)
        psi_abx = digamma(a + b + values)
        d_r = (
            level_weight @ (digamma(r + values) - digamma(r)) + n * np.log(alpha)
            - weights @ log_T + w_dropped @ (log_T[rows] - log_t)
        )
        d_alpha = (
            n * r / alpha - ((r + x) * weights) @ inverse_T
            + (rx * w_dropped) @ (inverse_T[rows] - 1 / (alpha + t_x_rows))
        )
        d_a = (
            n * (digamma(a + b) - digamma(a))
            + level_alive @ (digamma(a) - psi_abx)
            + level_dropped @ np.where(repeat, digamma(a + 1) - psi_abx, 0.0)
        )
        d_b = (
            n * (digamma(a + b) - digamma(b))
            + level_alive @ (digamma(b + values) - psi_abx)
            + level_dropped @ np.where(repeat, digamma(b + x_safe - 1) - psi_abx, 0.0)
        )
        return total, np.array([d_r, d_alpha, d_a, d_b])

    # ------------------------------------------------------------------------- new customers
    @staticmethod
    def _updated_params(params, x, T) -> Params:
        r, alpha, a, b = params
        return r + x, alpha + T, np.full_like(x, a), b + x

    @staticmethod
    def _expected_new(params: Params, t) -> np.ndarray:
        """E[X(t)] = (a+b-1)/(a-1) [1 - term], with two equal forms of ``term``.

        The published ``term = (1+t/alpha)^-r 2F1(r, b; a+b-1; z)``, z = t/(alpha+t), and its
        Euler transform ``(1+t/alpha)^(1-a) 2F1(a+b-1-r, a-1; a+b-1; z)``. The transform stays
        finite for the updated parameters of customers with thousands of purchases (r and b
        grow together, so its first argument does not), the published form for large ``a``;
        each is evaluated in log space and the first finite one used. Within ``_A_NEAR_ONE``
        of a = 1 (0/0 to rounding), for t below ``_SHORT_T * alpha`` (1 - term cancels) and
        where no form is finite (e.g. a + b = 1, where both have c = 0), the purchase rate is
        integrated instead.
        """
        r, alpha, a, b = params
        z = t / (alpha + t)
        growth = np.log1p(t / alpha)

        log_term = log_hyp2f1_forms(
            ((1 - a) * growth, a + b - 1 - r, a - 1, a + b - 1, z),
            (-r * growth, r, b, a + b - 1, z),
        )
        with np.errstate(divide="ignore", invalid="ignore"):  # a = 1: handled below
            expected = (a + b - 1) / (a - 1) * -np.expm1(log_term)
        failed = (
            ~np.isfinite(expected) | (np.abs(a - 1) < _A_NEAR_ONE) | (t < _SHORT_T * alpha)
        )
        if np.any(failed):
            expected = np.array(expected, dtype=float)
            rows = tuple(np.broadcast_to(v, expected.shape)[failed] for v in (*params, t))
            expected[failed] = _integrate_rate(
                BetaGeoModel._log_rate_new, rows[:4], rows[1], rows[4]
            )
        return expected

    @staticmethod
    def _log_rate_new(params: Params, t) -> np.ndarray:
        """log dE[X(t)]/dt, rate = (r/alpha) E_p[(1 + p t/alpha)^-(r+1)], p ~ Beta(a, b).

        The two Pfaff transforms ``(1+t/alpha)^-a 2F1(a, a+b-r-1; a+b; z)`` and
        ``(1+t/alpha)^-(r+1) 2F1(r+1, b; a+b; z)`` of the expectation, the first finite one.
        """
        r, alpha, a, b = params
        z = t / (alpha + t)
        growth = np.log1p(t / alpha)
        return np.log(r / alpha) + log_hyp2f1_forms(
            (-a * growth, a, a + b - r - 1, a + b, z),
            (-(r + 1) * growth, r + 1, b, a + b, z),
        )

    @staticmethod
    def _pmf_new(params: Params, n: int, t) -> np.ndarray:
        """P(X(t) = n): alive throughout, or dropped out after the n-th purchase."""
        r, alpha, a, b = params
        log_beta_ab = betaln(a, b)
        q = t / (alpha + t)
        with np.errstate(divide="ignore"):
            log_alive_nb = (
                betaln(a, b + n) - log_beta_ab
                + gammaln(r + n) - gammaln(r) - gammaln(n + 1)
                + r * np.log1p(-q) + n * np.log(q)
            )
        if n == 0:
            return np.exp(log_alive_nb)
        # P(at least n purchases of the NB count) is the regularised incomplete beta I_q(n, r).
        dropped = np.exp(betaln(a + 1, b + n - 1) - log_beta_ab) * betainc(n, r, q)
        return np.exp(log_alive_nb) + dropped

    @staticmethod
    def _rate_scale(params: Params) -> np.ndarray:
        return params[1]

    # ------------------------------------------------------------------------- simulation
    @staticmethod
    def _simulate(params, T, holdout, rng):
        r, alpha, a, b = params
        n = len(T)
        rate = rng.gamma(r, 1.0 / alpha, n)
        dropout = rng.beta(a, b, n)
        # Repeat purchases until (and including) the one after which the customer drops out.
        lifetime_purchases = rng.geometric(np.clip(dropout, 1e-300, 1.0))
        events = rng.poisson(rate * T)  # purchase opportunities in (0, T] if never dropping out
        x = np.minimum(events, lifetime_purchases)
        # The x-th of `events` uniform purchase times in (0, T] is T * Beta(x, events - x + 1).
        t_x = np.where(x > 0, T * rng.beta(np.maximum(x, 1), events - x + 1), 0.0)
        later = rng.poisson(rate * holdout)
        x_holdout = np.where(lifetime_purchases > events,
                             np.minimum(later, lifetime_purchases - events), 0)
        return x, t_x, x_holdout
