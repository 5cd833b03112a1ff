"""The BG/NBD and MBG/NBD discounted future purchases of many posterior draws, compiled.

:func:`clvmodels._numerics.integrate_rate_per_draw` integrates an alive customer's discounted
purchase rate with two one-panel Gauss-Legendre rules (``SHORT_RULE_NODES``: 6 and 12 nodes in
u = log(1 + t / alpha)), evaluating the rate's Gauss hypergeometric function with SciPy at each
of the 18 nodes. Here the same two rules are computed per element (posterior draw x customer
group) in one compiled pass: the rate at node t is

    rate(t) = (r / alpha) (1 + t/alpha)^-A 2F1(A, B; a + b; z),   z = t / (alpha + t),

with (A, B) = (a, a + b - r - 1) or (r + 1, b) (the two Pfaff forms of
``BetaGeometricFamily.future_log_rate``), and the series coefficients of the 2F1 depend on the
element alone, so one pass over them serves every node (only z changes with the node).

Only a form whose parameters are all nonnegative is used, so every term of the series is
nonnegative: there is no cancellation, and each coefficient, built by the recurrence of the
term ratio, carries a relative rounding error of at most ~4 n eps after n terms. The series is
summed until the geometric bound of its tail at the largest node's z (which bounds the
relative tail at every smaller z, the terms being nonnegative) is below eps, and at most
``MAX_TERMS`` terms. Where neither form is nonnegative, the series does not converge within
``MAX_TERMS`` (z near 1: long horizons, little discounting), a value overflows, or a parameter
is not positive and finite, the element is NaN: the caller evaluates it by the NumPy route.

Every function numba compiles for the future purchases lives in this one file (numba's disk
cache notices edits to the file that defines a cached function, not to the files of the
functions it calls). Imported only for posterior draws (numba is in the ``bayes`` extra).
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np

from clvmodels._numerics import DISCOUNT_CUTOFF_NATS, SHORT_RULE_NODES, gauss_legendre

# IEEE arithmetic (0 / 0 = nan) rather than exceptions: a failed element is NaN, for the
# caller's fallback.
compiled = functools.partial(numba.njit, cache=True, error_model="numpy", nogil=True)

#: The series is abandoned (NaN, the NumPy route) beyond this many terms. At the largest node
#: z = 1 - (1 + horizon/alpha)^-0.9953; a 2F1 whose terms decay like z^n needs ~37 / -log(z)
#: terms to reach eps: 400 covers z up to 0.91 (horizons to ~12 alpha, e.g. 52 weeks for
#: alpha + T down to 4.5 weeks).
MAX_TERMS = 400
# Elements per parallel chunk (each chunk allocates its scratch arrays once).
_CHUNK = 512
_EPS = 2.0**-53
_TINY = 2.0**-1022  # the smallest normal double


@compiled(fastmath={"contract"})
def _series(first, second, third, z, z_max, coefficients, out):
    """``out[j] = 2F1(first, second; third; z[j])`` for every node j (nonnegative parameters,
    ``0 <= z[j] <= z_max < 1``): the coefficients once, until the series has converged at
    ``z_max``, then Horner's rule at every node (independent chains, which the compiler
    vectorises over the nodes). False where it does not converge within
    ``len(coefficients)`` terms or overflows."""
    coefficient = 1.0
    power_at_max = 1.0
    total_at_max = 1.0
    coefficients[0] = 1.0
    terms = 0
    for n in range(len(coefficients) - 1):
        # The ratio of consecutive terms at z_max bounds the tail geometrically when it stays
        # below some rho < 1 from here on: tail <= term rho / (1 - rho), with rho the larger
        # of this ratio and its limit z_max (the ratio tends to z_max monotonically once n
        # is past the parameters).
        ratio = (first + n) * (second + n) / ((third + n) * (n + 1.0))
        coefficient *= ratio
        coefficients[n + 1] = coefficient
        power_at_max *= z_max
        term_at_max = coefficient * power_at_max
        total_at_max += term_at_max
        if not math.isfinite(total_at_max):
            return False
        rho = max(ratio * z_max, z_max)
        if (n + 1.0 > max(first, second) and rho < 1.0
                and term_at_max * rho <= _EPS * (1.0 - rho) * total_at_max):
            terms = n + 2
            break
    if terms == 0:
        return False
    for j in range(len(z)):
        out[j] = 0.0
    for n in range(terms - 1, -1, -1):
        coefficient = coefficients[n]
        for j in range(len(z)):
            out[j] = out[j] * z[j] + coefficient
    return True


@compiled(parallel=True)
def two_rule_integrals(r, alpha, a, b, horizon, k, points, log_weights, n_coarse):
    """Per element: the discounted purchases ``integral_0^horizon e^(-k t) rate(t) dt`` by the
    one-panel rules of ``points`` (on [0, 1], each rule's increasing, the coarse rule's
    ``n_coarse`` nodes first, then the fine rule's, whose last node is the largest of all) and
    ``log_weights``; returns ``(coarse, fine)``, NaN
    where the element is left to the caller (see the module docstring).

    ``r, alpha, a, b`` are the updated parameters of alive customers (flat arrays of one
    length), ``horizon`` and ``k`` (the continuous discount rate, ``> 0``) scalars. As in
    :func:`clvmodels._numerics.integrate_rate`, the horizon is cut where the discount factor
    falls below ``e**-DISCOUNT_CUTOFF_NATS``.
    """
    n = len(r)
    n_nodes = len(points)
    coarse = np.full(n, np.nan)
    fine = np.full(n, np.nan)
    end = min(horizon, DISCOUNT_CUTOFF_NATS / k)
    for chunk in numba.prange((n + _CHUNK - 1) // _CHUNK):
        coefficients = np.empty(MAX_TERMS)
        z, exponent, hypergeometric = np.empty(n_nodes), np.empty(n_nodes), np.empty(n_nodes)
        for i in range(chunk * _CHUNK, min((chunk + 1) * _CHUNK, n)):
            ri, alpha_i, ai, bi = r[i], alpha[i], a[i], b[i]
            if not (ri > 0 and alpha_i > 0 and ai > 0 and bi > 0 and math.isfinite(
                    ri + alpha_i + ai + bi)):
                continue
            upper = math.log1p(end / alpha_i)
            # The form whose first term ratio is the smaller among the nonnegative ones.
            second_dropout = ai + bi - ri - 1.0
            if second_dropout >= 0 and ai * second_dropout <= (ri + 1.0) * bi:
                first, second, power = ai, second_dropout, ai
            else:
                first, second, power = ri + 1.0, bi, ri + 1.0
            for j in range(n_nodes):
                u = upper * points[j]
                growth = math.expm1(u)
                z[j] = growth / (1.0 + growth)
                # log of alpha e^u (the Jacobian dt/du) e^(-k t) (r/alpha) (1 + t/alpha)^-A
                exponent[j] = (1.0 - power) * u - k * alpha_i * growth + log_weights[j]
            # The fine rule's last node is the largest of all (its z the series' bound).
            if not _series(first, second, ai + bi, z, z[n_nodes - 1], coefficients,
                           hypergeometric):
                continue
            for rule in range(2):
                lo, hi = (0, n_coarse) if rule == 0 else (n_coarse, n_nodes)
                peak = exponent[lo]
                for j in range(lo, hi):
                    peak = max(peak, exponent[j])
                total = 0.0
                for j in range(lo, hi):
                    total += math.exp(exponent[j] - peak) * hypergeometric[j]
                value = ri * upper * math.exp(peak) * total
                if rule == 0:
                    coarse[i] = value
                else:
                    fine[i] = value
    return coarse, fine


@functools.cache
def short_rules() -> tuple[np.ndarray, np.ndarray, int]:
    """The nodes on [0, 1] and log weights of the two short rules of ``SHORT_RULE_NODES``
    (the coarse one's first), and the coarse one's number of nodes."""
    rules = [gauss_legendre(nodes) for nodes in SHORT_RULE_NODES]
    points = np.concatenate([rule[0] for rule in rules])
    log_weights = np.log(np.concatenate([rule[1] for rule in rules]))
    return points, log_weights, SHORT_RULE_NODES[0]


def discounted_two_rules(updated: tuple, horizon: float, k: float
                         ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`two_rule_integrals` of flat arrays of updated parameters ``(r, alpha, a, b)``."""
    points, log_weights, n_coarse = short_rules()
    arrays = (np.ascontiguousarray(value, dtype=float) for value in updated)
    return two_rule_integrals(*arrays, float(horizon), float(k), points, log_weights,
                              n_coarse)


@compiled(parallel=True)
def log_alive_rows(r, alpha, a, b, shift, x_values, x_codes, t_values, t_codes, T_values,
                   T_codes, x):
    """log P(alive) per draw (``r, alpha, a, b``: one value each) and row (``x`` with its
    codes into the distinct ``x_values``, and the codes of its t_x and T into their distinct
    values): ``-softplus(v - u)`` with ``v - u = log a - log(b + x + shift - 1) - (r + x)
    (log(alpha + t_x) - log(alpha + T))``, -inf where x + shift = 0 (see
    ``BetaGeometricFamily.log_alive``); the logarithms once per draw and distinct value."""
    n_draws, n_rows = len(r), len(x)
    out = np.empty((n_draws, n_rows))
    for d in numba.prange(n_draws):
        log_a = math.log(a[d])
        gap = np.empty(len(x_values))
        for level in range(len(x_values)):
            opportunities = x_values[level] + shift
            gap[level] = (log_a - math.log(b[d] + opportunities - 1.0) if opportunities > 0
                          else -math.inf)
        log_t = np.log(alpha[d] + t_values)
        log_T = np.log(alpha[d] + T_values)
        for i in range(n_rows):
            diff = gap[x_codes[i]] - (r[d] + x[i]) * (log_t[t_codes[i]] - log_T[T_codes[i]])
            out[d, i] = -(max(diff, 0.0) + math.log1p(math.exp(-abs(diff))))
    return out


@compiled
def alive_probability(r, alpha, a, b, shift, x, t_x, T):
    """P(alive at T) of one draw ``(r, alpha, a, b)`` and customer ``(x, t_x, T)``: ``1 / (1 +
    e^(v - u))``, the logistic of ``v - u = log a - log(b + x + shift - 1) - (r + x)
    log((alpha + t_x) / (alpha + T))`` (see ``BetaGeometricFamily.log_alive``), 1 where
    x + shift = 0 (no dropout opportunity yet). ``e^(v - u)`` is the odds ``a / (b + x +
    shift - 1) * ((alpha + T) / (alpha + t_x))^(r + x)``: one power (relative error of an ulp
    or two) rather than three logarithms and an exponential; where ``a / (b + x + shift -
    1)`` is subnormal (its digits lost), by the logarithms. For the fused valuation of many
    draws (one element at a time)."""
    opportunities = x + shift
    if not opportunities > 0:
        return 1.0
    dropout = a / (b + opportunities - 1.0)
    if dropout >= _TINY:
        # The power is >= 1 (t_x <= T): an overflow makes the odds inf and P(alive) 0.
        odds = dropout * ((alpha + T) / (alpha + t_x)) ** (r + x)
    else:  # a subnormal or zero ratio has lost its digits
        odds = math.exp(math.log(a) - math.log(b + opportunities - 1.0)
                        - (r + x) * math.log((alpha + t_x) / (alpha + T)))
    return 1.0 / (1.0 + odds)
