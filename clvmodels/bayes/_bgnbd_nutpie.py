"""The BG/NBD posterior as a nutpie model compiled once per machine, not once per fit.

``nutpie.compile_pymc_model`` generates a C callback around the PyMC graph at every call; numba
cannot cache it on disk (it closes over the graph), and compiling it took 10-15 s of a CDNOW fit
whose sampling takes 2. With the default log-normal priors the log density in the sampler's
log-parameters is simple enough to write out: the priors are normal densities of the logs
(the Jacobian of the log transform included), the likelihood is the compiled kernel. The
callbacks (in :mod:`clvmodels.bayes._bgnbd_kernel`, with all the compiled code) take the data,
the prior parameters and the whitening of the coordinates (see :func:`compile_model`) from one
array passed at run time, so they are compiled once and cached on disk (numba's cache, next to
that module or in the user's cache directory). This module builds that array and the model.
Other priors take the general route through ``nutpie.compile_pymc_model``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pymc as pm
from pymc.logprob.transforms import LogTransform
from pytensor.tensor.random.basic import LogNormalRV

from clvmodels.bayes._base import gaussian_at_mode
from clvmodels.bayes._bgnbd_kernel import (
    CENTRE,
    FACTOR,
    HEADER,
    N_PARAMS,
    compiled_callbacks,
    kernel_data,
    log_density,
)
from clvmodels.models._base import FitData

if TYPE_CHECKING:  # nutpie is optional: PyMC's sampler serves without it
    from nutpie.compile_pymc import CompiledPyMCModel


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
    logp_callback, expand_callback = compiled_callbacks()
    packed = packed_data(fit_data, priors, priors[0], np.eye(N_PARAMS))
    try:
        centre, covariance = gaussian_at_mode(lambda theta: log_density(theta, packed),
                                              priors[0])
        packed[CENTRE:FACTOR] = centre
        packed[FACTOR:HEADER] = np.linalg.cholesky(covariance).ravel()
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
