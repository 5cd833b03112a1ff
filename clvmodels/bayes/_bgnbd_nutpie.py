"""The BG/NBD posterior as a nutpie model compiled once per machine, not once per fit.

``nutpie.compile_pymc_model`` generates a C callback around the PyMC graph at every call; numba
cannot cache it on disk (it closes over the graph), and compiling it took 10-15 s of a CDNOW fit
whose sampling takes 2. With the default log-normal priors the log density in the sampler's
log-parameters is simple enough to write here: the priors are normal densities of the logs
(the Jacobian of the log transform included), the likelihood is the compiled kernel of
:mod:`clvmodels.bayes._bgnbd_kernel`. The callbacks below take the data, the prior parameters
and the whitening of the coordinates (see :func:`compile_model`) from one array passed at run
time, so they are compiled once and cached on disk (numba's cache, next to this module or in
the user's cache directory).
Other priors take the general route through ``nutpie.compile_pymc_model``.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING

import numba
import numpy as np
import pymc as pm
from pymc.logprob.transforms import LogTransform
from pytensor.tensor.random.basic import LogNormalRV

from clvmodels.bayes._base import gaussian_at_mode
from clvmodels.bayes._bgnbd_kernel import compiled, kernel_data, value_and_gradient
from clvmodels.models._base import FitData

if TYPE_CHECKING:  # nutpie is optional: PyMC's sampler serves without it
    from nutpie.compile_pymc import CompiledPyMCModel

N_PARAMS = 4
# The data array begins with the sizes of the x, T, t_x levels and of the repeat rows, the
# priors' means and sds of the log-parameters, and the whitening: a centre and a Cholesky
# factor (row-major) of the log-parameters (see compile_model).
_PRIORS = 4
_CENTRE = _PRIORS + 2 * N_PARAMS
_FACTOR = _CENTRE + N_PARAMS
_HEADER = _FACTOR + N_PARAMS * N_PARAMS
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


def log_normal_priors(model: pm.Model, names: tuple[str, ...]) -> np.ndarray | None:
    """The (mean, sd) of each parameter's log-normal prior in ``model``, shape (2, params), or
    ``None`` when a prior is not a log-normal with constant parameters sampled in logs."""
    priors = []
    for name in names:
        rv = model[name]
        if not (isinstance(rv.owner.op, LogNormalRV)
                and isinstance(model.rvs_to_transforms.get(rv), LogTransform)):
            return None
        try:
            mu, sigma = (float(pm.pytensorf.constant_fold([v])[0])
                         for v in rv.owner.op.dist_params(rv.owner))
        except Exception:  # symbolic prior parameters
            return None
        priors.append((mu, sigma))
    return np.array(priors).T


def packed_data(fit_data: FitData, priors: np.ndarray, centre: np.ndarray,
                factor: np.ndarray) -> np.ndarray:
    """The one float array the callbacks read: sizes, prior parameters, whitening, then the
    kernel's data in :func:`kernel_data`'s order (the integer codes as whole floats)."""
    data = kernel_data(fit_data)
    sizes = [len(data[0]), len(data[2]), len(data[5]), len(data[6])]
    return np.concatenate([np.array(sizes, dtype=float), priors.ravel(), centre,
                           factor.ravel(), *(np.asarray(array, dtype=float) for array in data)])


@compiled
def _part_sizes(header):
    """The lengths of the kernel's arrays in the packed data, in :func:`kernel_data`'s order."""
    n_x, n_T, n_t, n_rows = int(header[0]), int(header[1]), int(header[2]), int(header[3])
    return (n_x, n_x, n_T, n_T, n_T, n_t, n_rows, n_rows, n_rows, n_rows, n_rows)


@compiled
def _unpack(packed):
    parts = []
    start = _HEADER
    for size in _part_sizes(packed):
        parts.append(packed[start:start + size])
        start += size
    return parts


@compiled
def _unwhiten(z, packed):
    """The log-parameters at whitened coordinates z: centre + factor @ z."""
    factor = packed[_FACTOR:_HEADER].reshape((N_PARAMS, N_PARAMS))
    return packed[_CENTRE:_FACTOR] + factor @ z, factor


@compiled
def log_density(theta, packed):
    """log posterior density (up to a constant) of the log-parameters and its gradient."""
    mu, sigma = packed[_PRIORS:_PRIORS + N_PARAMS], packed[_PRIORS + N_PARAMS:_CENTRE]
    d = _unpack(packed)
    params = np.exp(theta)
    total, gradient = value_and_gradient(params[0], params[1], params[2], params[3], d[0],
                                         d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9],
                                         d[10])
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
    size = _HEADER
    for part in _part_sizes(numba.carray(user_data_, (_HEADER,), np.float64)):
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
    packed = numba.carray(user_data_, (_HEADER,), np.float64)
    theta, _ = _unwhiten(numba.carray(theta_, (N_PARAMS,)), packed)
    out = numba.carray(out_, (2 * N_PARAMS,))
    for i in range(N_PARAMS):
        out[i] = theta[i]
        out[N_PARAMS + i] = math.exp(theta[i])
    return 0


@functools.cache
def _compiled_callbacks():
    """The two callbacks as C functions: compiled at the first fit, not at import (from
    numba's disk cache after the first fit on the machine)."""
    return (numba.cfunc(_LOGP_SIGNATURE, cache=True, error_model="numpy")(_logp_callback),
            numba.cfunc(_EXPAND_SIGNATURE, cache=True, error_model="numpy")(_expand_callback))


def compile_model(model: pm.Model, fit_data: FitData,
                  names: tuple[str, ...]) -> CompiledPyMCModel | None:
    """A nutpie model of the BG/NBD posterior from the cached callbacks, or ``None`` when the
    priors are not all log-normal (see :func:`log_normal_priors`).

    The sampler moves in whitened coordinates z, log-parameters = mode + L z with L L' the
    inverse negative Hessian at the posterior mode of the log-parameters (the Laplace
    approximation's covariance; :func:`clvmodels.bayes._base.gaussian_at_mode`). A linear
    change of variables leaves the posterior unchanged, but the draws are then nearly
    independent standard normals whatever the correlations of r with alpha and of a with b,
    so NUTS needs fewer leapfrog steps per draw from the first tuning step on. Without a
    Gaussian at the mode the log-parameters are sampled as they are. The chains start like
    nutpie's PyMC models, at a point jittered by U(-1, 1) in each coordinate: here around the
    mode, in its sds.
    """
    from nutpie.compile_pymc import CompiledPyMCModel

    priors = log_normal_priors(model, names)
    if priors is None:
        return None
    logp_callback, expand_callback = _compiled_callbacks()
    packed = packed_data(fit_data, priors, priors[0], np.eye(N_PARAMS))
    try:
        centre, covariance = gaussian_at_mode(lambda theta: log_density(theta, packed),
                                              priors[0])
        packed[_CENTRE:_FACTOR] = centre
        packed[_FACTOR:_HEADER] = np.linalg.cholesky(covariance).ravel()
    except np.linalg.LinAlgError:
        pass  # the identity whitening packed above
    packed.flags.writeable = False
    value_names = [model.rvs_to_values[model[name]].name for name in names]
    all_names = [*value_names, *names]
    shape_info = (all_names, [slice(i, i + 1) for i in range(2 * N_PARAMS)],
                  [()] * (2 * N_PARAMS))

    def initial_point(seed):
        return np.random.default_rng(seed).uniform(-1, 1, N_PARAMS)

    return CompiledPyMCModel(
        _n_dim=N_PARAMS, dims={}, _coords={}, _shapes=dict.fromkeys(all_names, ()),
        compiled_logp_func=logp_callback, compiled_expand_func=expand_callback,
        initial_point_func=initial_point, shared_data={}, user_data=packed,
        n_expanded=2 * N_PARAMS, shape_info=shape_info, logp_func=None, expand_func=None,
    )
