"""Numerical building blocks shared by the models: log-space helpers and quadrature."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache

import numpy as np
import scipy.special

# Where a log-concave integrand has fallen this many nats below its peak, the rest of it adds
# less than e**-40 (about 4e-18) relative to the integral: below double precision.
_NEGLIGIBLE_NATS = 40.0
_BISECTION_STEPS = 64
_NODES_PER_PANEL = 32


def log1mexp(x: np.ndarray) -> np.ndarray:
    """Return ``log(1 - exp(x))`` for ``x <= 0`` without cancellation (Maechler 2012)."""
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore"):
        return np.where(x > -np.log(2.0), np.log(-np.expm1(x)), np.log1p(-np.exp(x)))


@cache
def gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [0, 1]."""
    nodes, weights = np.polynomial.legendre.leggauss(n)
    return (nodes + 1.0) / 2.0, weights / 2.0


def integrate_panels(
    log_f: Callable[[np.ndarray], np.ndarray], edges: np.ndarray
) -> np.ndarray:
    """Log of the integral of ``exp(log_f(u))`` over consecutive panels, per row.

    Parameters
    ----------
    log_f : callable
        Maps an array of abscissae of shape (nodes, rows) to the log integrand, same shape.
    edges : ndarray of shape (panels + 1, rows)
        Non-decreasing panel boundaries per row; empty panels contribute nothing.

    Returns
    -------
    ndarray of shape (rows,)
        ``log(integral)``; ``-inf`` where the interval is empty.
    """
    nodes, weights = gauss_legendre(_NODES_PER_PANEL)
    lo, width = edges[:-1], np.diff(edges, axis=0)  # (panels, rows)
    u = lo[:, None, :] + width[:, None, :] * nodes[None, :, None]  # (panels, nodes, rows)
    rows = edges.shape[1]
    log_values = log_f(u.reshape(-1, rows)).reshape(u.shape)
    with np.errstate(divide="ignore"):
        log_weights = np.log(width)[:, None, :] + np.log(weights)[None, :, None]
    terms = (log_values + log_weights).reshape(-1, rows)
    peak = np.max(terms, axis=0)
    finite_peak = np.where(np.isfinite(peak), peak, 0.0)
    with np.errstate(divide="ignore"):
        return finite_peak + np.log(np.sum(np.exp(terms - finite_peak), axis=0))


def _bisect(predicate: Callable[[np.ndarray], np.ndarray], lo: np.ndarray, hi: np.ndarray):
    """Vectorised bisection for the point where ``predicate`` turns from True to False."""
    lo, hi = lo.copy(), hi.copy()
    for _ in range(_BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        go_right = predicate(mid)
        lo = np.where(go_right, mid, lo)
        hi = np.where(go_right, hi, mid)
    return 0.5 * (lo + hi)


def log_integral_concave(
    log_f: Callable[[np.ndarray], np.ndarray],
    dlog_f: Callable[[np.ndarray], np.ndarray],
    lo: np.ndarray,
    hi: np.ndarray,
    breakpoints: Sequence[np.ndarray] = (),
) -> np.ndarray:
    """Log of ``integral_lo^hi exp(log_f(u)) du`` for a concave ``log_f``, per row.

    A log-concave integrand is unimodal, so the mode is found by bisection on the derivative
    and the integral is truncated where the integrand has fallen ``_NEGLIGIBLE_NATS`` below its
    peak. Composite Gauss-Legendre panels are split at the mode and at ``breakpoints`` (where
    the caller knows the integrand bends), which keeps the quadrature accurate to about 1e-13
    relative for the smooth integrands of the models.

    Parameters
    ----------
    log_f, dlog_f : callable
        The log integrand and its derivative, each mapping an array of abscissae whose last axis
        runs over rows to an array of the same shape.
    lo, hi : ndarray
        Finite integration limits per row, ``lo <= hi``.
    breakpoints : sequence of ndarray
        Extra panel boundaries per row (clipped to the truncated interval).

    Returns
    -------
    ndarray
        The log integral per row (``-inf`` where ``lo == hi``).
    """
    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    with np.errstate(all="ignore"):
        mode = _bisect(lambda u: dlog_f(u) > 0, lo, hi)
        peak = log_f(mode)
        floor = peak - _NEGLIGIBLE_NATS
        left = np.where(log_f(lo) < floor, _bisect(lambda u: log_f(u) < floor, lo, mode), lo)
        right = np.where(log_f(hi) < floor, _bisect(lambda u: log_f(u) > floor, mode, hi), hi)
    inner = [np.clip(b, left, right) for b in breakpoints]
    edges = np.sort(np.vstack([left, mode, right, *inner]), axis=0)
    return integrate_panels(log_f, edges)


# Terms of the Gauss series summed at most, on the few elements where SciPy's 2F1 fails.
_SERIES_MAX_TERMS = 20_000


def log_hyp2f1(a, b, c, z) -> np.ndarray:
    """``log 2F1(a, b; c; z)`` for ``0 <= z < 1``.

    SciPy's ``hyp2f1`` is accurate where it is finite but returns NaN or inf in corners (large
    ``c`` with z near 1, values beyond the float range). There, for positive a, b, c, the Gauss
    series is summed in log space: its terms are then all positive, so nothing cancels and
    values beyond 1e308 are fine. Elsewhere the result is NaN, for the caller to fall back on
    another form.
    """
    a, b, c, z = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (a, b, c, z)))
    value = scipy.special.hyp2f1(a, b, c, z)
    with np.errstate(divide="ignore", invalid="ignore"):
        result = np.where(np.isfinite(value) & (value > 0), np.log(value), np.nan)
    retry = np.isnan(result) & (a > 0) & (b > 0) & (c > 0) & (z >= 0) & (z < 1)
    if np.any(retry):
        result[retry] = _log_gauss_series(a[retry], b[retry], c[retry], z[retry])
    return result


def _log_gauss_series(a, b, c, z) -> np.ndarray:
    log_term = np.zeros_like(a)
    log_sum = np.zeros_like(a)
    log_z = np.log(z)
    active = np.ones(a.shape, dtype=bool)
    for k in range(_SERIES_MAX_TERMS):
        log_term = log_term + np.log((a + k) * (b + k) / ((c + k) * (k + 1.0))) + log_z
        log_sum = np.where(active, np.logaddexp(log_sum, log_term), log_sum)
        # Converged once terms are negligible and shrinking (the ratio has passed below 1).
        shrinking = (a + k) * (b + k) * z < (c + k) * (k + 1.0)
        active &= ~(shrinking & (log_term < log_sum - _NEGLIGIBLE_NATS))
        if not active.any():
            return log_sum
    return np.where(active, np.nan, log_sum)
