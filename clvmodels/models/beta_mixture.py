"""The BG/NBD's future as an average over the dropout probability, by quadrature: the route
for the corners where the closed forms' Gauss hypergeometric functions fail.

An alive BG/NBD customer with parameters ``(r, alpha, a, b)`` buys at rate lambda ~ Gamma(r,
alpha) and drops out after each purchase with probability p ~ Beta(a, b). Given p, the
expected purchases in (0, t] are ``(1 - (1 + p t / alpha)^-r) / p`` and the purchase rate at t
is ``(r / alpha) (1 + p t / alpha)^-(r + 1)``; :func:`expected_purchases` and
:func:`log_purchase_rate` average them over p. These are the quantities of the closed forms
(2F1 with z = t / (alpha + t)), computed without them: SciPy's 2F1 fails for large
parameters (customers with thousands of purchases, degenerate fits with a or b of 1e10) and
for t so long that z rounds to 1, where mpmath's takes seconds to forever.

The integral runs over the log-odds ``u = log(p / (1 - p))``, in which the beta density is a
smooth, log-concave bump with exponential tails (slope a on the left, -b on the right, which
are integrated in closed form), and each integrand has a single maximum (its derivative is
a rational function of p with one root in (0, 1)). The beta density is written relative to its
value at ``p = a / (a + b)``, with the constant ``a log p + b log(1 - p) - log B(a, b)`` from
Stirling's series: the direct form loses ``a * 1e-16`` nats to rounding, all of it for
``a = 1e12``. The peak and the points 40 nats below it are found by bisection; adaptive
Gauss-Kronrod quadrature (:func:`clvmodels._numerics.log_integral_adaptive`) between them
reaches ~1e-13 relative (checked against mpmath in tests/test_beta_mixture.py) in at most 64
panels per element, vectorised.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, log_expit

from clvmodels._numerics import (
    NEGLIGIBLE_NATS,
    bisect,
    log1mexp,
    log_beta_at_mean,
    log_integral_adaptive,
)
from clvmodels.errors import ConvergenceError

# Tails beyond NEGLIGIBLE_NATS below the peak are taken in closed form from where they are
# exponential to within e**-40; the edges are found in this many halvings.
_BISECTION_STEPS = 48
# The quadrature's target: its error estimate below this of the integral (see
# log_integral_adaptive), and the largest estimate whose value is still returned.
_RTOL = 1e-11
_ACCEPTED = 1e-6
# Where r (1 + p t / alpha) - r is below this, log(1 - (1 + y)^-r) is taken from its series
# log(r y) + log(1 - (r + 1) y / 2), whose next term is O(((r + 1) y)^2) < 1e-16.
_SERIES_BELOW = 1e-8


class _Mixture:
    """One average over p ~ Beta(a, b) of ``f(p) = exp(log_f)`` per element, in the log-odds
    ``u = log(a / b) + delta``; ``kind`` is ``"rate"`` ((1 + k p)^-(r + 1)) or ``"expected"``
    ((1 - (1 + k p)^-r) / p), with ``k = t / alpha`` given as ``log_k``."""

    def __init__(self, kind: str, r, a, b, log_k) -> None:
        self.kind = kind
        self.r, self.a, self.b, self.log_k = r, a, b, log_k
        self.mean = a / (a + b)
        self.complement = b / (a + b)
        self.log_mean = -np.log1p(b / a)
        self.log_complement = -np.log1p(a / b)
        self.centre = np.log(a) - np.log(b)

    def parts(self, delta: np.ndarray, rows) -> tuple[np.ndarray, ...]:
        """log p, p, the beta density's log relative to the mean, and the log integrand."""
        a, b, log_k, r = self.a[rows], self.b[rows], self.log_k[rows], self.r[rows]
        u = self.centre[rows] + delta
        with np.errstate(all="ignore"):
            log_p, p = log_expit(u), expit(u)
            # a log(p / m) + b log((1 - p) / (1 - m)), m the mean, is -a log(m + (1 - m)
            # e^-delta) - b log(1 - m + m e^delta): by log1p, exact relative to values that are
            # tiny where a or b is 1e15; by logaddexp where log1p's argument nears -1
            # (cancellation) or overflows, the values then being of order 1 or more.
            log_mean, log_complement = self.log_mean[rows], self.log_complement[rows]
            towards_one = _log_shifted(self.mean[rows], delta, log_complement, log_mean)
            towards_zero = _log_shifted(self.complement[rows], -delta, log_mean,
                                        log_complement)
            beta = -a * towards_zero - b * towards_one
            s = log_k + log_p  # log(k p)
            if self.kind == "rate":
                log_f = -(r + 1) * np.logaddexp(0.0, s)
            else:
                y = np.exp(s)
                series = y * np.maximum(r, 1.0) < _SERIES_BELOW
                exact = log1mexp(-r * np.logaddexp(0.0, s)) - log_p
                log_f = np.where(series, np.log(r) + log_k + np.log1p(-(r + 1) * y / 2),
                                 exact)
        return log_p, p, beta, beta + log_f

    def log_integrand(self, delta: np.ndarray, rows) -> np.ndarray:
        return self.parts(delta, rows)[3]

    def slope(self, delta: np.ndarray) -> np.ndarray:
        """d/du of the log integrand, whose sign locates its single maximum."""
        a, b, r = self.a, self.b, self.r
        u = self.centre + delta
        with np.errstate(all="ignore"):
            p, s = expit(u), self.log_k + log_expit(u)
            if self.kind == "rate":
                dlog_f = -(r + 1) * expit(s)
            else:
                y = np.exp(s)
                exact = r * expit(s) / np.expm1(r * np.logaddexp(0.0, s)) - 1.0
                dlog_f = np.where(y * np.maximum(r, 1.0) < _SERIES_BELOW, -(r + 1) * y / 2,
                                  exact)
            return a * (1 - p) - b * p + (1 - p) * dlog_f

    def log_integral(self) -> np.ndarray:
        a, b = self.a, self.b
        every = slice(None)
        # Where the integrand is exponential in u to within e**-40: p (or 1 - p) so small
        # that every term but the beta density's tail is below e**-40 of a nat.
        scale_left = np.logaddexp(np.log1p(a + b + self.r + 1),
                                  np.log(2 * self.r + 2) + self.log_k)
        scale_right = np.log1p(a + b + 2 * self.r + 2)
        edge_left = -NEGLIGIBLE_NATS - scale_left - self.centre
        edge_right = NEGLIGIBLE_NATS + scale_right - self.centre
        with np.errstate(all="ignore"):
            mode = bisect(lambda d: self.slope(d) > 0, edge_left, edge_right, _BISECTION_STEPS)
            peak = self.log_integrand(mode, every)
            floor = peak - NEGLIGIBLE_NATS
            left = bisect(lambda d: self.log_integrand(d, every) < floor, edge_left, mode,
                          _BISECTION_STEPS)
            right = bisect(lambda d: self.log_integrand(d, every) > floor, mode, edge_right,
                           _BISECTION_STEPS)
            # Tails beyond the edges: exp(log_integrand(edge)) / slope, the slopes a and b.
            tails = np.logaddexp(self.log_integrand(edge_left, every) - np.log(a),
                                 self.log_integrand(edge_right, every) - np.log(b))
        # The log-odds of p = 1/2 and of k p = 1, where terms of the integrand bend.
        bends = [np.clip(point, left, right) for point in
                 (-self.centre, -self.log_k - np.log1p(-np.exp(np.minimum(-self.log_k, -1.0)))
                  - self.centre)]
        edges = np.sort(np.vstack([left, mode, right, *bends]), axis=0)
        log_integral, log_error = log_integral_adaptive(self.log_integrand, edges, tails,
                                                        rtol=_RTOL)
        # Rounding of the integrand's terms (huge where a, b or r are 1e12) can keep the
        # estimate above the tolerance: up to _ACCEPTED relative, or to a thousand times the
        # rounding of a log integrand of that size (relative error of eps |peak| in the
        # integrand: the value of e**-1e13 is then as good as doubles allow), the value is
        # still given.
        rounding = np.maximum(_ACCEPTED, 1e3 * np.finfo(float).eps * np.abs(peak))
        with np.errstate(invalid="ignore", divide="ignore"):
            accepted = ~(log_error > log_integral + np.log(rounding))
        return np.where(accepted, log_beta_at_mean(a, b) + log_integral, np.nan)


def _log_shifted(weight, x, log_rest, log_weight):
    """``log(1 - weight + weight e^x)``, given also ``log(1 - weight)`` and ``log(weight)``."""
    argument = weight * np.expm1(x)
    return np.where((argument > -0.5) & (x < 700.0), np.log1p(argument),
                    np.logaddexp(log_rest, log_weight + x))




def _mixture(kind: str, r, alpha, a, b, t) -> np.ndarray:
    r, alpha, a, b, t = (np.asarray(v, dtype=float) for v in
                         np.broadcast_arrays(r, alpha, a, b, t))
    shape = r.shape
    r, alpha, a, b, t = (v.reshape(-1) for v in (r, alpha, a, b, t))
    with np.errstate(divide="ignore"):
        log_k = np.log(t) - np.log(alpha)
    # Over an empty period nothing is bought: log 0 (the rate there needs no special case).
    result = np.full(len(r), -np.inf)
    todo = np.flatnonzero(t > 0) if kind == "expected" else np.arange(len(r))
    if len(todo):
        result[todo] = _Mixture(kind, *(v[todo] for v in (r, a, b, log_k))).log_integral()
    failed = np.isnan(result)
    if np.any(failed):
        i = np.flatnonzero(failed)[0]
        raise ConvergenceError(
            f"BG/NBD: the average over the dropout probability did not converge within its "
            f"bound of panels at r={r[i]:.6g}, alpha={alpha[i]:.6g}, a={a[i]:.6g}, "
            f"b={b[i]:.6g}, t={t[i]:.6g}; the parameters are extreme for the model "
            "(a degenerate fit?)"
        )
    return result.reshape(shape)


def log_purchase_rate(r, alpha, a, b, t) -> np.ndarray:
    """log of the purchase rate at t of an alive customer, ``(r / alpha) E_p[(1 + p t /
    alpha)^-(r + 1)]``, elementwise (broadcast).

    Raises
    ------
    ConvergenceError
        Where the quadrature does not meet its tolerance within its bound of panels.
    """
    return np.log(np.asarray(r, dtype=float) / alpha) + _mixture("rate", r, alpha, a, b, t)


def expected_purchases(r, alpha, a, b, t) -> np.ndarray:
    """Expected purchases in (0, t] of an alive customer, ``E_p[(1 - (1 + p t / alpha)^-r)
    / p]``, elementwise (broadcast); 0 at t = 0.

    Raises
    ------
    ConvergenceError
        Where the quadrature does not meet its tolerance within its bound of panels.
    """
    with np.errstate(over="ignore"):
        return np.exp(_mixture("expected", r, alpha, a, b, t))


__all__ = ["expected_purchases", "log_purchase_rate"]
