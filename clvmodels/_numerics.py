"""Numerical building blocks shared by the models: log-space helpers and quadrature."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache

import mpmath
import numpy as np
import scipy.special

from clvmodels.display import progress_bar
from clvmodels.errors import ConvergenceError

#: Where a log-concave integrand has fallen this many nats below its peak, the rest of it adds
#: less than e**-40 (about 4e-18) relative to the integral: below double precision.
NEGLIGIBLE_NATS = 40.0
_BISECTION_STEPS = 64
_NODES_PER_PANEL = 32
# Composite Gauss-Legendre panels of a discounted-purchase integral (see integrate_rate).
RATE_PANELS = 8
#: Beyond e**-50 of discounting the remaining purchases add nothing in double precision.
DISCOUNT_CUTOFF_NATS = 50.0
# Rows integrated at once: bounds memory at about _RATE_CHUNK * nodes * 8 bytes per temporary.
_RATE_CHUNK = 8192


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
    log_f: Callable[[np.ndarray], np.ndarray], edges: np.ndarray,
    moments: Callable[[np.ndarray], np.ndarray] | None = None,
    nodes: int = _NODES_PER_PANEL,
):
    """Log of the integral of ``exp(log_f(u))`` over consecutive panels, per row.

    Parameters
    ----------
    log_f : callable
        Maps an array of abscissae of shape (nodes, rows) to the log integrand, same shape.
    edges : ndarray of shape (panels + 1, rows)
        Non-decreasing panel boundaries per row; empty panels contribute nothing.
    moments : callable, optional
        Maps the abscissae to an array of shape (k, nodes, rows): k functions whose averages
        weighted by the integrand are returned too (e.g. derivatives of the log integrand in
        parameters, whose averages are the derivatives of the log integral).
    nodes : int, default 32
        Gauss-Legendre nodes per panel.

    Returns
    -------
    ndarray of shape (rows,)
        ``log(integral)``; ``-inf`` where the interval is empty. With ``moments``, also the
        averages, shape (k, rows) (NaN where the interval is empty).
    """
    points, weights = gauss_legendre(nodes)
    lo, width = edges[:-1], np.diff(edges, axis=0)  # (panels, rows)
    u = lo[:, None, :] + width[:, None, :] * points[None, :, None]  # (panels, nodes, rows)
    rows = edges.shape[1]
    log_values = log_f(u.reshape(-1, rows)).reshape(u.shape)
    with np.errstate(divide="ignore"):
        log_weights = np.log(width)[:, None, :] + np.log(weights)[None, :, None]
    terms = (log_values + log_weights).reshape(-1, rows)
    peak = np.max(terms, axis=0)
    finite_peak = np.where(np.isfinite(peak), peak, 0.0)
    scaled = np.exp(terms - finite_peak)
    total = np.sum(scaled, axis=0)
    with np.errstate(divide="ignore"):
        log_integral = finite_peak + np.log(total)
    if moments is None:
        return log_integral
    with np.errstate(invalid="ignore", divide="ignore"):
        averages = np.sum(moments(u.reshape(-1, rows)) * scaled, axis=1) / total
    return log_integral, averages


def bisect(predicate: Callable[[np.ndarray], np.ndarray], lo: np.ndarray, hi: np.ndarray,
           steps: int = _BISECTION_STEPS) -> np.ndarray:
    """Vectorised bisection (``steps`` halvings) for the point where ``predicate`` turns from
    True to False between ``lo`` and ``hi``, per element."""
    lo, hi = lo.copy(), hi.copy()
    for _ in range(steps):
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
    moments: Callable[[np.ndarray], np.ndarray] | None = None,
):
    """Log of ``integral_lo^hi exp(log_f(u)) du`` for a concave ``log_f``, per row.

    A log-concave integrand is unimodal, so the mode is found by bisection on the derivative
    and the integral is truncated where the integrand has fallen ``NEGLIGIBLE_NATS`` below its
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
    moments : callable, optional
        Functions to average with the integrand's weights (see :func:`integrate_panels`).

    Returns
    -------
    ndarray
        The log integral per row (``-inf`` where ``lo == hi``); with ``moments`` also the
        averages.
    """
    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    with np.errstate(all="ignore"):
        mode = bisect(lambda u: dlog_f(u) > 0, lo, hi)
        peak = log_f(mode)
        floor = peak - NEGLIGIBLE_NATS
        left = np.where(log_f(lo) < floor, bisect(lambda u: log_f(u) < floor, lo, mode), lo)
        right = np.where(log_f(hi) < floor, bisect(lambda u: log_f(u) > floor, mode, hi), hi)
    inner = [np.clip(b, left, right) for b in breakpoints]
    edges = np.sort(np.vstack([left, mode, right, *inner]), axis=0)
    return integrate_panels(log_f, edges, moments)


def log_hyp2f1_forms(*forms: tuple, exact_fallback: bool = True) -> np.ndarray:
    """The first finite of equal expressions ``offset + log 2F1(a, b; c; z)``, elementwise.

    Each form is a tuple ``(offset, a, b, c, z)`` of broadcastable arrays with ``0 <= z < 1``;
    they are transformations of one quantity, each stable in other corners. SciPy's ``hyp2f1``
    is accurate where it is finite but returns NaN or inf in corners the models reach (z near 1
    with c - a - b near a whole number, large c, values beyond the float range). With
    ``exact_fallback`` the elements where every form fails in SciPy are evaluated with mpmath
    (about 1 ms each), within bounds that keep it from running without end: only arguments of
    magnitude up to ``MPMATH_MAX_ARGUMENT`` (beyond, mpmath's series need ~|a b z / c| terms and
    its transformations recurse without the term bound), at most ``MPMATH_MAX_TERMS`` terms and
    ``MPMATH_MAX_PRECISION`` bits per evaluation, and at most ``MPMATH_MAX_EVALUATIONS``
    evaluations per call. Where a form is out of those bounds or mpmath fails too the result
    is NaN, for the caller to fall back on another route.

    Raises
    ------
    ConvergenceError
        If more than ``MPMATH_MAX_EVALUATIONS`` elements need mpmath in one call.
    """
    forms = [np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in form)) for form in forms]
    result = np.full(forms[0][0].shape, np.nan)
    for offset, a, b, c, z in forms:
        todo = np.isnan(result)
        value = scipy.special.hyp2f1(a[todo], b[todo], c[todo], z[todo])
        with np.errstate(divide="ignore", invalid="ignore"):
            result[todo] = np.where(
                np.isfinite(value) & (value > 0), offset[todo] + np.log(value), np.nan
            )
    if not exact_fallback:
        return result
    evaluations = 0
    for offset, a, b, c, z in forms:
        within = np.maximum.reduce([np.abs(a), np.abs(b), np.abs(c)]) <= MPMATH_MAX_ARGUMENT
        todo = np.flatnonzero(np.isnan(result) & within & (z >= 0) & (z < 1))
        evaluations += len(todo)
        if evaluations > MPMATH_MAX_EVALUATIONS:
            i = todo[0]
            raise ConvergenceError(
                f"the Gauss hypergeometric function 2F1 failed in SciPy for more than "
                f"{MPMATH_MAX_EVALUATIONS:,} arguments of one call (e.g. a={a.flat[i]:.6g}, "
                f"b={b.flat[i]:.6g}, c={c.flat[i]:.6g}, z={z.flat[i]:.6g}), and its exact "
                "evaluation (about 1 ms each) stops there; the parameters are extreme for "
                "the model (a degenerate fit?)"
            )
        # About 1 ms (up to 20) each: a bar where someone watches, when there are many.
        with progress_bar(f"exact 2F1 (mpmath) for {len(todo):,} arguments", len(todo),
                          None if len(todo) >= MPMATH_PROGRESS else False) as advance:
            for i in todo:
                result.flat[i] = offset.flat[i] + _log_hyp2f1_mpmath(a.flat[i], b.flat[i],
                                                                     c.flat[i], z.flat[i])
                advance()
    return result


# The bounds of the exact 2F1 (see log_hyp2f1_forms). Below this magnitude of its arguments a
# sweep of 800 random arguments (z up to 1 - 1e-17) took at most 20 ms per evaluation with
# these term and precision bounds; at 1e4 up to 0.25 s, beyond that without end.
MPMATH_MAX_ARGUMENT = 1e3
MPMATH_MAX_TERMS = 10_000
MPMATH_MAX_PRECISION = 2_000
MPMATH_MAX_EVALUATIONS = 1_000
# From this many exact evaluations in one call (a tenth of a second and more) a progress bar.
MPMATH_PROGRESS = 100


def _log_hyp2f1_mpmath(a: float, b: float, c: float, z: float) -> float:
    try:
        value = mpmath.hyp2f1(a, b, c, z, maxterms=MPMATH_MAX_TERMS,
                              maxprec=MPMATH_MAX_PRECISION)
    except (mpmath.libmp.NoConvergence, ZeroDivisionError, ValueError, RecursionError):
        return np.nan
    return float(mpmath.log(value)) if mpmath.isfinite(value) and value > 0 else np.nan


def integrate_rate(
    log_rate: Callable[[tuple, np.ndarray], np.ndarray],
    params: tuple,
    scale: np.ndarray,
    horizon: np.ndarray | float,
    k: float = 0.0,
    panels: int = RATE_PANELS,
    nodes: int = _NODES_PER_PANEL,
) -> np.ndarray:
    """``integral_0^horizon exp(-k t) exp(log_rate(params, t)) dt`` per row of ``params``.

    Composite Gauss-Legendre in u = log(1 + t / scale), where a purchase rate decaying like a
    power of (1 + t / scale) is a smooth exponential (relative error ~1e-10 with the default 8
    panels of 32 nodes); rows are processed in chunks so memory stays bounded for millions of
    rows. ``panels`` trades accuracy for speed (fewer when the integral is evaluated once per
    posterior draw), as does ``nodes`` (per panel). ``k`` is the continuous discount rate,
    log(1 + rate).
    """
    scale = np.asarray(scale, dtype=float).reshape(-1)
    n = len(scale)
    horizon = np.broadcast_to(np.asarray(horizon, dtype=float), (n,))
    end = horizon if k == 0 else np.minimum(horizon, DISCOUNT_CUTOFF_NATS / k)
    u_max = np.log1p(end / scale)
    result = np.empty(n)
    for start in range(0, max(n, 1), _RATE_CHUNK):
        chunk = slice(start, min(start + _RATE_CHUNK, n))
        chunk_params = tuple(np.broadcast_to(p, (n,))[chunk] for p in params)
        edges = np.linspace(0.0, 1.0, panels + 1)[:, None] * u_max[None, chunk]

        def log_integrand(u, chunk=chunk, chunk_params=chunk_params):
            t = scale[chunk] * np.expm1(u)
            return np.log(scale[chunk]) + u - k * t + log_rate(chunk_params, t)

        result[chunk] = np.exp(integrate_panels(log_integrand, edges, nodes=nodes))
    return result


# Per posterior draw the discounted-purchase integral is first taken by two short
# Gauss-Legendre rules on one panel. Their error falls geometrically with the nodes
# (~rho**-2n for an integrand analytic in an ellipse rho around the panel), so where the 6- and
# 12-node values agree to TWO_RULE_TOLERANCE the 12-node one, whose error is about the square
# of the 6-node one's, is well within it (18 rate evaluations instead of 256; a year on CDNOW:
# every element); elsewhere (long horizons, sharply decaying rates such as r + x = 300, where
# one panel of 32 nodes can be 80% off) the full RATE_PANELS-panel rule of a single draw.
SHORT_RULE_NODES = (6, 12)
TWO_RULE_TOLERANCE = 1e-11


def integrate_rate_per_draw(
    log_rate: Callable[[tuple, np.ndarray], np.ndarray],
    params: tuple,
    scale: np.ndarray,
    horizon: np.ndarray | float,
    k: float = 0.0,
) -> np.ndarray:
    """:func:`integrate_rate` for many elements (posterior draws x rows) at a fraction of the
    cost: the 12-node one-panel value where it agrees with the 6-node one to
    ``TWO_RULE_TOLERANCE`` relative, else the full rule (see ``SHORT_RULE_NODES``)."""
    coarse, fine = (integrate_rate(log_rate, params, scale, horizon, k, panels=1, nodes=nodes)
                    for nodes in SHORT_RULE_NODES)
    with np.errstate(invalid="ignore"):
        unsure = ~(np.abs(fine - coarse) <= TWO_RULE_TOLERANCE * np.abs(fine))
    if np.any(unsure):
        shape = np.broadcast_shapes(np.shape(scale), *(np.shape(p) for p in params))
        rows = tuple(np.broadcast_to(p, shape)[unsure] for p in params)
        horizons = np.broadcast_to(np.asarray(horizon, dtype=float), shape)[unsure]
        fine[unsure] = integrate_rate(log_rate, rows, np.broadcast_to(scale, shape)[unsure],
                                      horizons, k)
    return fine


# Gauss-Kronrod 7-15 on [-1, 1] (QUADPACK's qk15): Kronrod nodes and weights, and the weights
# of the 7-point Gauss rule on every other node, whose difference estimates the error.
_KRONROD_NODES = np.array([
    -0.991455371120812639206854697526329, -0.949107912342758524526189684047851,
    -0.864864423359769072789712788640926, -0.741531185599394439863864773280788,
    -0.586087235467691130294144845693013, -0.405845151377397166906606412076961,
    -0.207784955007898467600689403773245, 0.0,
    0.207784955007898467600689403773245, 0.405845151377397166906606412076961,
    0.586087235467691130294144845693013, 0.741531185599394439863864773280788,
    0.864864423359769072789712788640926, 0.949107912342758524526189684047851,
    0.991455371120812639206854697526329,
])
_KRONROD_WEIGHTS = np.array([
    0.022935322010529224963732008058970, 0.063092092629978553290700663189204,
    0.104790010322250183839876322541518, 0.140653259715525918745189590510238,
    0.169004726639267902826583426598550, 0.190350578064785409913256402421014,
    0.204432940075298892414161999234649, 0.209482141084727828012999174891714,
    0.204432940075298892414161999234649, 0.190350578064785409913256402421014,
    0.169004726639267902826583426598550, 0.140653259715525918745189590510238,
    0.104790010322250183839876322541518, 0.063092092629978553290700663189204,
    0.022935322010529224963732008058970,
])
_GAUSS_WEIGHTS = np.array([
    0.0, 0.129484966168869693270611432679082, 0.0, 0.279705391489276667901467771423780,
    0.0, 0.381830050505118944950369775488975, 0.0, 0.417959183673469387755102040816327,
    0.0, 0.381830050505118944950369775488975, 0.0, 0.279705391489276667901467771423780,
    0.0, 0.129484966168869693270611432679082, 0.0,
])


def gauss_kronrod_15() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gauss-Kronrod 7-15 on [0, 1]: the 15 nodes, the Kronrod weights and the weights of the
    7-point Gauss rule on the same nodes (zero on the other eight)."""
    return (_KRONROD_NODES + 1.0) / 2.0, _KRONROD_WEIGHTS / 2.0, _GAUSS_WEIGHTS / 2.0


def _kronrod_panels(log_f: Callable, lo: np.ndarray, hi: np.ndarray, rows: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Log of the 15-point Kronrod value of each panel [lo, hi] (one per row of ``rows``) and
    log of its error estimate |Kronrod - Gauss|."""
    half = 0.5 * (hi - lo)
    u = (0.5 * (lo + hi))[None, :] + half[None, :] * _KRONROD_NODES[:, None]
    with np.errstate(all="ignore"):
        log_values = log_f(u, rows)
        peak = np.max(log_values, axis=0)
        peak = np.where(np.isfinite(peak), peak, 0.0)
        scaled = np.exp(log_values - peak)
        kronrod = _KRONROD_WEIGHTS @ scaled * half
        gauss = _GAUSS_WEIGHTS @ scaled * half
        return peak + np.log(kronrod), peak + np.log(np.abs(kronrod - gauss))


def log_integral_adaptive(log_f: Callable[[np.ndarray, np.ndarray], np.ndarray],
                          edges: np.ndarray, log_extra: np.ndarray | None = None,
                          rtol: float = 1e-11, max_panels: int = 64,
                          moments: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
                          ) -> tuple[np.ndarray, ...]:
    """Log of the integral of ``exp(log_f(u))`` over ``[edges[0], edges[-1]]`` per row, by
    adaptive Gauss-Kronrod (7-15) quadrature, vectorised over rows.

    Each row starts from the panels between its ``edges`` (which should include where the
    integrand peaks or bends, so that no feature hides between the nodes of a panel) and splits
    its panel of largest error estimate in two until the estimated error of the row's total
    (plus ``exp(log_extra)``, e.g. tails integrated in closed form) is below ``rtol`` of it, or
    it has ``max_panels`` panels: the work per row is bounded. The Gauss-Kronrod difference
    overestimates the error of the Kronrod value, typically by orders of magnitude.

    Parameters
    ----------
    log_f : callable
        ``log_f(u, rows)``: the log integrand at abscissae ``u`` of shape (nodes, len(rows)),
        for the rows of index ``rows``.
    edges : ndarray of shape (panels + 1, rows)
        Non-decreasing initial panel boundaries per row.
    log_extra : ndarray, optional
        Log of a part of each row's integral computed otherwise, added to the result.
    moments : callable, optional
        ``moments(u, rows)``: k functions of shape (k, nodes, len(rows)) whose averages
        weighted by the integrand are returned too (e.g. derivatives of the log integrand in
        parameters: their averages are the derivatives of the log integral), from the final
        panels' Kronrod nodes (one more evaluation of the integrand there). Needs no
        ``log_extra``.

    Returns
    -------
    log_integral, log_error : ndarray of shape (rows,)
        The log integral and the log of its error estimate, which is above
        ``log_integral + log(rtol)`` where ``max_panels`` panels did not reach ``rtol`` (e.g.
        where rounding of a huge log integrand puts a floor under the error): the caller
        decides what it accepts. With ``moments``, also the averages, shape (k, rows) (NaN
        where the integral is 0).
    """
    n_initial, n_rows = edges.shape[0] - 1, edges.shape[1]
    if log_extra is None:
        log_extra = np.full(n_rows, -np.inf)
    slots = max(max_panels, n_initial)
    lo, hi = np.zeros((slots, n_rows)), np.zeros((slots, n_rows))
    value, error = np.full((slots, n_rows), -np.inf), np.full((slots, n_rows), -np.inf)
    every = np.arange(n_rows)
    for j in range(n_initial):
        lo[j], hi[j] = edges[j], edges[j + 1]
        # An empty panel adds nothing (its Kronrod value is 0): it is not evaluated.
        rows = np.flatnonzero(hi[j] > lo[j])
        value[j, rows], error[j, rows] = _kronrod_panels(log_f, lo[j, rows], hi[j, rows], rows)
    # Slots beyond the largest count of panels are empty: sums run over the first `used`.
    used = n_initial
    # The bookkeeping runs on a linear scale relative to each row's running total (rebased
    # when a part outgrows it); the result is summed in log space at the end.
    reference = np.zeros(n_rows)

    def rebase(rows: np.ndarray) -> None:
        with np.errstate(invalid="ignore"):
            base = np.logaddexp(scipy.special.logsumexp(value[:used, rows], axis=0),
                                log_extra[rows])
        reference[rows] = np.where(np.isfinite(base), base, 0.0)
        ref = reference[rows]
        total[rows] = (np.exp(value[:used, rows] - ref).sum(axis=0)
                       + np.exp(log_extra[rows] - ref))
        total_error[rows] = np.exp(error[:used, rows] - ref).sum(axis=0)

    total, total_error = np.empty(n_rows), np.empty(n_rows)
    rebase(every)
    count = np.full(n_rows, n_initial)
    todo = np.flatnonzero((total_error > rtol * total) & (count < slots))
    while len(todo):
        worst = np.argmax(error[:used, todo], axis=0)
        left, right = lo[worst, todo], hi[worst, todo]
        middle = 0.5 * (left + right)
        new = count[todo]
        lo[new, todo], hi[new, todo] = middle, right
        hi[worst, todo] = middle
        old_value, old_error = value[worst, todo], error[worst, todo]
        value[worst, todo], error[worst, todo] = _kronrod_panels(log_f, left, middle, todo)
        value[new, todo], error[new, todo] = _kronrod_panels(log_f, middle, right, todo)
        ref = reference[todo]
        with np.errstate(all="ignore"):
            total[todo] += (np.exp(value[worst, todo] - ref) + np.exp(value[new, todo] - ref)
                            - np.exp(old_value - ref))
            total_error[todo] += (np.exp(error[worst, todo] - ref)
                                  + np.exp(error[new, todo] - ref) - np.exp(old_error - ref))
        count[todo] += 1
        used = max(used, int(count[todo].max()))
        outgrown = todo[~(np.abs(total[todo]) < 1e100) | ~(total_error[todo] < 1e100)]
        if len(outgrown):
            rebase(outgrown)
        todo = todo[(total_error[todo] > rtol * total[todo]) & (count[todo] < slots)]
    with np.errstate(invalid="ignore"):
        log_integral = np.logaddexp(scipy.special.logsumexp(value[:used], axis=0), log_extra)
        log_error = scipy.special.logsumexp(error[:used], axis=0)
    if moments is None:
        return log_integral, log_error
    return log_integral, log_error, _kronrod_moments(log_f, moments, lo[:used], hi[:used],
                                                     log_integral)


# Panels whose moments are evaluated at once: bounds memory at about 15 * k * 8 bytes each.
_MOMENT_CHUNK = 16384


def _kronrod_moments(log_f: Callable, moments: Callable, lo: np.ndarray, hi: np.ndarray,
                     log_integral: np.ndarray) -> np.ndarray:
    """Averages of ``moments`` weighted by the integrand over the non-empty panels ``lo``,
    ``hi`` (shape (panels, rows)), by the 15-point Kronrod rule, all panels at once; the
    weights are taken relative to the row's integral, so no panel's values overflow."""
    n_rows = lo.shape[1]
    panel, rows = np.nonzero(hi > lo)
    reference = np.where(np.isfinite(log_integral), log_integral, 0.0)
    sums, mass = None, np.zeros(n_rows)
    for start in range(0, len(rows), _MOMENT_CHUNK):
        chunk = slice(start, start + _MOMENT_CHUNK)
        p, r = panel[chunk], rows[chunk]
        half = 0.5 * (hi[p, r] - lo[p, r])
        u = (0.5 * (lo[p, r] + hi[p, r]))[None, :] + half[None, :] * _KRONROD_NODES[:, None]
        with np.errstate(all="ignore"):
            weights = np.exp(log_f(u, r) - reference[r]) * half * _KRONROD_WEIGHTS[:, None]
            values = np.where(weights > 0, moments(u, r), 0.0)
        weighted = np.sum(values * weights, axis=1)  # (k, panels)
        if sums is None:
            sums = np.zeros((weighted.shape[0], n_rows))
        for i, row_sums in enumerate(weighted):
            sums[i] += np.bincount(r, row_sums, minlength=n_rows)
        mass += np.bincount(r, weights.sum(axis=0), minlength=n_rows)
    if sums is None:  # no row has a non-empty panel: the number of moments is unknown
        sums = np.zeros((len(moments(np.zeros((1, 0)), np.zeros(0, dtype=int))), n_rows))
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / mass


# ----------------------------------------------------------------------------- log-gamma
def stirling_correction(x: np.ndarray) -> np.ndarray:
    """``log Gamma(x) - ((x - 1/2) log x - x + log(2 pi) / 2)``, accurate for every x > 0.

    From x = 10 on by its asymptotic series to the x**-11 term (the next, 1 / (156 x**13), is
    below 7e-16 there and falling), which the direct difference would lose to cancellation for
    large x.
    """
    x = np.asarray(x, dtype=float)
    small = x < 10.0
    with np.errstate(divide="ignore", invalid="ignore"):
        inverse = 1.0 / x
        square = inverse * inverse
        series = inverse * (1 / 12 - square * (1 / 360 - square * (
            1 / 1260 - square * (1 / 1680 - square * (1 / 1188 - square * 691 / 360360)))))
        direct = scipy.special.gammaln(x) - ((x - 0.5) * np.log(x) - x
                                             + 0.5 * np.log(2 * np.pi))
    return np.where(small, direct, series)


def log_beta_at_mean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a log m + b log(1 - m) - log B(a, b)`` at ``m = a / (a + b)``, without cancellation."""
    return (0.5 * (np.log(a) + np.log(b) - np.log(a + b) - np.log(2 * np.pi))
            + stirling_correction(a + b) - stirling_correction(a) - stirling_correction(b))


def log_rising(x: np.ndarray, n: np.ndarray) -> np.ndarray:
    """``log Gamma(x + n) - log Gamma(x)`` (the log of the rising factorial), for x > 0 and
    n >= 0, without the cancellation of the difference: for x = 8e16 and n = 1e6 that loses
    ~1e-4 nats (and SciPy's betaln, built on it, up to 440). From x = 10 on by Stirling's
    series, ``(x - 1/2) log1p(n / x) + n log(x + n) - n`` plus the difference of
    :func:`stirling_correction`, each term accurate relative to itself."""
    x, n = np.asarray(x, dtype=float), np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        series = ((x - 0.5) * np.log1p(n / x) + n * np.log(x + n) - n
                  + stirling_correction(x + n) - stirling_correction(x))
        return np.where(x < 10.0, scipy.special.gammaln(x + n) - scipy.special.gammaln(x),
                        series)
