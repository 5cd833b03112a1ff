"""The Pareto/NBD log-likelihood and its gradient in one compiled pass, for sampling.

The mathematics of :meth:`clvmodels.models.pareto_nbd.ParetoNBDFamily.derivatives`: per row
``LL = c + logaddexp(u, v)``, ``v = log s + log I`` with the dropout integral
``I = integral_{t_x}^T (alpha + tau)^-(r + x) (beta + tau)^-(s + 1) dtau``, written as numba
functions compiled once and cached on disk, and cross-checked against the NumPy route in the
tests. Imported only by the Bayesian models (numba is in the ``bayes`` extra), through
:meth:`ParetoNBDFamily.compiled_likelihood`.

``log I`` and its gradient come from one of two routes per row:

- the closed form ``I = (F(t_x) - F(T)) / m``, ``F(tau) = (base + tau)^-m H(z(tau))``,
  ``H(z) = 2F1(m, b2; m + 1; z)`` with ``m = r + s + x``, ``z = |alpha - beta| / (base +
  tau)``, ``base = max(alpha, beta)`` and ``b2 = s + 1`` where ``alpha >= beta``, else
  ``r + x``; by Euler's transformation ``H = (1 - z)^(1 - b2) 2F1(1, m + 1 - b2; m + 1; z)``,
  whose series' terms shrink at least as fast as z^k (see :func:`_log_f_series`). Every term
  is positive, so the sum cannot cancel, and its derivatives in m, b2 and z are sums of
  positive multiples of the same terms (no special function). The ratio ``F(T) / F(t_x)``
  is taken from ``log1p((T - t_x) / (base + t_x))``, so short intervals keep their digits.
  Used where the series converges fast (``z(t_x)`` at most ``_SERIES_MAX_Z``) and the
  difference keeps its digits (``F(T) / F(t_x)`` at most ``_SERIES_MAX_RATIO``). On CDNOW at
  the maximum-likelihood estimate that is all but ~5% of the rows (z ~ 0.1);
- elsewhere, adaptive Gauss-Kronrod 7-15 quadrature of the integrand in ``u = log(c + tau)``,
  ``c = min(alpha, beta)``, where its log is concave (the substitution of
  :mod:`clvmodels.models.pareto_nbd_quadrature`), with the derivatives as averages of the
  derivatives of the log integrand under it. The panels start split at the mode and at the
  bend ``e^u = |alpha - beta|``, the ends where the integrand is below e**-40 of its peak are
  cut (by concavity they hold less than e**-40 of the integral), and the panel with the
  largest error estimate is halved until the estimates sum to ``_QUADRATURE_RTOL`` of the
  integral.

With the default log-normal priors nutpie calls the kernel through the C callbacks at the end
of this module (:mod:`clvmodels.bayes.native` builds the nutpie model around them); with other
priors PyMC's graph holds the Op (:class:`ParetoNBDLogLikelihood`), which PyTensor's numba
backend runs as the same compiled kernel. Fits with covariates (each customer at their own
alpha_i, beta_i) call :func:`row_values_and_gradients`, the same row body per row
(:meth:`ParetoNBDFamily.compiled_row_gradient`).

numba's disk cache notices edits to the file that defines a cached function, not to the files
of the functions it calls. Everything here is defined here except the BG/NBD kernel's
``digamma`` (a fixed special function) and its ``compiled`` decorator: after editing those,
clear numba's cache (``__pycache__/*.nbi``) or this module's callbacks may run the old one.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np
from pytensor.link.numba.dispatch.basic import register_funcify_default_op_cache_key

from clvmodels._numerics import NEGLIGIBLE_NATS, gauss_kronrod_15
from clvmodels.estimation.family import per_row_arrays
from clvmodels.estimation.fitdata import FitData
from clvmodels.models.beta_geometric_kernel import BetaGeometricLogLikelihood, compiled, digamma
from clvmodels.models.dropout_coordinates import log_parameters, sampling_gradient, sampling_point
from clvmodels.models.gamma_gamma_kernel import c_callbacks

# The series' argument z(t_x) at most this: the terms shrink at least as fast as z**k, so at
# most ~55 terms reach 1e-17 at z = 0.5 (far fewer for large x, where the ratio is about
# (s + 1) z / (m + 1)). CPU time of the kernel on CDNOW at posterior points (s, beta) from
# (0.8, 19) to (3, 80), with 0.3, 0.5 and 0.7 here: 0.5 was the fastest or within noise.
_SERIES_MAX_Z = 0.5
_SERIES_TERMS = 200
# A term below this share of its sum (times 1 / (1 - ratio), a bound on the tail it starts)
# ends the series: the tail is then below rounding.
_SERIES_RTOL = 1e-17
# F(T) / F(t_x) at most this: I is F(t_x) (1 - ratio) / m, and the rounding of the series
# (~1e-16 relative) grows by 1 / (1 - ratio) in the difference: at most 10x here.
_SERIES_MAX_RATIO = 0.9
# The quadrature's acceptance, the NumPy route's (pareto_nbd_quadrature._AGREEMENT): a Kronrod
# value whose 7-point Gauss rule agrees to 1e-9 relative is accurate to about the square of
# that (Gauss quadrature's error falls geometrically with the nodes on an analytic integrand).
_AGREEMENT = 1e-9
_MAX_PANELS = 64
_ABSCISSAE, _KRONROD, _GAUSS = gauss_kronrod_15()


# ----------------------------------------------------------------------------- the series
@compiled
def _series_term(sums, e_k, z, k, harmonic, gap_sum, bound):
    """Term k of one end's four sums (J, J_c, J_d, J_z; see :func:`_log_f_series`): the sums
    with it and whether each of its terms was at most ``bound`` times its sum."""
    j, j_c, j_d, j_z = sums
    term = e_k * z
    term_z = k * e_k
    j, j_c, j_d, j_z = j + term, j_c + term * harmonic, j_d + term * gap_sum, j_z + term_z
    small = (term <= bound * j and term * harmonic <= bound * j_c
             and term * gap_sum <= bound * j_d and term_z <= bound * j_z)
    return (j, j_c, j_d, j_z), small


@compiled
def _log_f_series(m, b2, c2, z_start, z_end):
    """``log H`` and its derivatives in m, b2 and z at ``z_start`` and at ``z_end``
    (``z_end <= z_start``; two 4-tuples), or NaNs where the series has not converged within
    ``_SERIES_TERMS`` terms; ``H(z) = 2F1(m, b2; m + 1; z)``, 0 <= z < 1, ``c2 = m + 1 - b2``
    (given apart, without the rounding of the difference).

    Euler's transformation ``H = (1 - z)^(1 - b2) J``, ``J = 2F1(1, c2; m + 1; z) = sum_k
    t_k``, ``t_k = (c2)_k / (m + 1)_k z^k``: the ratio of successive terms
    ``(c2 + k) / (m + 1 + k) z`` stays below z (the series of H itself grows while
    ``(b2 + k) z / (k + 1) > 1``, for many terms at large x). With ``S_k = sum_{j<k}
    1 / (c2 + j)`` and ``D_k = sum_{j<k} (1 / (c2 + j) - 1 / (m + 1 + j)) = sum_{j<k} b2 /
    ((c2 + j) (m + 1 + j))`` (positive terms, no cancellation): ``dJ/dc2 = sum t_k S_k = J_c``,
    ``dJ/dm`` at fixed b2 (c2 moves with m) ``= sum t_k D_k = J_d`` and ``dJ/dz = sum k t_k / z
    = J_z``, kept as ``sum k e_k``, ``e_k = t_k / z``, so that z = 0 needs no division.
    """
    start, end = (1.0, 0.0, 0.0, 0.0), (1.0, 0.0, 0.0, 0.0)
    e_start = e_end = c2 / (m + 1.0)  # e_1
    harmonic = gap_sum = 0.0
    inverse_m = 1.0 / (m + 1.0)  # 1 / (m + 1 + j) at j = k - 1
    for k in range(1, _SERIES_TERMS):
        inverse_c = 1.0 / (c2 + k - 1)
        harmonic += inverse_c
        gap_sum += b2 * inverse_c * inverse_m
        # From term k on, each sum's next term is at most this ratio times its last: t_k's
        # ratio is below z, and k, S_k and D_k each grow by a factor below 1 + 1 / k; the
        # bound falls with k, so the tails are at most 1 / (1 - ratio) times the last term.
        ratio = z_start * (1.0 + 1.0 / k)
        bound = _SERIES_RTOL * (1.0 - ratio)
        start, small_start = _series_term(start, e_start, z_start, k, harmonic, gap_sum, bound)
        end, small_end = _series_term(end, e_end, z_end, k, harmonic, gap_sum, bound)
        if ratio < 1.0 and small_start and small_end:
            return (_log_h(start, b2, z_start), _log_h(end, b2, z_end))
        inverse_m = 1.0 / (m + 1.0 + k)
        growth = (c2 + k) * inverse_m
        e_start *= growth * z_start
        e_end *= growth * z_end
    nothing = (math.nan, math.nan, math.nan, math.nan)
    return nothing, nothing


@compiled
def _log_h(sums, b2, z):
    """``log H`` and its derivatives in m, b2 and z from J's sums (:func:`_log_f_series`)."""
    j, j_c, j_d, j_z = sums
    log_1mz = math.log1p(-z)
    return ((1.0 - b2) * log_1mz + math.log(j), j_d / j, -log_1mz - j_c / j,
            (b2 - 1.0) / (1.0 - z) + j_z / j)


@compiled
def _series_log_i(r, alpha, s, beta, x, t_x, T):
    """``log I`` and its gradient from the closed form (see the module), or NaN as log I
    where the series is not to be used (then the quadrature is)."""
    m = r + s + x
    alpha_larger = alpha >= beta
    base = alpha if alpha_larger else beta
    b2 = s + 1.0 if alpha_larger else r + x
    gap = abs(alpha - beta)
    start, end = base + t_x, base + T
    z_start, z_end = gap / start, gap / end
    nothing = (math.nan, 0.0, 0.0, 0.0, 0.0)
    if z_start > _SERIES_MAX_Z:
        return nothing
    c2 = r + x if alpha_larger else s + 1.0  # m + 1 - b2
    (h0, m0, b0, dz0), (h1, m1, b1, dz1) = _log_f_series(m, b2, c2, z_start, z_end)
    # log F(T) - log F(t_x) without the difference of two large logs.
    log_growth = math.log1p((T - t_x) / start)
    log_ratio = -m * log_growth + h1 - h0
    ratio = math.exp(log_ratio)
    if not (ratio <= _SERIES_MAX_RATIO):  # also NaN: a series that did not converge
        return nothing
    log_i = -m * math.log(start) + h0 + math.log(-math.expm1(log_ratio)) - math.log(m)
    # d log I = dG(t_x) - w (dG(T) - dG(t_x)) - dm / m, w = ratio / (1 - ratio), G = log F;
    # dG/dm = -log(base + tau) + H_m / H, dG/dbase = -m / (base + tau) + H_z / H dz/dbase, ...
    weight = ratio / (1.0 - ratio)
    d_m = -math.log(start) + m0 - weight * (m1 - m0 - log_growth) - 1.0 / m
    d_b2 = b0 - weight * (b1 - b0)
    # z = gap / (base + tau): dz/dbase = (1 - z) / (base + tau), dz/dother = -1 / (base + tau).
    d_base0, d_other0 = -m / start + dz0 * (1.0 - z_start) / start, -dz0 / start
    d_base1, d_other1 = -m / end + dz1 * (1.0 - z_end) / end, -dz1 / end
    d_base = d_base0 - weight * (d_base1 - d_base0)
    d_other = d_other0 - weight * (d_other1 - d_other0)
    if alpha_larger:  # b2 = s + 1, base = alpha
        return log_i, d_m, d_base, d_m + d_b2, d_other
    return log_i, d_m + d_b2, d_other, d_m, d_base


# ----------------------------------------------------------------------------- the quadrature
@compiled
def _log_integrand(u, k_c, k_o, gap):
    """The log integrand in u = log(c + tau) (the Jacobian e^u included)."""
    return (1.0 - k_c) * u - k_o * math.log(gap + math.exp(u))


@compiled
def _slope(u, k_c, k_o, gap):
    """The derivative of :func:`_log_integrand` in u: in [-m, 1], decreasing."""
    e_u = math.exp(u)
    return 1.0 - k_c - k_o * e_u / (gap + e_u)


@compiled
def _panel(lo, width, k_c, k_o, gap, peak):
    """Gauss-Kronrod 7-15 on [lo, lo + width] of the integrand over e**peak: the Kronrod value,
    its difference from the Gauss rule's, and the integrals of u, e^-u, log O and 1 / O under
    it (O = gap + e^u). The width is given, not ``hi - lo``: an interval narrower than an ulp
    of lo (t_x within ~1e-16 of T) would round to width 0 and log I to -inf."""
    kronrod = gauss = mean_u = mean_inverse_u = mean_log_o = mean_inverse_o = 0.0
    for i in range(len(_ABSCISSAE)):
        u = lo + width * _ABSCISSAE[i]
        e_u = math.exp(u)
        other = gap + e_u
        log_other = math.log(other)
        value = math.exp((1.0 - k_c) * u - k_o * log_other - peak) * width
        weighted = _KRONROD[i] * value
        gauss += _GAUSS[i] * value
        kronrod += weighted
        mean_u += weighted * u
        mean_inverse_u += weighted / e_u
        mean_log_o += weighted * log_other
        mean_inverse_o += weighted / other
    return (kronrod, abs(kronrod - gauss), mean_u, mean_inverse_u, mean_log_o,
            mean_inverse_o)


@compiled
def _truncated(lo, width, k_c, k_o, gap, m):
    """The interval [lo, lo + width] without the ends where the integrand is below e**-40 of
    the integral: the bound of :meth:`clvmodels.models.pareto_nbd_quadrature._Integrand.
    truncated` (the slope lies in [-m, 1] and decreases; where it is negative at lo the
    integrand beyond lo + d falls faster than e**(slope d)). Returns the new lo and width."""
    falling = -_slope(lo, k_c, k_o, gap)
    if falling > 0.0:
        width = min(width, (NEGLIGIBLE_NATS + math.log(max(m / falling, 1.0))) / falling)
    rising = _slope(lo + width, k_c, k_o, gap)
    if rising > 0.0:
        cut = max(width - (NEGLIGIBLE_NATS + math.log(max(1.0 / rising, 1.0))) / rising, 0.0)
        return lo + cut, width - cut
    return lo, width


@compiled
def _adaptive(lo, width, mode, k_c, k_o, gap, peak):
    """The sums of :func:`_panel` over [lo, lo + width] from panels split at the mode and the
    bend, the one with the largest Kronrod-Gauss difference halved until the differences sum
    to ``_AGREEMENT`` of the integral (or ``_MAX_PANELS`` panels)."""
    hi = lo + width
    edges = np.array([lo, mode, min(max(math.log(gap) if gap > 0.0 else lo, lo), hi), hi])
    edges[1:3].sort()
    bounds = np.empty((_MAX_PANELS, 2))
    sums = np.zeros((_MAX_PANELS, 6))
    n_panels = 0
    for k in range(3):
        if edges[k + 1] > edges[k]:
            bounds[n_panels] = edges[k], edges[k + 1]
            sums[n_panels] = _panel(edges[k], edges[k + 1] - edges[k], k_c, k_o, gap, peak)
            n_panels += 1
    if n_panels == 0:  # narrower than an ulp of lo: one panel of the given width
        bounds[0] = lo, hi
        sums[0] = _panel(lo, width, k_c, k_o, gap, peak)
        n_panels = 1
    while n_panels < _MAX_PANELS:
        if sums[:n_panels, 1].sum() <= _AGREEMENT * sums[:n_panels, 0].sum():
            break
        worst = np.argmax(sums[:n_panels, 1])
        left, right = bounds[worst, 0], bounds[worst, 1]
        middle = 0.5 * (left + right)
        bounds[worst] = left, middle
        sums[worst] = _panel(left, middle - left, k_c, k_o, gap, peak)
        bounds[n_panels] = middle, right
        sums[n_panels] = _panel(middle, right - middle, k_c, k_o, gap, peak)
        n_panels += 1
    total = sums[:n_panels].sum(axis=0)
    return total[0], total[1], total[2], total[3], total[4], total[5]


@compiled
def _quadrature_log_i(r, alpha, s, beta, x, t_x, T):
    """``log I`` and its gradient by quadrature in u = log(c + tau) (see the module): one
    Gauss-Kronrod panel over the truncated interval, accepted where its Gauss rule agrees to
    ``_AGREEMENT``, else adaptive panels."""
    alpha_larger = alpha >= beta
    c = beta if alpha_larger else alpha
    gap = abs(alpha - beta)
    k_a, k_b = r + x, s + 1.0
    k_c, k_o = (k_b, k_a) if alpha_larger else (k_a, k_b)
    lo, width = _truncated(math.log(c + t_x), math.log1p((T - t_x) / (c + t_x)), k_c, k_o,
                           gap, r + s + x)
    hi = lo + width
    # The mode of the concave log integrand, where its slope 1 - k_c - k_o e^u / (gap + e^u)
    # vanishes: e^u = rho gap / (1 - rho), rho = (1 - k_c) / k_o, when 0 < rho < 1. The
    # integrand is scaled by its value there, so that no node overflows.
    rho = (1.0 - k_c) / k_o
    if rho <= 0.0 or gap == 0.0:
        mode = lo
    elif rho >= 1.0:
        mode = hi
    else:
        mode = min(max(math.log(rho * gap / (1.0 - rho)), lo), hi)
    peak = _log_integrand(mode, k_c, k_o, gap)
    sums = _panel(lo, width, k_c, k_o, gap, peak)
    if not sums[1] <= _AGREEMENT * sums[0]:
        sums = _adaptive(lo, width, mode, k_c, k_o, gap, peak)
    integral = sums[0]
    log_i = peak + math.log(integral)
    # Averages of log C = u, 1 / C = e^-u, log O and 1 / O; phi = (-log A, -k_a / A, -log B,
    # -k_b / B) with (A, B) = (O, C) where alpha >= beta, else (C, O).
    log_c, inverse_c = sums[2] / integral, sums[3] / integral
    log_o, inverse_o = sums[4] / integral, sums[5] / integral
    if alpha_larger:
        return log_i, -log_o, -k_a * inverse_o, -log_c, -k_b * inverse_c
    return log_i, -log_c, -k_a * inverse_c, -log_o, -k_b * inverse_o


@compiled
def log_dropout_integral(r, alpha, s, beta, x, t_x, T):
    """``log I`` and its four derivatives in (r, alpha, s, beta), for ``t_x < T``: the series
    where it serves, else the quadrature."""
    result = _series_log_i(r, alpha, s, beta, x, t_x, T)
    if math.isnan(result[0]):
        return _quadrature_log_i(r, alpha, s, beta, x, t_x, T)
    return result


# ----------------------------------------------------------------------------- the likelihood
@compiled(nogil=True)
def value_and_gradient(r, alpha, s, beta, x_values, T_values, x_codes, T_codes, t_x, weights):
    """The weighted log-likelihood and its derivatives in (r, alpha, s, beta).

    The data are the arrays of :func:`kernel_data`: the distinct x and the distinct T, then
    per distinct row the codes of its x and its T among them (whole floats), its t_x and its
    weight. Returns ``(value, gradient)``.
    """
    n = weights.sum()
    log_alpha, log_beta = math.log(alpha), math.log(beta)
    total = n * (r * log_alpha + s * log_beta - math.lgamma(r))
    gradient = np.zeros(4)
    gradient[0] = n * (log_alpha - digamma(r))
    gradient[1] = n * r / alpha
    gradient[2] = n * log_beta
    gradient[3] = n * s / beta
    log_gamma_x, digamma_x = np.empty(len(x_values)), np.empty(len(x_values))
    for k in range(len(x_values)):
        log_gamma_x[k], digamma_x[k] = math.lgamma(r + x_values[k]), digamma(r + x_values[k])
    log_alpha_T, log_beta_T = np.log(alpha + T_values), np.log(beta + T_values)
    log_s = math.log(s)
    for i in range(len(weights)):
        k, j = int(x_codes[i]), int(T_codes[i])
        weight = weights[i]
        row, g0, g1, g2, g3 = _alive_or_dropped(r, alpha, s, beta, x_values[k], t_x[i],
                                                T_values[j], log_alpha_T[j], log_beta_T[j],
                                                log_s)
        total += weight * (log_gamma_x[k] + row)
        gradient[0] += weight * (digamma_x[k] + g0)
        gradient[1] += weight * g1
        gradient[2] += weight * g2
        gradient[3] += weight * g3
    return total, gradient


@compiled
def _alive_or_dropped(r, alpha, s, beta, x, t_x, T, log_alpha_T, log_beta_T, log_s):
    """One row's ``logaddexp(u, v)`` (see the module) and its derivatives in (r, alpha, s,
    beta), given ``log(alpha + T)``, ``log(beta + T)`` and ``log s``: the row's terms that mix
    the parameters, which :func:`value_and_gradient` and :func:`row_values_and_gradients`
    share."""
    rx = r + x
    u = -rx * log_alpha_T - s * log_beta_T
    d_u0, d_u1 = -log_alpha_T, -rx / (alpha + T)
    d_u2, d_u3 = -log_beta_T, -s / (beta + T)
    if not t_x < T:  # a purchase at T: no time to have dropped out, v = -inf
        return u, d_u0, d_u1, d_u2, d_u3
    log_i, d_i0, d_i1, d_i2, d_i3 = log_dropout_integral(r, alpha, s, beta, x, t_x, T)
    v = log_s + log_i
    # logaddexp(u, v) and the dropped-out share expit(v - u), from the larger term.
    if v > u:
        tail = math.exp(u - v)
        row = v + math.log1p(tail)
        dropped = 1.0 / (1.0 + tail)
    else:
        tail = math.exp(v - u)
        row = u + math.log1p(tail)
        dropped = tail / (1.0 + tail)
    return (row, d_u0 + dropped * (d_i0 - d_u0), d_u1 + dropped * (d_i1 - d_u1),
            d_u2 + dropped * (d_i2 + 1.0 / s - d_u2), d_u3 + dropped * (d_i3 - d_u3))


def kernel_data(fit_data: FitData) -> tuple[np.ndarray, ...]:
    """The arrays :func:`value_and_gradient` reads after the parameters: the distinct x, the
    distinct T, then per distinct row the codes of its x and T (as floats), t_x and weight."""
    x_values, x_codes = fit_data.levels("x")
    T_values, T_codes = fit_data.levels("T")
    return tuple(np.ascontiguousarray(array, dtype=float) for array in (
        x_values, T_values, x_codes, T_codes, fit_data["t_x"], fit_data.weights))


class ParetoNBDLogLikelihood(BetaGeometricLogLikelihood):
    """The weighted log-likelihood of ``(r, alpha, s, beta, *kernel_data)`` as a PyTensor Op:
    the value and the gradient in the four parameters (the BG/NBD Op's interface, with this
    kernel)."""

    def perform(self, node, inputs, outputs):
        total, gradient = value_and_gradient(*(float(v) for v in inputs[:4]), *inputs[4:])
        outputs[0][0] = np.asarray(total)
        outputs[1][0] = gradient


@compiled
def _numba_perform(r, alpha, s, beta, *data):
    total, gradient = value_and_gradient(r[()], alpha[()], s[()], beta[()], *data)
    return np.asarray(total), gradient


@register_funcify_default_op_cache_key(ParetoNBDLogLikelihood)
def _numba_funcify(op, node=None, **kwargs):
    """The Op in PyTensor's numba backend: the cached kernel on PyTensor's 0-d arrays."""
    return _numba_perform


# ----------------------------------------------------------------------------- nutpie callbacks
N_PARAMS = 4
# The packed data begins with the numbers of distinct x, distinct T and distinct rows and the
# horizon t1 of the sampling coordinates (HORIZON), then the priors' means and sds of the n
# log-parameters from PRIORS, the whitening's centre and its Cholesky factor (row-major;
# CompiledParetoNBD.packed builds it), then, from header_length(n), the arrays of kernel_data.
# The GGompertz/NBD kernel packs its data alike.
HORIZON = 3
PRIORS = 4
# Where s sits among the parameters (beta follows it): the sampling coordinates replace log
# beta by log q (see clvmodels.models.dropout_coordinates).
S_INDEX = 2
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


@compiled
def header_length(n_params):
    """Where the data start in the packed data of ``n_params`` parameters."""
    return PRIORS + 3 * n_params + n_params * n_params


@compiled
def packed_length(sizes, n_params):
    """The length of the packed data, from the sizes at its start."""
    return header_length(n_params) + int(sizes[0]) + int(sizes[1]) + 4 * int(sizes[2])


@compiled
def packed_arrays(packed, n_params):
    """The six arrays of ``kernel_data`` in the packed data."""
    n_x, n_T, n_rows = int(packed[0]), int(packed[1]), int(packed[2])
    ends = np.cumsum(np.array([header_length(n_params), n_x, n_T, n_rows, n_rows, n_rows,
                               n_rows]))
    return [packed[ends[k]:ends[k + 1]] for k in range(6)]


@compiled
def with_log_normal_priors(total, gradient, theta, packed):
    """The log-likelihood ``total`` and its ``gradient`` in the log-parameters ``theta`` plus
    the log-normal priors of the packed data (a normal density of each log)."""
    n_params = len(theta)
    means = packed[PRIORS:PRIORS + n_params]
    sds = packed[PRIORS + n_params:PRIORS + 2 * n_params]
    standardised = (theta - means) / sds
    total -= np.sum(0.5 * standardised**2 + np.log(sds)) + n_params * _LOG_SQRT_2PI
    return total, gradient - standardised / sds


@compiled
def whitened(z, packed):
    """The sampling coordinates at whitened coordinates z, centre + factor @ z, and the
    factor."""
    n_params = len(z)
    centre = PRIORS + 2 * n_params
    factor = packed[centre + n_params:header_length(n_params)].reshape((n_params, n_params))
    return packed[centre:centre + n_params] + factor @ z, factor


@compiled
def stored_draw(theta):
    """A draw as nutpie stores it (its PyMC layout): the log-parameters, then the
    parameters."""
    return np.concatenate((theta, np.exp(theta)))


@compiled
def log_density(y, packed):
    """log posterior density (up to a constant) of the sampling coordinates ``y`` (log r,
    log alpha, log s, log q) and its gradient, with the log-normal priors of the packed data
    (on the log-parameters) and the Jacobian of the coordinates."""
    d = packed_arrays(packed, N_PARAMS)
    theta, rho, slope = log_parameters(y, S_INDEX, math.log(packed[HORIZON]))
    params = np.exp(theta)
    total, gradient = value_and_gradient(params[0], params[1], params[2], params[3],
                                         d[0], d[1], d[2], d[3], d[4], d[5])
    # The chain rule to the log-parameters, then to the sampling coordinates.
    total, gradient = with_log_normal_priors(total, gradient * params, theta, packed)
    return total + math.log(rho), sampling_gradient(gradient, S_INDEX, rho, slope)


@compiled
def stored_log_parameters(y, packed):
    """The log-parameters at sampling coordinates ``y`` (see :func:`log_density`)."""
    return log_parameters(y, S_INDEX, math.log(packed[HORIZON]))[0]


def _logp_callback(dim, z_, gradient_, logp_, user_data_):
    """nutpie's log-density callback in whitened coordinates (the gradient is factor.T @ the
    gradient in sampling coordinates): 0 on success, 3 or 4 for a non-finite gradient or value
    (nutpie's codes), -1 for a wrong dimension."""
    if dim != N_PARAMS:
        return -1
    sizes = numba.carray(user_data_, (3,), np.float64)
    packed = numba.carray(user_data_, (packed_length(sizes, N_PARAMS),), np.float64)
    y, factor = whitened(numba.carray(z_, (N_PARAMS,)), packed)
    total, gradient = log_density(y, packed)
    numba.carray(gradient_, (N_PARAMS,))[:] = factor.T @ gradient
    logp_[0] = total
    if not np.all(np.isfinite(gradient)):
        return 3
    return 0 if np.isfinite(total) else 4


def _expand_callback(dim, expanded, z_, draw_, user_data_):
    """The draw to store at whitened coordinates z (see :func:`stored_draw`); -1 for a wrong
    dimension."""
    if dim != N_PARAMS or expanded != 2 * N_PARAMS:
        return -1
    packed = numba.carray(user_data_, (header_length(N_PARAMS),), np.float64)
    y = whitened(numba.carray(z_, (N_PARAMS,)), packed)[0]
    numba.carray(draw_, (2 * N_PARAMS,))[:] = stored_draw(stored_log_parameters(y, packed))
    return 0


@functools.cache
def compiled_callbacks() -> tuple:
    """The two callbacks as C functions with nutpie's signatures: compiled at the first fit,
    not at import (from numba's disk cache after the first fit on the machine)."""
    return c_callbacks(_logp_callback, _expand_callback)


class CompiledParetoNBD:
    """The likelihood of one fit's data as the compiled kernel: a PyTensor Op for the PyMC
    graph (:meth:`tensor`) and, with log-normal priors, nutpie's native model
    (:meth:`packed`, :meth:`log_density`, :meth:`callbacks`)."""

    def __init__(self, fit_data: FitData) -> None:
        self.data = kernel_data(fit_data)
        # The sampling coordinates' horizon: the customers' mean observation time.
        self.horizon = float(np.average(fit_data["T"], weights=fit_data.weights))

    def value_and_gradient(self, params: np.ndarray) -> tuple[float, np.ndarray]:
        """The weighted total log-likelihood and its gradient at ``params``."""
        return value_and_gradient(*(float(v) for v in params), *self.data)

    def tensor(self, params: list):
        """The weighted total log-likelihood as a PyTensor scalar of the parameter variables
        (the data enter as constants, as the BG/NBD kernel's)."""
        return ParetoNBDLogLikelihood()(*params, *self.data)[0]

    def packed(self, priors: np.ndarray, centre: np.ndarray, factor: np.ndarray) -> np.ndarray:
        """The one float array nutpie's callbacks read: the numbers of distinct x, T and rows,
        the horizon, the log-normal priors' (mean, sd) of each log-parameter, the whitening
        (centre and Cholesky factor, in sampling coordinates), then the data."""
        sizes = [len(self.data[0]), len(self.data[1]), len(self.data[2]), self.horizon]
        return np.concatenate([np.array(sizes, dtype=float), np.ravel(priors),
                               np.ravel(centre), np.ravel(factor), *self.data])

    def sampling_point(self, theta: np.ndarray) -> np.ndarray:
        """The sampling coordinates of log-parameters ``theta`` (log q in place of log beta;
        see :mod:`clvmodels.models.dropout_coordinates`)."""
        return sampling_point(theta, S_INDEX, math.log(self.horizon))

    def log_density(self, y: np.ndarray, packed: np.ndarray) -> tuple[float, np.ndarray]:
        """The log posterior density of the sampling coordinates and its gradient (log-normal
        priors on the log-parameters, as packed; see :func:`log_density`)."""
        return log_density(np.asarray(y, dtype=float), packed)

    def callbacks(self) -> tuple:
        """nutpie's C callbacks (log density, expansion of a draw), cached by numba."""
        return compiled_callbacks()


# ----------------------------------------------------------------------------- per-row parameters
@compiled(nogil=True)
def row_values_and_gradients(r, alpha, s, beta, x, t_x, T):
    """Per row: the log-likelihood and its derivatives in that row's (r, alpha, s, beta),
    shape ``(4, rows)``, each argument an array of one value per row (per-row parameters, as
    with covariates: every customer's alpha_i, beta_i). The row body is
    :func:`value_and_gradient`'s (:func:`_alive_or_dropped`), with the terms that
    :func:`value_and_gradient` sums once for shared parameters taken per row."""
    n = len(x)
    rows, gradient = np.empty(n), np.empty((4, n))
    for i in range(n):
        r_i, alpha_i, s_i, beta_i, x_i, T_i = r[i], alpha[i], s[i], beta[i], x[i], T[i]
        log_alpha, log_beta = math.log(alpha_i), math.log(beta_i)
        row, g0, g1, g2, g3 = _alive_or_dropped(
            r_i, alpha_i, s_i, beta_i, x_i, t_x[i], T_i, math.log(alpha_i + T_i),
            math.log(beta_i + T_i), math.log(s_i))
        rows[i] = (math.lgamma(r_i + x_i) - math.lgamma(r_i) + r_i * log_alpha
                   + s_i * log_beta + row)
        gradient[0, i] = digamma(r_i + x_i) - digamma(r_i) + log_alpha + g0
        gradient[1, i] = r_i / alpha_i + g1
        gradient[2, i] = log_beta + g2
        gradient[3, i] = s_i / beta_i + g3
    return rows, gradient


def row_log_likelihood_gradient(params: tuple, fit_data: FitData
                                ) -> tuple[np.ndarray, np.ndarray]:
    """:meth:`ParetoNBDFamily.log_likelihood_gradient` by the compiled kernel: per row of
    ``fit_data`` the log-likelihood and its derivatives in that row's parameters, shape
    ``(4, rows)``; each parameter a scalar or one value per row."""
    values, data = per_row_arrays(params, fit_data, ("x", "t_x", "T"))
    return row_values_and_gradients(*values, *data)
