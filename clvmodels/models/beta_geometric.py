"""The mathematics the BG/NBD and the MBG/NBD share: Poisson purchases while alive, and a
beta-geometric dropout with a chance ``p ~ Beta(a, b)`` of leaving at each opportunity.

While alive a customer buys at Poisson rate lambda ~ Gamma(r, alpha). In the BG/NBD (Fader,
Hardie & Lee 2005) the dropout opportunities come right after each repeat purchase; the
MBG/NBD (Batislam, Denizel & Filiztekin 2007) adds one at the first purchase, so that a customer
may never come back. With ``shift`` the number of opportunities a customer with x repeat
purchases has survived when still alive (0 for BG/NBD, 1 for MBG/NBD), the per-row
log-likelihood is ``LL = c + logaddexp(u, v)`` with

- ``c = lnG(r + x) - lnG(r) + r ln(alpha)``,
- ``u = lnB(a, b + x + shift) - lnB(a, b) - (r + x) ln(alpha + T)``: alive at T,
- ``v = lnB(a + 1, b + x + shift - 1) - lnB(a, b) - (r + x) ln(alpha + t_x)``: gone right
  after the last purchase (impossible, ``-inf``, when x + shift = 0).

An alive customer's future is a BG/NBD customer's (no opportunity at the start) with
parameters ``(r + x, alpha + T, a, b + x + shift)``, so both models share the future formulas
here; a new MBG/NBD customer is alive with probability ``b / (a + b)``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from types import ModuleType
from typing import Any, ClassVar, NamedTuple

import numpy as np
import pandas as pd
from scipy.special import betainc, digamma, expit, gammaln, xlogy, zeta

from clvmodels._numerics import (
    TWO_RULE_TOLERANCE,
    integrate_rate_per_draw,
    log_hyp2f1_forms,
    log_rising,
)
from clvmodels.estimation.family import (
    CovariateLink,
    Params,
    PurchaseFamily,
    by_levels,
    scalar_params,
)
from clvmodels.estimation.fitdata import FitData
from clvmodels.models.beta_mixture import expected_purchases, log_purchase_rate
from clvmodels.models.compiled_kernel import SampledInLogParameters

# Within this distance of a = 1 the closed form of E[X(t)] is 0/0 to rounding: the average
# over the dropout probability, which has no such point, is integrated instead.
_A_NEAR_ONE = 1e-4
# For t below this fraction of alpha, 1 - term cancels (relative error ~ eps * alpha / t): the
# average is integrated there too.
_SHORT_T = 1e-4


def beta_ratios(a, b, opportunities) -> tuple[np.ndarray, np.ndarray]:
    """With p ~ Beta(a, b): the logs of E[(1 - p)^m] = B(a, b + m) / B(a, b), surviving m
    dropout opportunities, and of E[p (1 - p)^(m - 1)] = B(a + 1, b + m - 1) / B(a, b),
    leaving at the m-th (-inf for m = 0), with m = ``opportunities``.

    As rising factorials, ``log_rising(b, m) - log_rising(a + b, m)`` and ``log a +
    log_rising(b, m - 1) - log_rising(a + b, m)``: the difference of betaln values of 1e12
    (a = 8e10, b = 8e16) loses the result to rounding (SciPy's betaln itself is off by up to
    440 there), which would put P(alive) at 1e-185 instead of 1 - 1e-6.
    """
    possible = opportunities > 0
    earlier = np.where(possible, opportunities - 1.0, 0.0)
    to_all = log_rising(a + b, opportunities)
    with np.errstate(divide="ignore"):
        dropped = np.log(a) + log_rising(b, earlier) - to_all
    return log_rising(b, opportunities) - to_all, np.where(possible, dropped, -np.inf)


def _trigamma(x):
    # The Hurwitz zeta ufunc: scipy's polygamma(1, x) computes the same with Python overhead.
    return zeta(2, x)


class FitTerms(NamedTuple):
    """What the likelihood needs of the data alone, computed once per fit.

    Summaries at a time resolution hold few distinct T and t_x, so the logarithms of
    alpha + T and alpha + t_x are taken once per distinct value; only the rows that can have
    dropped out (x + shift > 0) are visited one by one.
    """

    x: np.ndarray  # the rows that can have dropped out: x, weight and level codes of x, T, t_x
    weights: np.ndarray
    x_codes: np.ndarray
    T_codes: np.ndarray
    t_x_codes: np.ndarray
    t_x_values: np.ndarray  # their distinct t_x
    level_weight: np.ndarray  # every row's weight summed per level of x ...
    T_weight: np.ndarray  # ... per level of T
    T_weighted_x: np.ndarray  # and weight * x per level of T


def fit_terms(fit_data: FitData, shift: int) -> FitTerms:
    """The :class:`FitTerms` of ``fit_data`` (cached in it)."""

    def compute() -> FitTerms:
        x_values, x_codes = fit_data.levels("x")
        T_values, T_codes = fit_data.levels("T")
        x, weights = fit_data["x"], fit_data.weights
        rows = np.flatnonzero(x + shift > 0)
        t_x_codes, t_x_values = pd.factorize(fit_data["t_x"][rows])
        return FitTerms(
            x[rows], weights[rows], x_codes[rows], T_codes[rows], t_x_codes,
            np.asarray(t_x_values, dtype=float), np.bincount(x_codes, weights, len(x_values)),
            np.bincount(T_codes, weights, len(T_values)),
            np.bincount(T_codes, weights * x, len(T_values)),
        )

    return fit_data.cached(f"beta-geometric terms {shift}", compute)


class BetaGeometricFamily(PurchaseFamily):
    """The BG/NBD and MBG/NBD mathematics, by ``shift`` (see the module docstring)."""

    shift: ClassVar[int]
    has_hessian: ClassVar[bool] = True
    #: Static covariates as CLVTools' BG/NBD (Fader & Hardie 2007, note 019):
    #: ``alpha_i = alpha exp(-g_purchase' z)``, ``a_i = a exp(g_dropout' z)`` and
    #: ``b_i = b exp(g_dropout' z)`` (one coefficient vector scales both shapes).
    covariate_links: ClassVar[tuple[CovariateLink, ...]] = (
        CovariateLink("purchase", ("alpha",), -1, "buying more often"),
        CovariateLink("dropout", ("a", "b"), 1,
                      "a dropout probability with the same mean but less spread"),
    )

    # ------------------------------------------------------------------------- likelihood
    def level_terms(self, params: Params, x):
        """The likelihood's terms of x alone: log-gamma and the two log-beta ratios."""
        r, _, a, b = params
        return (gammaln(r + x) - gammaln(r), *beta_ratios(a, b, x + self.shift))

    def likelihood_parts(self, params: Params, x, t_x, T, x_levels=None):
        r, alpha = params[:2]
        gamma_part, beta_alive, beta_dropped = by_levels(
            lambda values: self.level_terms(params, values), x, x_levels)
        c = gamma_part + r * np.log(alpha)
        u = beta_alive - (r + x) * np.log(alpha + T)
        v = beta_dropped - (r + x) * np.log(alpha + t_x)
        return c, u, v

    def log_likelihood_gradient(self, params: Params, fit_data: FitData):
        """Per row: ``LL = G + r log(alpha) + U + softplus(D)``, ``D = V - U``; with
        ``p = expit(D)`` (the share of the dropped-out term) the derivative is
        ``G' + (1 - p) U' + p V'`` in each row's parameters."""
        r, alpha, a, b = params
        x, t_x, T = fit_data["x"], fit_data["t_x"], fit_data["T"]
        levels = fit_data.levels("x") if scalar_params(params) else None
        c, u, v = self.likelihood_parts(params, x, t_x, T, levels)
        dropped = expit(v - u)
        opportunities = x + self.shift
        possible = opportunities > 0
        later = b + np.where(possible, opportunities, 1.0)
        psi_ab, psi_abx = digamma(a + b), digamma(a + b + opportunities)
        rx = r + x
        log_T, log_t = np.log(alpha + T), np.log(alpha + t_x)
        gradient = np.empty((4, *np.broadcast_shapes(np.shape(x), *map(np.shape, params))))
        gradient[0] = (digamma(r + x) - digamma(r) + np.log(alpha) - log_T
                       + dropped * (log_T - log_t))
        gradient[1] = r / alpha - rx / (alpha + T) + dropped * rx * (
            1 / (alpha + T) - 1 / (alpha + t_x))
        alive_a = digamma(a) - psi_abx
        dropped_a = np.where(possible, digamma(a + 1) - psi_abx, 0.0)
        gradient[2] = psi_ab - digamma(a) + alive_a + dropped * (dropped_a - alive_a)
        alive_b = digamma(b + opportunities) - psi_abx
        dropped_b = np.where(possible, digamma(later - 1) - psi_abx, 0.0)
        gradient[3] = psi_ab - digamma(b) + alive_b + dropped * (dropped_b - alive_b)
        return c + np.logaddexp(u, v), gradient

    def derivatives(self, params: Params, fit_data: FitData, hessian: bool = False):
        """The weighted totals with respect to (r, alpha, a, b), in one pass over distinct
        values: terms of x alone once per level of x, of T once per level of T, and only the
        rows that can have dropped out visited one by one.

        Per row ``LL = G(x) + r log(alpha) + U + softplus(D)`` with ``D = V - U`` (see
        :meth:`log_likelihood_gradient`); the Hessian is
        ``G'' + (1 - p) U'' + p V'' + p (1 - p) D' D'^T`` with
        ``D' = (log(alpha+T) - log(alpha+t_x), (r+x) (1/(alpha+T) - 1/(alpha+t_x)), 1/a,
        -1/(b+x+shift-1))``. Returns ``(total, gradient, hessian or None)``.
        """
        r, alpha, a, b = params
        values, _ = fit_data.levels("x")
        T_values, _ = fit_data.levels("T")
        terms = fit_terms(fit_data, self.shift)
        w, codes_rows, level_weight = terms.weights, terms.x_codes, terms.level_weight
        gamma_part, beta_alive, beta_dropped = self.level_terms(params, values)
        # log(alpha + T) and its derivative per distinct T, and so the alive term
        # u = beta_alive - (r + x) log(alpha + T) summed over all rows per level.
        log_T, inverse_T = np.log(alpha + T_values), 1 / (alpha + T_values)
        weighted_u = (level_weight @ beta_alive - r * (terms.T_weight @ log_T)
                      - terms.T_weighted_x @ log_T)
        # The dropped-out term, the costliest part, on the rows that can have dropped out.
        rx = r + terms.x
        log_T_rows = log_T[terms.T_codes]
        log_t_rows = np.log(alpha + terms.t_x_values)[terms.t_x_codes]
        gap = beta_dropped - beta_alive  # -inf at a level no such row has
        diff = gap[codes_rows] - rx * (log_t_rows - log_T_rows)
        # log(1 + e**diff) from the larger share, which is exact (and cheaper than
        # logaddexp): it is -log(1 - p) below 0 and diff - log(p) above.
        dropped = expit(diff)
        above = diff > 0
        softplus = np.where(above, diff, 0.0) - np.log(np.where(above, dropped, 1.0 - dropped))
        n = level_weight.sum()
        total = level_weight @ gamma_part + n * r * np.log(alpha) + weighted_u + w @ softplus
        # The gradient of each term of a level of x is weighted by the rows' shares there.
        w_dropped = w * dropped
        level_dropped = np.bincount(codes_rows, w_dropped, len(values))
        level_alive = level_weight - level_dropped
        opportunities = values + self.shift
        possible = opportunities > 0
        later = b + np.where(possible, opportunities, 1.0)
        psi_abx = digamma(a + b + opportunities)
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
            + level_dropped @ np.where(possible, digamma(a + 1) - psi_abx, 0.0)
        )
        d_b = (
            n * (digamma(a + b) - digamma(b))
            + level_alive @ (digamma(b + opportunities) - psi_abx)
            + level_dropped @ np.where(possible, digamma(later - 1) - psi_abx, 0.0)
        )
        gradient = np.array([d_r, d_alpha, d_a, d_b])
        if not hessian:
            return total, gradient, None

        # Curvature of the mixture: p (1 - p) D' D'^T, with D'_a = 1/a on every row that can
        # have dropped out and D'_b = -1/(b + x + shift - 1) per level of x.
        spread = w_dropped * (1.0 - dropped)
        d_alpha_rows = rx * inverse_gap_rows  # dD/dalpha
        level_spread = np.bincount(codes_rows, spread, len(values))
        level_spread_r = np.bincount(codes_rows, spread * d_log_rows, len(values))
        level_spread_alpha = np.bincount(codes_rows, spread * d_alpha_rows, len(values))
        d_b_levels = np.where(possible, -1.0 / (later - 1), 0.0)
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
        trigamma_ab, trigamma_abx = _trigamma(a + b), _trigamma(a + b + opportunities)
        h_rr = level_weight @ (_trigamma(r + values) - _trigamma(r))
        h_r_alpha = n / alpha - terms.T_weight @ inverse_T + w_dropped @ inverse_gap_rows
        h_alpha_alpha = (
            -n * r / alpha**2 + r * (terms.T_weight @ inverse_T**2)
            + terms.T_weighted_x @ inverse_T**2
            + (rx * w_dropped) @ (inverse_t_rows**2 - inverse_T_rows**2)
        )
        common_ab = n * trigamma_ab - level_weight @ trigamma_abx  # in both U'' and V''
        h_aa = common_ab + level_dropped @ np.where(
            possible, _trigamma(a + 1) - _trigamma(a), 0.0)
        h_ab = common_ab
        h_bb = (
            common_ab - n * _trigamma(b)
            + level_alive @ _trigamma(b + opportunities)
            + level_dropped @ np.where(possible, _trigamma(later - 1), 0.0)
        )
        terms_hessian = np.array([
            [h_rr, h_r_alpha, 0.0, 0.0],
            [h_r_alpha, h_alpha_alpha, 0.0, 0.0],
            [0.0, 0.0, h_aa, h_ab],
            [0.0, 0.0, h_ab, h_bb],
        ])
        upper = np.triu(mixture)
        return total, gradient, terms_hessian + upper + np.triu(upper, 1).T

    def log_alive(self, params: Params, x, t_x, T, x_levels=None) -> np.ndarray:
        """log P(alive at T) (see :meth:`PurchaseFamily.log_alive`); for posterior draws of
        scalar parameters (shape ``(draws, 1)``) over the rows of ``x_levels`` from the
        closed form of the dropout term's share, ``v - u = log a - log(b + x + shift - 1) -
        (r + x) (log(alpha + t_x) - log(alpha + T))`` (the two beta ratios differ by one
        factor of the rising factorial), with the logarithms taken once per draw and distinct
        t_x or T: the draws x rows matrix then costs one softplus per element (in the compiled
        kernel of :mod:`clvmodels.models.beta_geometric_future_kernel` where numba is
        installed)."""
        draws = [np.shape(value) for value in params]
        if x_levels is None or any(len(shape) != 2 or shape[1] != 1 for shape in draws):
            return super().log_alive(params, x, t_x, T, x_levels)
        r, alpha, a, b = params
        x_values, x_codes = x_levels
        opportunities = x_values + self.shift
        with np.errstate(divide="ignore"):
            gap = np.where(opportunities > 0,
                           np.log(a) - np.log(b + np.maximum(opportunities, 1.0) - 1.0),
                           -np.inf)
        t_codes, t_values = pd.factorize(np.asarray(t_x, dtype=float))
        T_codes, T_values = pd.factorize(np.asarray(T, dtype=float))
        kernel = future_kernel()
        if kernel is not None:
            flat = (np.ascontiguousarray(np.ravel(value), dtype=float) for value in params)
            return kernel.log_alive_rows(
                *flat, float(self.shift), np.asarray(x_values, dtype=float),
                np.asarray(x_codes, dtype=np.int64), np.asarray(t_values, dtype=float),
                np.asarray(t_codes, dtype=np.int64), np.asarray(T_values, dtype=float),
                np.asarray(T_codes, dtype=np.int64), np.asarray(x, dtype=float))
        log_t = np.log(alpha + np.asarray(t_values))
        log_T = np.log(alpha + np.asarray(T_values))
        diff = gap[:, x_codes] - (r + x) * (log_t[:, t_codes] - log_T[:, T_codes])
        with np.errstate(invalid="ignore"):
            return -np.logaddexp(0.0, diff)

    # ------------------------------------------------------------------------- the future
    def updated_params(self, params: Params, x, T) -> tuple:
        r, alpha, a, b = params
        # + zeros: a broadcasts over draws and rows like the others
        return r + x, alpha + T, a + np.zeros_like(x), b + x + self.shift

    def future_expected(self, updated: tuple, t) -> np.ndarray:
        """E[X(t)] = (a+b-1)/(a-1) [1 - term], with two equal forms of ``term``.

        The published ``term = (1+t/alpha)^-r 2F1(r, b; a+b-1; z)``, z = t/(alpha+t), and its
        Euler transform ``(1+t/alpha)^(1-a) 2F1(a+b-1-r, a-1; a+b-1; z)``. The transform stays
        finite for the updated parameters of customers with thousands of purchases (r and b
        grow together, so its first argument does not), the published form for large ``a``;
        each is evaluated in log space and the first finite one used. Within ``_A_NEAR_ONE``
        of a = 1 (0/0 to rounding), for t below ``_SHORT_T * alpha`` (1 - term cancels) and
        where no form is finite in SciPy (a or b of 1e10, t so long that z rounds to 1, a + b
        = 1), the average over the dropout probability is integrated instead
        (:func:`clvmodels.models.beta_mixture.expected_purchases`, vectorised and bounded).
        """
        r, alpha, a, b = updated
        z = t / (alpha + t)
        growth = np.log1p(t / alpha)
        log_term = log_hyp2f1_forms(
            ((1 - a) * growth, a + b - 1 - r, a - 1, a + b - 1, z),
            (-r * growth, r, b, a + b - 1, z),
            exact_fallback=False,
        )
        with np.errstate(divide="ignore", invalid="ignore"):  # a = 1: handled below
            expected = (a + b - 1) / (a - 1) * -np.expm1(log_term)
        failed = (
            ~np.isfinite(expected) | (np.abs(a - 1) < _A_NEAR_ONE) | (t < _SHORT_T * alpha)
        )
        if np.any(failed):
            expected = np.array(expected, dtype=float)
            rows = tuple(np.broadcast_to(v, expected.shape)[failed] for v in (*updated, t))
            expected[failed] = expected_purchases(*rows)
        return expected

    def future_log_rate(self, updated: tuple, t) -> np.ndarray:
        """log dE[X(t)]/dt, rate = (r/alpha) E_p[(1 + p t/alpha)^-(r+1)], p ~ Beta(a, b).

        The two Pfaff transforms ``(1+t/alpha)^-a 2F1(a, a+b-r-1; a+b; z)`` and
        ``(1+t/alpha)^-(r+1) 2F1(r+1, b; a+b; z)`` of the expectation, the first finite one;
        where neither is finite in SciPy the expectation is integrated
        (:func:`clvmodels.models.beta_mixture.log_purchase_rate`).
        """
        r, alpha, a, b = updated
        z = t / (alpha + t)
        growth = np.log1p(t / alpha)
        log_rate = np.log(r / alpha) + log_hyp2f1_forms(
            (-a * growth, a, a + b - r - 1, a + b, z),
            (-(r + 1) * growth, r + 1, b, a + b, z),
            exact_fallback=False,
        )
        failed = ~np.isfinite(log_rate)
        if np.any(failed):
            log_rate = np.array(log_rate, dtype=float)
            rows = tuple(np.broadcast_to(v, log_rate.shape)[failed] for v in (*updated, t))
            log_rate[failed] = log_purchase_rate(*rows)
        return log_rate

    def future_discounted(self, updated: tuple, horizon: float, discount_rate: float,
                          per_draw: bool = False) -> np.ndarray:
        """The discounted future purchases (see :meth:`PurchaseFamily.future_discounted`);
        for many posterior draws the two short rules are computed by the compiled kernel of
        :mod:`clvmodels.models.beta_geometric_future_kernel` where numba is installed (the
        ``bayes`` extra), and the elements it leaves (NaN) or whose two rules disagree by the
        NumPy route, which also stands in without numba."""
        kernel = future_kernel() if per_draw else None
        if kernel is None:
            return super().future_discounted(updated, horizon, discount_rate, per_draw)
        shape = np.broadcast_shapes(*(np.shape(value) for value in updated))
        flat = tuple(np.broadcast_to(value, shape).ravel() for value in updated)
        coarse, fine = kernel.discounted_two_rules(flat, horizon, np.log1p(discount_rate))
        with np.errstate(invalid="ignore"):
            unsure = ~(np.abs(fine - coarse) <= TWO_RULE_TOLERANCE * np.abs(fine))
        if np.any(unsure):
            rows = tuple(value[unsure] for value in flat)
            fine[unsure] = integrate_rate_per_draw(self.future_log_rate, rows,
                                                   self.future_rate_scale(rows), horizon,
                                                   np.log1p(discount_rate))
        return fine.reshape(shape)

    def future_pmf(self, updated: tuple, n: int, t) -> np.ndarray:
        """P(X(t) = n): alive throughout, or dropped out after the n-th purchase."""
        r, alpha, a, b = updated
        q = t / (alpha + t)
        log_survived, log_dropped = beta_ratios(a, b, np.asarray(float(n)))
        with np.errstate(divide="ignore"):
            # xlogy: over an empty period (q = 0) no purchase is certain, 0 * log 0 = 0.
            log_alive_nb = (
                log_survived + gammaln(r + n) - gammaln(r) - gammaln(n + 1)
                + r * np.log1p(-q) + xlogy(n, q)
            )
        if n == 0:
            return np.exp(log_alive_nb)
        # P(at least n purchases of the NB count) is the regularised incomplete beta I_q(n, r).
        dropped = np.exp(log_dropped) * betainc(n, r, q)
        return np.exp(log_alive_nb) + dropped

    def future_rate_scale(self, updated: tuple) -> np.ndarray:
        return updated[1]

    # ------------------------------------------------------------------------- simulation
    def simulate(self, params: Params, T: np.ndarray, holdout: float,
                 rng: np.random.Generator):
        r, alpha, a, b = params
        n = len(T)
        rate = rng.gamma(r, 1.0 / alpha, n)
        dropout = rng.beta(a, b, n)
        # Repeat purchases the customer makes before dropping out: the opportunity at which
        # they leave is geometric, and ``shift`` of the opportunities come before any purchase.
        lifetime_purchases = rng.geometric(np.clip(dropout, 1e-300, 1.0)) - self.shift
        events = rng.poisson(rate * T)  # purchase opportunities in (0, T] if never dropping out
        x = np.minimum(events, lifetime_purchases)
        # The x-th of `events` uniform purchase times in (0, T] is T * Beta(x, events - x + 1).
        t_x = np.where(x > 0, T * rng.beta(np.maximum(x, 1), events - x + 1), 0.0)
        later = rng.poisson(rate * holdout)
        x_holdout = np.where(lifetime_purchases > events,
                             np.minimum(later, lifetime_purchases - events), 0)
        return x, t_x, x_holdout

    # ------------------------------------------------------------------------- sampling
    def compiled_row_gradient(self) -> Any:
        """:meth:`log_likelihood_gradient` by the numba kernel
        (:func:`~clvmodels.models.beta_geometric_row_kernel.row_log_likelihood_gradient` with
        this family's shift), or None without numba."""
        try:
            from clvmodels.models.beta_geometric_row_kernel import row_log_likelihood_gradient
        except ImportError:  # numba and PyTensor come with the bayes extra
            return None
        return functools.partial(row_log_likelihood_gradient, self.shift)

    def compiled_likelihood(self, fit_data: FitData) -> CompiledBetaGeometric:
        """The numba kernel of the weighted likelihood on ``fit_data`` (for the samplers)."""
        return CompiledBetaGeometric(self.shift, kernel_data(fit_data, self.shift))


@functools.cache
def future_kernel() -> ModuleType | None:
    """The compiled discounted-future kernel
    (:mod:`clvmodels.models.beta_geometric_future_kernel`), or None without numba."""
    try:
        from clvmodels.models import beta_geometric_future_kernel
    except ImportError:
        return None
    return beta_geometric_future_kernel


def kernel_data(fit_data: FitData, shift: int) -> tuple[np.ndarray, ...]:
    """The arrays the compiled kernel reads after the parameters and the shift: the per-fit
    terms of :func:`fit_terms`, as floats and integer codes."""
    x_values, _ = fit_data.levels("x")
    T_values, _ = fit_data.levels("T")
    terms = fit_terms(fit_data, shift)
    return (
        x_values, terms.level_weight, T_values, terms.T_weight, terms.T_weighted_x,
        terms.t_x_values, terms.x.astype(float), terms.weights.astype(float),
        *(np.asarray(codes, dtype=np.int64)
          for codes in (terms.x_codes, terms.T_codes, terms.t_x_codes)),
    )


@dataclass(frozen=True)
class CompiledBetaGeometric(SampledInLogParameters):
    """The likelihood of one fit's data as a compiled kernel
    (:mod:`clvmodels.models.beta_geometric_kernel`, imported on first use: it needs numba).

    The Bayesian layer uses it as a PyTensor Op (:meth:`tensor`), and with log-normal priors
    as nutpie's native model (:meth:`packed`, :meth:`log_density`, :meth:`callbacks`).
    """

    shift: int
    data: tuple[np.ndarray, ...]

    @staticmethod
    def _kernel():
        from clvmodels.models import beta_geometric_kernel

        return beta_geometric_kernel

    def value_and_gradient(self, params: np.ndarray) -> tuple[float, np.ndarray]:
        """The weighted total log-likelihood and its gradient at ``params``."""
        return self._kernel().value_and_gradient(*(float(v) for v in params),
                                                 float(self.shift), *self.data)

    def tensor(self, params: list) -> Any:
        """The weighted total log-likelihood as a PyTensor scalar of the parameter variables.

        The data enter as constants: nutpie passes shared variables through a wrapper whose
        compilation took ~9 s more for these eleven arrays.
        """
        return self._kernel().BetaGeometricLogLikelihood()(*params, float(self.shift),
                                                           *self.data)[0]

    def packed(self, priors: np.ndarray, centre: np.ndarray, factor: np.ndarray) -> np.ndarray:
        """The one float array nutpie's callbacks read: sizes, shift, the log-normal priors'
        (mean, sd) of each log-parameter, the whitening (centre and Cholesky factor), then the
        data (the integer codes as whole floats)."""
        data = self.data
        sizes = [len(data[0]), len(data[2]), len(data[5]), len(data[6])]
        return np.concatenate([np.array([*sizes, self.shift], dtype=float), priors.ravel(),
                               centre, factor.ravel(),
                               *(np.asarray(array, dtype=float) for array in data)])

    def log_density(self, theta: np.ndarray, packed: np.ndarray) -> tuple[float, np.ndarray]:
        """The log posterior density of the log-parameters and its gradient (log-normal
        priors, as packed)."""
        return self._kernel().log_density(theta, packed)

    def callbacks(self) -> tuple:
        """nutpie's log-density and expansion callbacks (C functions, compiled once)."""
        return self._kernel().compiled_callbacks()
