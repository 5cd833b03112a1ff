"""The Gamma-Gamma log-likelihood and its gradient in one compiled pass, for sampling.

The mathematics of :meth:`clvmodels.models.gamma_gamma.GammaGammaFamily.derivatives` (the
gamma-function terms once per distinct x, the rest once per distinct row), written as numba
functions compiled once and cached on disk, and cross-checked against it in the tests. Imported
only by the Bayesian models (numba is in the ``bayes`` extra), through
:meth:`GammaGammaFamily.compiled_likelihood`. With the default log-normal priors nutpie calls
it through the C callbacks at the end of this module
(:mod:`clvmodels.bayes.native` builds the nutpie model around them): without them nutpie ran
the NumPy likelihood from Python, ~6.5 s of a 4 x 1,000-draw CDNOW fit.

numba's disk cache notices edits to the file that defines a cached function, not to the files
of the functions it calls. Everything here is defined here except the BG/NBD kernel's
``digamma`` (a fixed special function): after editing it, clear numba's cache
(``__pycache__/*.nbi``) or this module's callbacks may run the old one.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np

from clvmodels.models.beta_geometric_kernel import compiled, digamma

N_PARAMS = 3
# The packed data begins with the number of distinct x and of distinct rows, then the priors'
# means and sds of the log-parameters from PRIORS, the whitening's centre from CENTRE and its
# Cholesky factor (row-major) from FACTOR (CompiledGammaGamma.packed builds it); then, from
# HEADER, the arrays of kernel_data.
PRIORS = 2
CENTRE, FACTOR = PRIORS + 2 * N_PARAMS, PRIORS + 3 * N_PARAMS
HEADER = FACTOR + N_PARAMS**2
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


@compiled(nogil=True)
def value_and_gradient(p, q, gamma, x_values, level_weight, level_x_weight, x_zbar,
                       log_x_zbar, log_zbar, weight, weight_x):
    """The weighted log-likelihood and its derivatives in (p, q, gamma).

    Per row ``LL = lnG(px+q) - lnG(px) - lnG(q) + q ln(gamma) + px ln(x zbar) - ln(zbar)
    - (px+q) ln(gamma + x zbar)``. The data are the arrays of
    :func:`clvmodels.models.gamma_gamma.kernel_data`: the distinct x with the weight and the
    weight * x summed per x, then per distinct row x * zbar, its log, log zbar, the weight and
    the weight * x. Returns ``(value, gradient)``.
    """
    n = weight.sum()
    log_gamma = math.log(gamma)
    total = n * (q * log_gamma - math.lgamma(q))
    d_p = 0.0
    d_q = n * (log_gamma - digamma(q))
    d_gamma = n * q / gamma
    for k in range(len(x_values)):
        px = p * x_values[k]
        psi_total = digamma(px + q)
        total += level_weight[k] * (math.lgamma(px + q) - math.lgamma(px))
        d_p += level_x_weight[k] * (psi_total - digamma(px))
        d_q += level_weight[k] * psi_total
    for i in range(len(weight)):
        log_total = math.log(gamma + x_zbar[i])
        total += (p * weight_x[i] * (log_x_zbar[i] - log_total) - weight[i]
                  * (q * log_total + log_zbar[i]))
        d_p += weight_x[i] * (log_x_zbar[i] - log_total)
        d_q -= weight[i] * log_total
        d_gamma -= (p * weight_x[i] + q * weight[i]) / (gamma + x_zbar[i])
    return total, np.array([d_p, d_q, d_gamma])


@compiled
def _data(packed):
    """The arrays of ``kernel_data`` in the packed data (two of distinct x, five of rows)."""
    n_x, n_rows = int(packed[0]), int(packed[1])
    levels = [packed[HEADER + k * n_x:HEADER + (k + 1) * n_x] for k in range(3)]
    start = HEADER + 3 * n_x
    rows = [packed[start + k * n_rows:start + (k + 1) * n_rows] for k in range(5)]
    return levels, rows


@compiled
def log_density(theta, packed):
    """log posterior density (up to a constant) of the log-parameters and its gradient, with
    the log-normal priors of the packed data (a normal density of each log)."""
    levels, rows = _data(packed)
    params = np.exp(theta)
    total, gradient = value_and_gradient(params[0], params[1], params[2], levels[0], levels[1],
                                         levels[2], rows[0], rows[1], rows[2], rows[3], rows[4])
    gradient = gradient * params  # chain rule to the log-parameters
    for i in range(N_PARAMS):
        standardised = (theta[i] - packed[PRIORS + i]) / packed[PRIORS + N_PARAMS + i]
        total -= (0.5 * standardised * standardised + math.log(packed[PRIORS + N_PARAMS + i])
                  + _LOG_SQRT_2PI)
        gradient[i] -= standardised / packed[PRIORS + N_PARAMS + i]
    return total, gradient


# ----------------------------------------------------------------------------- nutpie callbacks
@compiled
def _whitened_log_density(z, packed):
    """The log density at log-parameters centre + factor @ z, and its gradient in z
    (factor.T @ the gradient in log-parameters, the chain rule of a linear map)."""
    factor = packed[FACTOR:HEADER].reshape((N_PARAMS, N_PARAMS))
    total, gradient = log_density(packed[CENTRE:FACTOR] + factor @ z, packed)
    return total, factor.T @ gradient


@compiled
def _packed_view(user_data):
    """The packed data behind nutpie's user-data pointer, its length read from its header."""
    header = numba.carray(user_data, (2,), np.float64)
    size = HEADER + 3 * int(header[0]) + 5 * int(header[1])
    return numba.carray(user_data, (size,), np.float64)


def _logp_callback(dim, z_, gradient_, logp_, user_data_):
    """nutpie's log-density callback: 0 on success, 3 or 4 for a non-finite gradient or value
    (nutpie's codes), -1 for a wrong dimension."""
    if dim != N_PARAMS:
        return -1
    total, gradient = _whitened_log_density(numba.carray(z_, (N_PARAMS,)),
                                            _packed_view(user_data_))
    numba.carray(gradient_, (N_PARAMS,))[:] = gradient
    logp_[0] = total
    if not np.all(np.isfinite(gradient)):
        return 3
    return 0 if np.isfinite(total) else 4


def _expand_callback(dim, expanded, z_, draw_, user_data_):
    """The draw to store: the log-parameters, then the parameters (nutpie's PyMC layout)."""
    if dim != N_PARAMS or expanded != 2 * N_PARAMS:
        return -1
    packed = numba.carray(user_data_, (HEADER,), np.float64)
    factor = packed[FACTOR:HEADER].reshape((N_PARAMS, N_PARAMS))
    theta = packed[CENTRE:FACTOR] + factor @ numba.carray(z_, (N_PARAMS,))
    draw = numba.carray(draw_, (2 * N_PARAMS,))
    draw[:N_PARAMS] = theta
    draw[N_PARAMS:] = np.exp(theta)
    return 0


_DOUBLES = numba.types.CPointer(numba.types.double)
# nutpie's C signatures: (dim, z, gradient out, value out, user data) -> status and
# (dim, expanded dim, z, draw out, user data) -> status.
LOGP_SIGNATURE = numba.types.int64(numba.types.uint64, _DOUBLES, _DOUBLES, _DOUBLES,
                                   numba.types.voidptr)
EXPAND_SIGNATURE = numba.types.int64(numba.types.uint64, numba.types.uint64, _DOUBLES,
                                     _DOUBLES, numba.types.voidptr)


def c_callbacks(logp_callback, expand_callback) -> tuple:
    """nutpie's two callbacks (Python functions numba compiles) as C functions of nutpie's
    signatures, cached on disk by numba (next to the module that defines each callback)."""
    return (numba.cfunc(LOGP_SIGNATURE, cache=True, error_model="numpy")(logp_callback),
            numba.cfunc(EXPAND_SIGNATURE, cache=True, error_model="numpy")(expand_callback))


@functools.cache
def compiled_callbacks():
    """The two callbacks as C functions: compiled at the first fit, not at import (from
    numba's disk cache after the first fit on the machine)."""
    return c_callbacks(_logp_callback, _expand_callback)
