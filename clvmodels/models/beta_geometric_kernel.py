"""The BG/NBD and MBG/NBD log-likelihood and its gradient in one compiled pass, for sampling.

The mathematics of :meth:`clvmodels.models.beta_geometric.BetaGeometricFamily.derivatives`
(per-level sufficient statistics, the dropped-out term visited only on the rows that can have
dropped out), written as a numba kernel compiled once and cached on disk, and cross-checked
against it in the tests. Imported only by the Bayesian models (numba is in the ``bayes``
extra), through :meth:`BetaGeometricFamily.compiled_likelihood`.

The Op returns the value and the gradient together, so a sampler asking for both runs the
kernel once. nutpie calls the kernel from the callbacks at the end of this module (default
priors; :mod:`clvmodels.bayes.native` builds the nutpie model around them) or from the PyMC
graph compiled by PyTensor's numba backend (the Op's numba implementation, other priors);
PyMC's sampler and optimisers call it through ``perform``.

Every function numba compiles for these posteriors lives in this one file: numba's disk cache
notices edits to the file that defines a cached function, not to the files of the functions it
calls, so a callback elsewhere could go on running an old kernel.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType, disconnected_type
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.link.numba.dispatch.basic import register_funcify_default_op_cache_key

# IEEE arithmetic (x / 0 = inf, 0 / 0 = nan) rather than Python's ZeroDivisionError, in every
# compiled function here: an exception cannot leave nutpie's C callback
# (the sampler would read an unset value), a non-finite one is rejected as a divergence.
compiled = functools.partial(numba.njit, cache=True, error_model="numpy")

# The asymptotic series of digamma, psi(x) ~ log x - 1/(2x) - sum_k B_2k / (2k x**2k), by its
# coefficients B_2k / 2k in absolute value, from k = 7 down to k = 1 (Horner's order).
_DIGAMMA_SERIES = (1 / 12, 691 / 32760, 1 / 132, 1 / 240, 1 / 252, 1 / 120, 1 / 12)
# Arguments are raised by recurrence to at least this before the series is used: the first
# omitted term, B_16 / (16 x**16) ~ 0.44 / x**16, is then below 5e-17.
_DIGAMMA_SHIFT = 10.0


@compiled
def digamma(x: float) -> float:
    """psi(x) for x > 0: the recurrence psi(x) = psi(x + 1) - 1/x up to ``_DIGAMMA_SHIFT``,
    then the asymptotic series (numba has no digamma of its own)."""
    result = 0.0
    while x < _DIGAMMA_SHIFT:
        result -= 1.0 / x
        x += 1.0
    inv2 = 1.0 / (x * x)
    series = 0.0
    for coefficient in _DIGAMMA_SERIES:
        series = inv2 * (coefficient - series)
    return result + math.log(x) - 0.5 / x - series


@compiled
def _betaln(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


@compiled(nogil=True)
def value_and_gradient(
    r, alpha, a, b, shift, x_values, level_weight, T_values, T_weight, T_weighted_x, t_values,
    rows_x, rows_weight, rows_x_code, rows_T_code, rows_t_code,
):
    """The weighted log-likelihood and its derivatives in (r, alpha, a, b).

    ``shift`` is 0 for BG/NBD, 1 for MBG/NBD; the data are the arrays of
    :func:`clvmodels.models.beta_geometric.kernel_data`: the distinct x with every row's
    weight summed per x, the distinct T with the weight and weight * x summed per T, the
    distinct t_x of the rows that can have dropped out, and those rows (x, weight, codes into
    the three level sets). The codes may be integers or whole floats. Returns
    ``(value, gradient)``.
    """
    log_beta_ab = _betaln(a, b)
    psi_r, psi_a, psi_b, psi_ab = digamma(r), digamma(a), digamma(b), digamma(a + b)
    log_gamma_r, log_alpha = math.lgamma(r), math.log(alpha)
    n = level_weight.sum()
    total = n * r * log_alpha
    d_r = n * log_alpha
    d_alpha = n * r / alpha
    # Terms of x alone, once per level; gap = beta_dropped - beta_alive where x > 0.
    gap = np.zeros(len(x_values))
    for k in range(len(x_values)):
        x, weight = x_values[k], level_weight[k]
        beta_alive = _betaln(a, b + x + shift) - log_beta_ab
        total += weight * (math.lgamma(r + x) - log_gamma_r + beta_alive)
        d_r += weight * (digamma(r + x) - psi_r)
        if x + shift > 0:
            gap[k] = _betaln(a + 1, b + x + shift - 1) - log_beta_ab - beta_alive
    # The alive term's -(r + x) log(alpha + T), summed over the rows of each level of T.
    log_T, inverse_T = np.log(alpha + T_values), 1.0 / (alpha + T_values)
    for j in range(len(T_values)):
        weighted_rx = r * T_weight[j] + T_weighted_x[j]
        total -= weighted_rx * log_T[j]
        d_r -= T_weight[j] * log_T[j]
        d_alpha -= weighted_rx * inverse_T[j]
    log_t, inverse_t = np.log(alpha + t_values), 1.0 / (alpha + t_values)
    # The softplus(diff) of the rows that can have dropped out, log(1 + e**diff) from the
    # larger share, and the dropped-out share expit(diff) that weights its derivatives.
    level_dropped = np.zeros(len(x_values))
    for i in range(len(rows_x)):
        k, j, m = int(rows_x_code[i]), int(rows_T_code[i]), int(rows_t_code[i])
        rx = r + rows_x[i]
        log_ratio = log_t[m] - log_T[j]
        diff = gap[k] - rx * log_ratio
        if diff > 0:
            tail = math.exp(-diff)
            softplus, dropped = diff + math.log1p(tail), 1.0 / (1.0 + tail)
        else:
            tail = math.exp(diff)
            softplus, dropped = math.log1p(tail), tail / (1.0 + tail)
        weight = rows_weight[i]
        total += weight * softplus
        w_dropped = weight * dropped
        d_r -= w_dropped * log_ratio
        d_alpha += w_dropped * rx * (inverse_T[j] - inverse_t[m])
        level_dropped[k] += w_dropped
    d_a = n * (psi_ab - psi_a)
    d_b = n * (psi_ab - psi_b)
    psi_a1 = digamma(a + 1)
    for k in range(len(x_values)):
        opportunities = x_values[k] + shift
        psi_abx = digamma(a + b + opportunities)
        alive = level_weight[k] - level_dropped[k]
        d_a += alive * (psi_a - psi_abx)
        d_b += alive * (digamma(b + opportunities) - psi_abx)
        if opportunities > 0:
            d_a += level_dropped[k] * (psi_a1 - psi_abx)
            d_b += level_dropped[k] * (digamma(b + opportunities - 1) - psi_abx)
    return total, np.array([d_r, d_alpha, d_a, d_b])


class BetaGeometricLogLikelihood(Op):
    """The weighted log-likelihood of ``(r, alpha, a, b, shift, *kernel_data)``.

    Two outputs: the value and the gradient in the four parameters (what ``grad`` returns,
    times the upstream gradient). The gradient has no derivative of its own: second
    derivatives are not available (the Laplace approximation differences the gradient).
    """

    __props__ = ()

    def make_node(self, *inputs):
        params = [pt.as_tensor_variable(v, dtype="float64") for v in inputs[:5]]
        data = [pt.as_tensor_variable(v) for v in inputs[5:]]
        return Apply(self, [*params, *data], [pt.dscalar(), pt.dvector()])

    def perform(self, node, inputs, outputs):
        total, gradient = value_and_gradient(*(float(v) for v in inputs[:5]), *inputs[5:])
        outputs[0][0] = np.asarray(total)
        outputs[1][0] = gradient

    def connection_pattern(self, node):
        return [[True, True]] * 4 + [[False, False]] * (len(node.inputs) - 4)

    def grad(self, inputs, output_grads):
        upstream, gradient_upstream = output_grads
        if not isinstance(gradient_upstream.type, DisconnectedType):
            raise NotImplementedError("the beta-geometric likelihood has no second derivatives")
        # The same node as the value's (PyTensor merges them): one kernel call for both.
        gradient = self(*inputs)[1]
        return [upstream * gradient[i] for i in range(4)] + [
            disconnected_type() for _ in inputs[4:]
        ]


@compiled
def _numba_perform(r, alpha, a, b, shift, *data):
    total, gradient = value_and_gradient(r[()], alpha[()], a[()], b[()], shift[()], *data)
    return np.asarray(total), gradient


@register_funcify_default_op_cache_key(BetaGeometricLogLikelihood)
def _numba_funcify(op, node=None, **kwargs):
    """The Op in PyTensor's numba backend: the cached kernel on PyTensor's 0-d arrays."""
    return _numba_perform


# ----------------------------------------------------------------------------- nutpie callbacks
# The native nutpie model's C callbacks (see clvmodels.bayes.native).
N_PARAMS = 4
# The data array begins with the sizes of the x, T, t_x levels and of the rows that can have
# dropped out, the shift, the priors' means and sds of the log-parameters, and the whitening:
# a centre and a Cholesky factor (row-major) of the log-parameters (packed_data builds it).
SHIFT = 4
PRIORS = 5
CENTRE = PRIORS + 2 * N_PARAMS
FACTOR = CENTRE + N_PARAMS
HEADER = FACTOR + N_PARAMS * N_PARAMS
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)

_LOGP_SIGNATURE = numba.types.int64(
    numba.types.uint64, numba.types.CPointer(numba.types.double),
    numba.types.CPointer(numba.types.double), numba.types.CPointer(numba.types.double),
    numba.types.voidptr,
)
_EXPAND_SIGNATURE = numba.types.int64(
    numba.types.uint64, numba.types.uint64, numba.types.CPointer(numba.types.double),
    numba.types.CPointer(numba.types.double), numba.types.voidptr,
)


@compiled
def _part_sizes(header):
    """The lengths of the kernel's arrays in the packed data, in ``kernel_data``'s order."""
    n_x, n_T, n_t, n_rows = int(header[0]), int(header[1]), int(header[2]), int(header[3])
    return (n_x, n_x, n_T, n_T, n_T, n_t, n_rows, n_rows, n_rows, n_rows, n_rows)


@compiled
def _unpack(packed):
    parts = []
    start = HEADER
    for size in _part_sizes(packed):
        parts.append(packed[start:start + size])
        start += size
    return parts


@compiled
def _unwhiten(z, packed):
    """The log-parameters at whitened coordinates z: centre + factor @ z."""
    factor = packed[FACTOR:HEADER].reshape((N_PARAMS, N_PARAMS))
    return packed[CENTRE:FACTOR] + factor @ z, factor


@compiled
def log_density(theta, packed):
    """log posterior density (up to a constant) of the log-parameters and its gradient."""
    mu, sigma = packed[PRIORS:PRIORS + N_PARAMS], packed[PRIORS + N_PARAMS:CENTRE]
    d = _unpack(packed)
    params = np.exp(theta)
    total, gradient = value_and_gradient(params[0], params[1], params[2], params[3],
                                         packed[SHIFT], d[0], d[1], d[2], d[3], d[4], d[5],
                                         d[6], d[7], d[8], d[9], d[10])
    # Chain rule to log-parameters; a log-normal prior is a normal density of the log.
    gradient = gradient * params
    for i in range(N_PARAMS):
        z = (theta[i] - mu[i]) / sigma[i]
        total -= 0.5 * z * z + math.log(sigma[i]) + _LOG_SQRT_2PI
        gradient[i] -= z / sigma[i]
    return total, gradient


def _logp_callback(dim, theta_, out_, logp_, user_data_):
    """nutpie's log-density callback: 0 on success, 3 or 4 for a non-finite gradient or value
    (nutpie's codes), -1 for a wrong dimension."""
    if dim != N_PARAMS:
        return -1
    size = HEADER
    for part in _part_sizes(numba.carray(user_data_, (HEADER,), np.float64)):
        size += part
    packed = numba.carray(user_data_, (size,), np.float64)
    theta, factor = _unwhiten(numba.carray(theta_, (N_PARAMS,)), packed)
    out = numba.carray(out_, (N_PARAMS,))
    total, gradient = log_density(theta, packed)
    logp_[0] = total
    # The gradient in whitened coordinates: factor.T @ (gradient in log-parameters).
    gradient = factor.T @ gradient
    for i in range(N_PARAMS):
        out[i] = gradient[i]
    if not np.all(np.isfinite(gradient)):
        return 3
    if not np.isfinite(total):
        return 4
    return 0


def _expand_callback(dim, expanded, theta_, out_, user_data_):
    """The draw to store: the log-parameters, then the parameters (nutpie's PyMC layout)."""
    if dim != N_PARAMS or expanded != 2 * N_PARAMS:
        return -1
    packed = numba.carray(user_data_, (HEADER,), np.float64)
    theta, _ = _unwhiten(numba.carray(theta_, (N_PARAMS,)), packed)
    out = numba.carray(out_, (2 * N_PARAMS,))
    for i in range(N_PARAMS):
        out[i] = theta[i]
        out[N_PARAMS + i] = math.exp(theta[i])
    return 0


@functools.cache
def compiled_callbacks():
    """The two callbacks as C functions: compiled at the first fit, not at import (from
    numba's disk cache after the first fit on the machine)."""
    return (numba.cfunc(_LOGP_SIGNATURE, cache=True, error_model="numpy")(_logp_callback),
            numba.cfunc(_EXPAND_SIGNATURE, cache=True, error_model="numpy")(_expand_callback))
