"""The GGompertz/NBD log-likelihood and its gradient in one compiled pass, for sampling.

The mathematics of :meth:`clvmodels.models.ggompertz_nbd.GGompertzNBDFamily.derivatives`: per
row ``LL = c + logaddexp(u, v)``, ``v = log s + log I`` with the lifetime integral
``I = integral_{t_x}^T (alpha + tau)^-k (b / G(tau)) S(tau) dtau`` (``k = r + x``), written as
numba functions compiled once and cached on disk, and cross-checked against the NumPy route in
the tests. Imported only by the Bayesian models (numba is in the ``bayes`` extra), through
:meth:`GGompertzNBDFamily.compiled_likelihood`.

``I`` is integrated as the NumPy route integrates it: adaptive Gauss-Kronrod 7-15 quadrature
in ``w = log((alpha + tau) / (alpha + t_x))``, the panel with the largest Kronrod-Gauss
difference halved until the differences sum to ``_RTOL`` of the integral (an error of 1e-12
by QUADPACK's estimate, the NumPy route's target), with the derivatives
of log I as averages of those of the log integrand over the final panels' nodes. The initial
panels are split at the Gompertz density's mode and its width around it (a peak that could
hide between nodes) and 40 e-fold lengths of the integrand from t_x, but not at the NumPy
route's 1 and 6 e-fold lengths (see :func:`_edges`): on CDNOW that halves the panels per row
(~2 to ~1) and the time per gradient. Every panel is scaled by its own largest node, so that
no node overflows or underflows whatever the size of k or of the parameters.

A node costs five transcendental functions: ``expm1(w)`` (its tau), ``expm1(z)`` (``z = b
tau``), ``L = log(g / beta) = log1p(expm1(z) / beta)`` (the ageing), ``log G`` and the
integrand's exponential; ``e^(-z) = 1 / (1 + expm1(z))``, ``G = beta e^(-z) + (1 - e^(-z))``
(two positive terms) and every partial are rational in them (see :func:`_lifetime`).

With the default log-normal priors nutpie calls the kernel through the C callbacks at the end
of this module (:mod:`clvmodels.bayes.native` builds the nutpie model around them), in the
coordinates of :func:`clvmodels.models.dropout_coordinates.gompertz_log_parameters` (log q
in place of log s, at half the customers' mean T); with other priors PyMC's graph holds the
Op (:class:`GGompertzNBDLogLikelihood`), which PyTensor's numba backend runs as the same
compiled kernel.

numba's disk cache notices edits to the file that defines a cached function, not to the files
of the functions it calls. Everything here is defined here except the BG/NBD kernel's
``digamma`` and its ``compiled`` decorator: after editing those, clear numba's cache
(``__pycache__/*.nbi``) or this module's callbacks may run the old ones.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np
from pytensor.gradient import DisconnectedType, disconnected_type
from pytensor.link.numba.dispatch.basic import register_funcify_default_op_cache_key

from clvmodels._numerics import gauss_kronrod_15
from clvmodels.models.beta_geometric_kernel import BetaGeometricLogLikelihood, compiled, digamma
from clvmodels.models.dropout_coordinates import (
    gompertz_log_parameters,
    gompertz_sampling_gradient,
    gompertz_sampling_point,
)
from clvmodels.models.gamma_gamma_kernel import c_callbacks
from clvmodels.models.pareto_nbd_kernel import (
    HORIZON,
    CompiledParetoNBD,
    header_length,
    packed_arrays,
    packed_length,
    stored_draw,
    whitened,
    with_log_normal_priors,
)

# The quadrature's target: the error of the integral at most 1e-12 of it, the NumPy route's
# (ggompertz_nbd._RTOL), by QUADPACK's estimate of a 15-point Kronrod value's error from its
# difference d from the 7-point Gauss rule, (200 d)^1.5 (relative; qk15): that is at most
# 1e-12 where d is at most (1e-12)^(2/3) / 200 = 5e-11. (The NumPy route accepts d of 1e-12
# itself; on CDNOW the two agree to 3e-14 in log I, and the kernel splits ~4% of the rows
# where at 1e-12 it split ~28%.) At most _MAX_PANELS panels per row, as there.
_RTOL = 5e-11
_MAX_PANELS = 64
# Initial panel boundaries (see _edges): multiples of the Gompertz density's width around its
# mode, and a multiple of the e-fold length of the integrand at the interval's left end.
_MODE_WIDTHS = (-4.0, 0.0, 4.0)
_DECAY_FOLDS = 40.0
_N_EDGES = 3 + len(_MODE_WIDTHS)
# Above this b tau, e^(-b tau) is taken directly and L from log(expm1(b tau)) = b tau +
# log1p(-e^(-b tau)): expm1(b tau) / beta could overflow; below, expm1 loses nothing.
_LARGE_AGE = 30.0
_ABSCISSAE, _KRONROD, _GAUSS = gauss_kronrod_15()
_N_NODES = len(_ABSCISSAE)
# The sums a panel returns: Kronrod value, |Kronrod - Gauss|, and the integrals of the five
# functions whose averages are the derivatives of log I (see _panel).
_N_SUMS = 7


# ----------------------------------------------------------------------------- the lifetime
@compiled
def _lifetime(b, beta, log_beta, tau):
    """``(log G, L, e^(-z), 1 - e^(-z), 1 / G)`` at age tau, ``z = b tau``.

    ``G = g e^(-z) = beta e^(-z) + (1 - e^(-z))`` (both terms positive: no cancellation) and
    ``L = log(g / beta) = log1p(expm1(z) / beta)`` (``log S = -s L``; exact as z -> 0, where
    ``s log beta - s log g`` would cancel for large s and beta). Up to ``_LARGE_AGE``,
    ``log G = L + log beta - z`` (one logarithm fewer a node; its absolute error, a few ulps
    of ``|L| + |log beta| + z``, is below 1e-13 for beta down to 1e-300, 1e-14 for beta in
    [1e-3, 1e3]: that relative error of the integrand); beyond, ``log G`` is taken directly
    and ``L = q + log1p(e^-q)`` with ``q = z + log1p(-e^-z) - log beta`` (no overflow).
    """
    z = b * tau
    if z <= _LARGE_AGE:
        grown = math.expm1(z)
        decay = 1.0 / (1.0 + grown)
        gone = grown * decay
        ageing = math.log1p(grown / beta)
        base = beta * decay + gone
        return ageing + log_beta - z, ageing, decay, gone, 1.0 / base
    decay = math.exp(-z)
    gone = 1.0 - decay
    q = z + math.log1p(-decay) - log_beta
    ageing = q + math.log1p(math.exp(-q)) if q > 0.0 else math.log1p(math.exp(q))
    base = beta * decay + gone
    return math.log(base), ageing, decay, gone, 1.0 / base


# ----------------------------------------------------------------------------- the quadrature
# A panel's row in the work array: its start and width in w, the log of its scale, then over
# that scale its Kronrod value, |Kronrod - Gauss| and the five integrals of _panel.
_START, _WIDTH, _PEAK, _VALUE, _ERROR, _MOMENTS = 0, 1, 2, 3, 4, 5
_N_COLUMNS = _MOMENTS + 5


@compiled
def _panel(panel, origin, log_origin, t_x, k, b, s, beta, log_beta, nodes):
    """Gauss-Kronrod 7-15 on the panel ``[start, start + width]`` of w read from ``panel`` (a
    row of the work array; the width given, not hi - lo: an interval narrower than an ulp
    keeps its width), written back into it: the log of its scale (its largest node of the
    log integrand), then over that scale the Kronrod value, its difference from the Gauss
    rule's and the integrals of log(alpha + tau), 1 / (alpha + tau), tau (1 - (s + 1) / G),
    L and (s (1 - e^(-z)) / beta - e^(-z)) / G: the partials of the log integrand in
    (k, alpha, b, s, beta) are -the first, -k times the second, 1 / b + the third, -the
    fourth and the fifth.

    The log integrand in w (without its constant log b) is ``(1 - k) log(alpha + tau) -
    log G - s L``; ``nodes`` (shape (15, 6)) holds it and the five functions per node.
    """
    lo, width = panel[_START], panel[_WIDTH]
    peak = -math.inf
    for i in range(_N_NODES):
        w = lo + width * _ABSCISSAE[i]
        grown = math.expm1(w)
        tau = t_x + origin * grown
        log_base, ageing, decay, gone, inverse_base = _lifetime(b, beta, log_beta, tau)
        log_purchase = log_origin + w
        log_value = (1.0 - k) * log_purchase - log_base - s * ageing
        nodes[i, 0] = log_value
        nodes[i, 1] = log_purchase
        nodes[i, 2] = 1.0 / (origin * (1.0 + grown))  # 1 / (alpha + tau)
        nodes[i, 3] = tau * (1.0 - (s + 1.0) * inverse_base)
        nodes[i, 4] = ageing
        nodes[i, 5] = (s * gone / beta - decay) * inverse_base
        peak = max(peak, log_value)
    panel[_PEAK] = peak
    panel[_VALUE:] = 0.0
    gauss = 0.0
    for i in range(_N_NODES):
        value = math.exp(nodes[i, 0] - peak) * width
        weighted = _KRONROD[i] * value
        panel[_VALUE] += weighted
        gauss += _GAUSS[i] * value
        for j in range(5):
            panel[_MOMENTS + j] += weighted * nodes[i, j + 1]
    panel[_ERROR] = abs(panel[_VALUE] - gauss)


@compiled
def _edges(edges, width, origin, t_x, k, b, s, beta):
    """The initial panel boundaries in w on [0, width], sorted into ``edges``, and their
    number: the ends, the Gompertz density's mode and 4 of its widths either side (where
    ``e^(b tau) = (beta - 1) / s`` is inside: ``beta > 1 + s``), where a narrow peak could
    hide between the nodes of a wide panel, and ``_DECAY_FOLDS`` e-fold lengths of the
    integrand at t_x, beyond which it may be negligible (points outside the interval are
    clipped to its ends, giving empty panels). The NumPy route adds 1 and 6 e-fold lengths:
    an exponential fall over a panel is smooth, and its Kronrod-Gauss difference shows where
    it needs splitting."""
    edges[0], edges[1] = 0.0, width
    n = 2
    if beta > 1.0 + s:
        mode = math.log((beta - 1.0) / s) / b
        spread = math.sqrt((s + 1.0) / s) / b
        for multiple in _MODE_WIDTHS:
            edges[n] = _w_of(mode + multiple * spread, origin, t_x, width)
            n += 1
    inverse_base = _lifetime(b, beta, math.log(beta), t_x)[4]
    slope = -k / origin + b - (s + 1.0) * b * inverse_base
    edges[n] = _w_of(t_x - _DECAY_FOLDS / slope, origin, t_x, width)
    n += 1
    for i in range(1, n):  # insertion sort of a handful of points
        point, j = edges[i], i - 1
        while j >= 0 and edges[j] > point:
            edges[j + 1] = edges[j]
            j -= 1
        edges[j + 1] = point
    return n


@compiled
def _w_of(tau, origin, t_x, width):
    """w at age tau, clipped to [0, width] (0 where it is not a number)."""
    w = math.log1p((tau - t_x) / origin)
    if not math.isfinite(w):
        return 0.0 if not w > 0.0 else width
    return min(max(w, 0.0), width)


@compiled
def _totals(panels, n_panels, total):
    """The panels' value, error and integrals summed into ``total`` on the scale of the
    largest panel; returns the log of that scale."""
    reference = -math.inf
    for p in range(n_panels):
        reference = max(reference, panels[p, _PEAK])
    total[:] = 0.0
    for p in range(n_panels):
        scale = math.exp(panels[p, _PEAK] - reference)
        for j in range(_N_SUMS):
            total[j] += scale * panels[p, _VALUE + j]
    return reference


@compiled
def workspace() -> tuple:
    """The work arrays of :func:`log_lifetime_integral` (panels, nodes, totals, edges),
    allocated once per likelihood evaluation."""
    return (np.empty((_MAX_PANELS, _N_COLUMNS)), np.empty((_N_NODES, 6)), np.empty(_N_SUMS),
            np.empty(_N_EDGES))


@compiled
def log_lifetime_integral(k, alpha, b, s, beta, t_x, T, work):
    """``log I`` and its derivatives in (k, alpha, b, s, beta) for ``t_x < T``, by the adaptive
    quadrature of the module docstring; ``work`` is from :func:`workspace`."""
    panels, nodes, total, edges = work
    origin = alpha + t_x
    log_origin, log_beta = math.log(origin), math.log(beta)
    width = math.log1p((T - t_x) / origin)
    n_edges = _edges(edges, width, origin, t_x, k, b, s, beta)
    n_panels = 0
    for e in range(n_edges - 1):
        if edges[e + 1] > edges[e]:
            panels[n_panels, _START], panels[n_panels, _WIDTH] = edges[e], edges[e + 1] - edges[e]
            n_panels += 1
    if n_panels == 0:  # narrower than an ulp of the edges: one panel of the given width
        panels[0, _START], panels[0, _WIDTH] = 0.0, width
        n_panels = 1
    for p in range(n_panels):
        _panel(panels[p], origin, log_origin, t_x, k, b, s, beta, log_beta, nodes)
    reference = _totals(panels, n_panels, total)
    while n_panels < _MAX_PANELS and not total[1] <= _RTOL * total[0]:
        worst, worst_error = 0, -1.0
        for p in range(n_panels):  # the largest error on the common scale
            error = panels[p, _ERROR] * math.exp(panels[p, _PEAK] - reference)
            if error > worst_error:
                worst, worst_error = p, error
        half = 0.5 * panels[worst, _WIDTH]
        panels[n_panels, _START] = panels[worst, _START] + half
        panels[worst, _WIDTH] = panels[n_panels, _WIDTH] = half
        _panel(panels[worst], origin, log_origin, t_x, k, b, s, beta, log_beta, nodes)
        _panel(panels[n_panels], origin, log_origin, t_x, k, b, s, beta, log_beta, nodes)
        n_panels += 1
        reference = _totals(panels, n_panels, total)
    integral = total[0]
    return (math.log(b) + reference + math.log(integral), -total[2] / integral,
            -k * total[3] / integral, 1.0 / b + total[4] / integral, -total[5] / integral,
            total[6] / integral)


# ----------------------------------------------------------------------------- the likelihood
@compiled(nogil=True)
def value_and_gradient(r, alpha, b, s, beta, x_values, T_values, x_codes, T_codes, t_x,
                       weights):
    """The weighted log-likelihood and its derivatives in (r, alpha, b, s, beta).

    The data are the arrays of :func:`clvmodels.models.pareto_nbd_kernel.kernel_data`: the
    distinct x and the distinct T, then per distinct row the codes of its x and its T among
    them (whole floats), its t_x and its weight. Per row ``c = lnG(r + x) - lnG(r) + r log
    alpha``, ``u = -(r + x) log(alpha + T) - s L(T)``, ``v = log s + log I`` (where t_x < T).
    Returns ``(value, gradient)``.
    """
    n = weights.sum()
    log_alpha = math.log(alpha)
    total = n * (r * log_alpha - math.lgamma(r))
    gradient = np.zeros(5)
    gradient[0] = n * (log_alpha - digamma(r))
    gradient[1] = n * r / alpha
    log_gamma_x, digamma_x = np.empty(len(x_values)), np.empty(len(x_values))
    for k in range(len(x_values)):
        log_gamma_x[k], digamma_x[k] = math.lgamma(r + x_values[k]), digamma(r + x_values[k])
    # Per distinct T: log(alpha + T), L(T) and T / G(T) (d L / d b), d L / d beta.
    n_T, log_beta = len(T_values), math.log(beta)
    log_alpha_T, ageing_T = np.empty(n_T), np.empty(n_T)
    d_b_T, d_beta_T = np.empty(n_T), np.empty(n_T)
    for j in range(n_T):
        _, ageing, _, gone, inverse_base = _lifetime(b, beta, log_beta, T_values[j])
        log_alpha_T[j], ageing_T[j] = math.log(alpha + T_values[j]), ageing
        d_b_T[j] = T_values[j] * inverse_base
        d_beta_T[j] = -gone * inverse_base / beta
    log_s = math.log(s)
    work = workspace()
    for i in range(len(weights)):
        k, j = int(x_codes[i]), int(T_codes[i])
        x, T, weight = x_values[k], T_values[j], weights[i]
        rx = r + x
        u = -rx * log_alpha_T[j] - s * ageing_T[j]
        d_u = (-log_alpha_T[j], -rx / (alpha + T), -s * d_b_T[j], -ageing_T[j],
               -s * d_beta_T[j])
        g0, g1, g2, g3, g4 = digamma_x[k] + d_u[0], d_u[1], d_u[2], d_u[3], d_u[4]
        if t_x[i] < T:
            log_i, d_i0, d_i1, d_i2, d_i3, d_i4 = log_lifetime_integral(rx, alpha, b, s, beta,
                                                                        t_x[i], T, work)
            v = log_s + log_i
            # logaddexp(u, v) and the dropped-out share expit(v - u), from the larger term
            # (not u + (v - u): u reaches -s b T, ~1e7, whose ulp would swamp a small LL).
            if v > u:
                tail = math.exp(u - v)
                log_sum = v + math.log1p(tail)
                dropped = 1.0 / (1.0 + tail)
            else:
                tail = math.exp(v - u)
                log_sum = u + math.log1p(tail)
                dropped = tail / (1.0 + tail)
            row = log_gamma_x[k] + log_sum
            g0 += dropped * (d_i0 - d_u[0])
            g1 += dropped * (d_i1 - d_u[1])
            g2 += dropped * (d_i2 - d_u[2])
            g3 += dropped * (d_i3 + 1.0 / s - d_u[3])
            g4 += dropped * (d_i4 - d_u[4])
        else:
            row = log_gamma_x[k] + u
        total += weight * row
        gradient[0] += weight * g0
        gradient[1] += weight * g1
        gradient[2] += weight * g2
        gradient[3] += weight * g3
        gradient[4] += weight * g4
    return total, gradient


class GGompertzNBDLogLikelihood(BetaGeometricLogLikelihood):
    """The weighted log-likelihood of ``(r, alpha, b, s, beta, *kernel_data)`` as a PyTensor
    Op: the value and the gradient in the five parameters (the BG/NBD Op's interface, with
    this kernel and one more parameter)."""

    def perform(self, node, inputs, outputs):
        total, gradient = value_and_gradient(*(float(v) for v in inputs[:N_PARAMS]),
                                             *inputs[N_PARAMS:])
        outputs[0][0] = np.asarray(total)
        outputs[1][0] = gradient

    def connection_pattern(self, node):
        return [[True, True]] * N_PARAMS + [[False, False]] * (len(node.inputs) - N_PARAMS)

    def grad(self, inputs, output_grads):
        upstream, gradient_upstream = output_grads
        if not isinstance(gradient_upstream.type, DisconnectedType):
            raise NotImplementedError("the GGompertz/NBD likelihood has no second derivatives")
        # The same node as the value's (PyTensor merges them): one kernel call for both.
        gradient = self(*inputs)[1]
        return [upstream * gradient[i] for i in range(N_PARAMS)] + [
            disconnected_type() for _ in inputs[N_PARAMS:]
        ]


@compiled
def _numba_perform(r, alpha, b, s, beta, *data):
    total, gradient = value_and_gradient(r[()], alpha[()], b[()], s[()], beta[()], *data)
    return np.asarray(total), gradient


@register_funcify_default_op_cache_key(GGompertzNBDLogLikelihood)
def _numba_funcify(op, node=None, **kwargs):
    """The Op in PyTensor's numba backend: the cached kernel on PyTensor's 0-d arrays."""
    return _numba_perform


# ----------------------------------------------------------------------------- nutpie callbacks
N_PARAMS = 5
# The packed data are laid out as the Pareto/NBD kernel's (its header with five parameters'
# priors and whitening, then the same kernel_data arrays): read by its helpers. The header's
# horizon is this kernel's t1 (see CompiledGGompertzNBD).


@compiled
def log_density(y, packed):
    """log posterior density (up to a constant) of the sampling coordinates ``y`` (log r, log
    alpha, log b, log q, log beta) and its gradient, with the log-normal priors of the packed
    data (on the log-parameters; the coordinates' Jacobian is 1)."""
    d = packed_arrays(packed, N_PARAMS)
    theta, b_slope, beta_slope = gompertz_log_parameters(y, packed[HORIZON])
    params = np.exp(theta)
    total, gradient = value_and_gradient(params[0], params[1], params[2], params[3],
                                         params[4], d[0], d[1], d[2], d[3], d[4], d[5])
    # The chain rule to the log-parameters, then to the sampling coordinates.
    total, gradient = with_log_normal_priors(total, gradient * params, theta, packed)
    return total, gompertz_sampling_gradient(gradient, b_slope, beta_slope)


@compiled
def stored_log_parameters(y, packed):
    """The log-parameters at sampling coordinates ``y`` (see :func:`log_density`)."""
    return gompertz_log_parameters(y, packed[HORIZON])[0]


def _logp_callback(dim, z_, gradient_, logp_, user_data_):
    """nutpie's log-density callback in whitened coordinates (the gradient is factor.T @ the
    gradient in sampling coordinates): 0 on success, 3 or 4 for a non-finite gradient or value
    (nutpie's codes), -1 for a wrong dimension."""
    if dim != N_PARAMS:
        return -1
    sizes = numba.carray(user_data_, (3,), np.float64)
    packed = numba.carray(user_data_, (packed_length(sizes, N_PARAMS),), np.float64)
    theta, factor = whitened(numba.carray(z_, (N_PARAMS,)), packed)
    total, gradient = log_density(theta, packed)
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


class CompiledGGompertzNBD(CompiledParetoNBD):
    """The likelihood of one fit's data as the compiled kernel: a PyTensor Op for the PyMC
    graph (:meth:`tensor`) and, with log-normal priors, nutpie's native model
    (:meth:`packed`, :meth:`log_density`, :meth:`callbacks`). The data and their packing are
    the Pareto/NBD kernel's (the same columns, one more parameter in the header's priors and
    whitening) and its nutpie model samples log q in place of log s (see
    :mod:`clvmodels.models.dropout_coordinates`)."""

    def __init__(self, fit_data) -> None:
        super().__init__(fit_data)
        # The coordinates' t1: half the customers' mean observation time. On CDNOW NUTS took
        # 5.3-5.6 leapfrog steps a draw at t1 of 16-22 weeks, 6.3 at the mean T (32.7).
        self.horizon *= 0.5

    def value_and_gradient(self, params: np.ndarray) -> tuple[float, np.ndarray]:
        """The weighted total log-likelihood and its gradient at ``params``."""
        return value_and_gradient(*(float(v) for v in params), *self.data)

    def tensor(self, params: list):
        """The weighted total log-likelihood as a PyTensor scalar of the parameter variables
        (the data enter as constants)."""
        return GGompertzNBDLogLikelihood()(*params, *self.data)[0]

    def sampling_point(self, theta: np.ndarray) -> np.ndarray:
        """The sampling coordinates of log-parameters ``theta`` (log q in place of log s)."""
        return gompertz_sampling_point(theta, self.horizon)

    def log_density(self, y: np.ndarray, packed: np.ndarray) -> tuple[float, np.ndarray]:
        """The log posterior density of the sampling coordinates and its gradient (log-normal
        priors on the log-parameters, as packed; see :func:`log_density`)."""
        return log_density(np.asarray(y, dtype=float), packed)

    def callbacks(self) -> tuple:
        """nutpie's C callbacks (log density, expansion of a draw), cached by numba."""
        return compiled_callbacks()
