"""BG/NBD: the beta-geometric / negative binomial model (Fader, Hardie & Lee 2005).

While alive a customer buys at Poisson rate lambda ~ Gamma(r, alpha); after each repeat purchase
they drop out with probability p ~ Beta(a, b).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.special import betainc, betaln, digamma, expit, gammaln, xlogy, zeta

from clvmodels._numerics import log_hyp2f1_forms
from clvmodels.models._base import FitData, derivative_hooks
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


class _FitTerms(NamedTuple):
    """What the BG/NBD likelihood needs of the data alone, computed once per fit.

    Summaries at a time resolution hold few distinct T and t_x, so the logarithms of
    alpha + T and alpha + t_x are taken once per distinct value; only the repeat buyers'
    rows (the dropped-out term) are visited one by one.
    """

    x: np.ndarray  # the repeat buyers' rows: x, weight and level codes of x, T and t_x
    weights: np.ndarray
    x_codes: np.ndarray
    T_codes: np.ndarray
    t_x_codes: np.ndarray
    t_x_values: np.ndarray  # distinct t_x of the repeat buyers
    level_weight: np.ndarray  # every row's weight summed per level of x ...
    T_weight: np.ndarray  # ... per level of T
    T_weighted_x: np.ndarray  # and weight * x per level of T


def _fit_terms(fit_data: FitData) -> _FitTerms:
    x_values, x_codes = fit_data.levels("x")
    T_values, T_codes = fit_data.levels("T")
    x, weights = fit_data["x"], fit_data.weights
    rows = np.flatnonzero(x > 0)
    t_x_codes, t_x_values = pd.factorize(fit_data["t_x"][rows])
    return _FitTerms(
        x[rows], weights[rows], x_codes[rows], T_codes[rows], t_x_codes,
        np.asarray(t_x_values, dtype=float), np.bincount(x_codes, weights, len(x_values)),
        np.bincount(T_codes, weights, len(T_values)),
        np.bincount(T_codes, weights * x, len(T_values)),
    )


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


def _trigamma(x):
    # The Hurwitz zeta ufunc: scipy's polygamma(1, x) computes the same with Python overhead.
    return zeta(2, x)


def _log_likelihood_derivatives(params, fit_data: FitData, hessian: bool):
    """The weighted total log-likelihood, its gradient and (if ``hessian``) its Hessian with
    respect to (r, alpha, a, b), in one pass.

    Per row ``LL = G(x) + r log(alpha) + U + softplus(D)`` with ``D = V - U`` (``U`` alive at T,
    ``V`` dropped out after the last purchase, :func:`_log_likelihood_parts`). With
    ``p = expit(D)`` the share of the dropped-out term, the gradient is
    ``G' + (1 - p) U' + p V'`` and the Hessian ``G'' + (1 - p) U'' + p V'' + p (1 - p) D' D'^T``;
    ``D' = (log(alpha+T) - log(alpha+t_x), (r+x) (1/(alpha+T) - 1/(alpha+t_x)), 1/a,
    -1/(b+x-1))``. Returns ``(total, gradient, hessian or None)``.
    """
    r, alpha, a, b = params
    values, _ = fit_data.levels("x")
    T_values, _ = fit_data.levels("T")
    terms = fit_data.cached("bgnbd terms", lambda: _fit_terms(fit_data))
    w, codes_rows, level_weight = terms.weights, terms.x_codes, terms.level_weight
    gamma_part, beta_alive, beta_dropped = _level_terms(params, values)
    # log(alpha + T) and its derivative per distinct T, and so the alive term
    # u = beta_alive - (r + x) log(alpha + T) summed over all rows per level.
    log_T, inverse_T = np.log(alpha + T_values), 1 / (alpha + T_values)
    weighted_u = (level_weight @ beta_alive - r * (terms.T_weight @ log_T)
                  - terms.T_weighted_x @ log_T)
    # Only repeat buyers can have dropped out (v = -inf otherwise): the dropped-out term,
    # the costliest part, is evaluated on their rows alone.
    rx = r + terms.x
    log_T_rows = log_T[terms.T_codes]
    log_t_rows = np.log(alpha + terms.t_x_values)[terms.t_x_codes]
    gap = beta_dropped - beta_alive  # -inf at x = 0, a level no repeat row has
    diff = gap[codes_rows] - rx * (log_t_rows - log_T_rows)
    # Share of the dropped-out term; log(1 + e**diff) from the larger share, which is
    # exact (and cheaper than logaddexp): it is -log(1 - p) below 0 and diff - log(p) above.
    dropped = expit(diff)
    above = diff > 0
    softplus = np.where(above, diff, 0.0) - np.log(np.where(above, dropped, 1.0 - dropped))
    n = level_weight.sum()
    total = level_weight @ gamma_part + n * r * np.log(alpha) + weighted_u + w @ softplus
    # The gradient of each term of a level of x is weighted by the rows' shares there.
    w_dropped = w * dropped
    level_dropped = np.bincount(codes_rows, w_dropped, len(values))
    level_alive = level_weight - level_dropped
    repeat = values > 0
    x_safe = np.where(repeat, values, 1.0)
    psi_abx = digamma(a + b + values)
    d_log_rows = log_T_rows - log_t_rows  # dD/dr
    d_r = (
        level_weight @ (digamma(r + values) - digamma(r)) + n * np.log(alpha)
        - terms.T_weight @ log_T + w_dropped @ d_log_rows
    )
    inverse_t = 1 / (alpha + terms.t_x_values)
    inverse_T_rows, inverse_t_rows = inverse_T[terms.T_codes], inverse_t[terms.t_x_codes]
    inverse_gap_rows = inverse_T_rows - inverse_t_rows
    d_alpha = (
        n * r / alpha - r * (terms.T_weight @ inverse_T) - terms.T_weighted_x @ inverse_T
        + (rx * w_dropped) @ inverse_gap_rows
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
    gradient = np.array([d_r, d_alpha, d_a, d_b])
    if not hessian:
        return total, gradient, None

    # Curvature of the mixture: p (1 - p) D' D'^T, with D'_a = 1/a for every repeat row and
    # D'_b = -1/(b + x - 1) per level of x.
    spread = w_dropped * (1.0 - dropped)
    d_alpha_rows = rx * inverse_gap_rows  # dD/dalpha
    level_spread = np.bincount(codes_rows, spread, len(values))
    level_spread_r = np.bincount(codes_rows, spread * d_log_rows, len(values))
    level_spread_alpha = np.bincount(codes_rows, spread * d_alpha_rows, len(values))
    d_b_levels = np.where(repeat, -1.0 / (b + x_safe - 1), 0.0)
    mixture = np.empty((4, 4))
    mixture[0, 0] = spread @ d_log_rows**2
    mixture[0, 1] = spread @ (d_log_rows * d_alpha_rows)
    mixture[1, 1] = spread @ d_alpha_rows**2
    mixture[0, 2] = level_spread_r.sum() / a
    mixture[1, 2] = level_spread_alpha.sum() / a
    mixture[2, 2] = level_spread.sum() / a**2
    mixture[0, 3] = level_spread_r @ d_b_levels
    mixture[1, 3] = level_spread_alpha @ d_b_levels
    mixture[2, 3] = (level_spread @ d_b_levels) / a
    mixture[3, 3] = level_spread @ d_b_levels**2
    # Second derivatives of the terms themselves, (1 - p) U'' + p V'' for the dropout part.
    trigamma_ab, trigamma_abx = _trigamma(a + b), _trigamma(a + b + values)
    h_rr = level_weight @ (_trigamma(r + values) - _trigamma(r))
    h_r_alpha = n / alpha - terms.T_weight @ inverse_T + w_dropped @ inverse_gap_rows
    h_alpha_alpha = (
        -n * r / alpha**2 + r * (terms.T_weight @ inverse_T**2)
        + terms.T_weighted_x @ inverse_T**2
        + (rx * w_dropped) @ (inverse_t_rows**2 - inverse_T_rows**2)
    )
    common_ab = n * trigamma_ab - level_weight @ trigamma_abx  # in both U'' and V''
    h_aa = common_ab + level_dropped @ np.where(
        repeat, _trigamma(a + 1) - _trigamma(a), 0.0)
    h_ab = common_ab
    h_bb = (
        common_ab - n * _trigamma(b)
        + level_alive @ _trigamma(b + values)
        + level_dropped @ np.where(repeat, _trigamma(b + x_safe - 1), 0.0)
    )
    terms_hessian = np.array([
        [h_rr, h_r_alpha, 0.0, 0.0],
        [h_r_alpha, h_alpha_alpha, 0.0, 0.0],
        [0.0, 0.0, h_aa, h_ab],
        [0.0, 0.0, h_ab, h_bb],
    ])
    upper = np.triu(mixture)
    return total, gradient, terms_hessian + upper + np.triu(upper, 1).T


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

    _log_likelihood_and_gradient, _log_likelihood_gradient_hessian = derivative_hooks(
        _log_likelihood_derivatives)

    # ------------------------------------------------------------------------- new customers
    @staticmethod
    def _updated_params(params, x, T) -> Params:
        r, alpha, a, b = params
        return r + x, alpha + T, a + np.zeros_like(x), b + x  # broadcasts over draws of a

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
            # xlogy: over an empty period (q = 0) no purchase is certain, 0 * log 0 = 0.
            log_alive_nb = (
                betaln(a, b + n) - log_beta_ab
                + gammaln(r + n) - gammaln(r) - gammaln(n + 1)
                + r * np.log1p(-q) + xlogy(n, q)
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
