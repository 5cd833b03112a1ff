"""A posterior as a nutpie model without compiling the PyMC graph.

``nutpie.compile_pymc_model`` generates a C callback around the PyMC graph at every call; numba
cannot cache it on disk (it closes over the graph), and compiling it took 10-15 s of a CDNOW
fit whose sampling takes 2 (and a family without a compiled kernel then runs its likelihood in
numba's object mode, at ~0.6 ms a gradient). With log-normal priors (the defaults) the log
density in the sampler's log-parameters is simple enough to write out: the priors are normal
densities of the logs (the Jacobian of the log transform included), the likelihood is the
family's. :func:`compile_native` gives nutpie

- for a family with a compiled kernel, the kernel's C callbacks, which take the data, the
  prior parameters and the whitening of the coordinates from one array passed at run time, so
  they are compiled once and cached on disk (numba's cache);
- for any other family, a Python log density calling the family's NumPy derivatives
  (``nutpie.from_pyfunc``), the maximum-likelihood code itself.

Either samples in coordinates whitened by the Laplace approximation (see
:func:`compile_native`). Other priors take the general route through
``nutpie.compile_pymc_model``. A model with covariates (:func:`compile_covariate_native`) is
a Python log density too: the per-row likelihood with its chain rule
(:class:`~clvmodels.estimation.covariate_posterior.CovariateLikelihood`; the per-row values
and derivatives from the family's compiled kernel where it has one,
:meth:`~clvmodels.estimation.family.Family.compiled_row_gradient`), in the
maximum-likelihood fit's coordinates, with normal priors of the coefficients.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pymc as pm
from pymc.logprob.transforms import LogTransform
from pytensor.tensor.random.basic import LogNormalRV, NormalRV

from clvmodels.bayes.mode import gaussian_at_mode
from clvmodels.estimation.covariate_posterior import CovariateLikelihood
from clvmodels.estimation.family import Family
from clvmodels.estimation.fitdata import FitData

_LOG_SQRT_2PI = 0.5 * float(np.log(2 * np.pi))

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


def compile_native(model: pm.Model, family: Family, fit_data: FitData,
                   names: tuple[str, ...]) -> Any | None:
    """A nutpie model of the posterior, or ``None`` when the priors are not all log-normal
    (see :func:`log_normal_priors`).

    The sampler moves in whitened coordinates z, y = mode + L z with L L' the inverse negative
    Hessian at the posterior mode of y (the Laplace approximation's covariance;
    :func:`clvmodels.bayes.mode.gaussian_at_mode`), y the kernel's sampling coordinates: the
    log-parameters, or for the Pareto/NBD and the GGompertz/NBD the survival coordinates of
    :mod:`clvmodels.models.dropout_coordinates`, which straighten ridges no linear map can. A
    linear change of variables leaves the posterior unchanged, but the draws are then
    nearly independent standard normals whatever the correlations between the parameters, so
    NUTS needs fewer leapfrog steps per draw from the first tuning step on (~3 on CDNOW).
    Without a Gaussian at the mode y is sampled as it is. The chains start like
    nutpie's PyMC models, at a point jittered by U(-1, 1) in each coordinate: here around the
    mode, in its sds.
    """
    priors = log_normal_priors(model, names)
    if priors is None:
        return None
    kernel = family.compiled_likelihood(fit_data)
    if kernel is not None:
        def log_density(theta: np.ndarray, whitening: np.ndarray) -> tuple:
            return kernel.log_density(theta, whitening)
    else:
        def log_density(theta: np.ndarray, whitening: Any = None) -> tuple:
            return python_log_density(family, fit_data, priors, theta)
    # The prior medians in the kernel's sampling coordinates (see its sampling_point).
    start = priors[0] if kernel is None else kernel.sampling_point(priors[0])
    identity = kernel.packed(priors, start, np.eye(len(names))) if kernel is not None else None
    try:
        centre, covariance = gaussian_at_mode(lambda theta: log_density(theta, identity), start)
        factor = np.linalg.cholesky(covariance)
    except np.linalg.LinAlgError:
        centre, factor = start, np.eye(len(names))  # sample the coordinates as they are
    value_names = [model.rvs_to_values[model[name]].name for name in names]
    if kernel is not None:
        return _kernel_model(kernel, priors, centre, factor, value_names, names)
    return _python_model(family, fit_data, priors, centre, factor, value_names, names)


def python_log_density(family: Family, fit_data: FitData, priors: np.ndarray,
                       theta: np.ndarray) -> tuple[float, np.ndarray]:
    """The log posterior density (up to a constant) of the log-parameters ``theta`` and its
    gradient: the family's likelihood (in blocks) plus normal densities of the logs."""
    params = np.exp(theta)
    with np.errstate(all="ignore"):
        parts = [family.derivatives(params, block) for block in fit_data.blocks()]
    total = sum(part[0] for part in parts)
    gradient = np.sum([part[1] for part in parts], axis=0) * params  # chain rule to logs
    prior, prior_gradient = normal_log_density(priors, theta)
    return float(total + prior), gradient + prior_gradient


def _initial_point(n_params: int):
    def initial_point(seed):
        return np.random.default_rng(seed).uniform(-1, 1, n_params)

    return initial_point


def _kernel_model(kernel, priors, centre, factor, value_names, names) -> CompiledPyMCModel:
    """nutpie's model around a kernel's C callbacks and its packed data."""
    from nutpie.compile_pymc import CompiledPyMCModel

    n_params = len(names)
    logp_callback, expand_callback = kernel.callbacks()
    packed = kernel.packed(priors, centre, factor)
    packed.flags.writeable = False
    all_names = [*value_names, *names]
    shape_info = (all_names, [slice(i, i + 1) for i in range(2 * n_params)],
                  [()] * (2 * n_params))
    return CompiledPyMCModel(
        _n_dim=n_params, dims={}, _coords={}, _shapes=dict.fromkeys(all_names, ()),
        compiled_logp_func=logp_callback, compiled_expand_func=expand_callback,
        initial_point_func=_initial_point(n_params), shared_data={}, user_data=packed,
        n_expanded=2 * n_params, shape_info=shape_info, logp_func=None, expand_func=None,
    )


def _python_model(family, fit_data, priors, centre, factor, value_names, names) -> Any:
    """nutpie's model around a Python log density in whitened coordinates."""
    def expand(theta: np.ndarray) -> dict[str, np.ndarray]:
        return {**{name: np.asarray(theta[i]) for i, name in enumerate(value_names)},
                **{name: np.asarray(np.exp(theta[i])) for i, name in enumerate(names)}}

    return whitened_pyfunc_model(
        lambda theta: python_log_density(family, fit_data, priors, theta), centre, factor,
        expand, [*value_names, *names])


def whitened_pyfunc_model(log_density: Callable[[np.ndarray], tuple[float, np.ndarray]],
                          centre: np.ndarray, factor: np.ndarray,
                          expand: Callable[[np.ndarray], dict[str, np.ndarray]],
                          names: list[str]) -> Any:
    """nutpie's model of ``log_density(theta)`` (value and gradient) sampled in whitened
    coordinates z, ``theta = centre + factor @ z``; ``expand(theta)`` gives the stored
    scalar values by name (``names``, in order)."""
    import nutpie

    n_params = len(centre)

    def make_logp_fn():
        def logp(z, **_):
            value, gradient = log_density(centre + factor @ z)
            if not (np.isfinite(value) and np.all(np.isfinite(gradient))):
                return -np.inf, np.zeros(n_params)
            return value, np.ascontiguousarray(factor.T @ gradient)

        return logp

    def make_expand_fn(seed1, seed2, chain):
        def expand_fn(z, **_):
            return expand(centre + factor @ z)

        return expand_fn

    return nutpie.compiled_pyfunc.from_pyfunc(
        n_params, make_logp_fn, make_expand_fn, [np.dtype("float64")] * len(names),
        [()] * len(names), names, make_initial_point_fn=_initial_point(n_params),
    )


def normal_log_density(priors: np.ndarray, psi: np.ndarray) -> tuple[float, np.ndarray]:
    """The log density of independent normals (``priors``: means, sds) at ``psi`` and its
    gradient."""
    z = (psi - priors[0]) / priors[1]
    value = -0.5 * float(z @ z) - float(np.sum(np.log(priors[1]))) - _LOG_SQRT_2PI * len(z)
    return value, -z / priors[1]


def covariate_priors(model: pm.Model, likelihood: CovariateLikelihood) -> np.ndarray | None:
    """The (mean, sd) of every reported parameter's prior in its sampler coordinate ``psi``
    (log base parameters, coefficients), shape (2, parameters), or ``None`` unless the base
    parameters' priors are log-normal and the coefficients' normal, with constant
    parameters."""
    base = log_normal_priors(model, likelihood.family.param_names)
    if base is None:
        return None
    coefficients = []
    for name in likelihood.coordinates.names:
        rv = model[name]
        if not isinstance(rv.owner.op, NormalRV) or model.rvs_to_transforms.get(rv):
            return None
        try:
            coefficients.append([float(pm.pytensorf.constant_fold([v])[0])
                                 for v in rv.owner.op.dist_params(rv.owner)])
        except Exception:  # symbolic prior parameters
            return None
    return np.hstack([base, np.array(coefficients).reshape(-1, 2).T])


def compile_covariate_native(model: pm.Model, likelihood: CovariateLikelihood) -> Any | None:
    """A nutpie model of the posterior with covariates, or ``None`` when the priors are not
    log-normal (base parameters) and normal (coefficients): see :func:`covariate_priors`.

    The sampler moves in the maximum-likelihood fit's coordinates ``phi`` (centred,
    standardised), whitened by the Laplace approximation there as :func:`compile_native`
    does; the priors are of the reported parameters ``psi = A phi + offset`` (a linear map
    with a constant Jacobian, so the density in ``phi`` is the same up to a constant).
    """
    priors = covariate_priors(model, likelihood)
    if priors is None:
        return None
    matrix = likelihood.matrix

    def log_density(phi: np.ndarray) -> tuple[float, np.ndarray]:
        total, gradient = likelihood.at_internal(phi)
        prior, prior_gradient = normal_log_density(priors, likelihood.reported(phi))
        return total + prior, gradient + matrix.T @ prior_gradient

    start = likelihood.internal(priors[0])
    try:
        centre, covariance = gaussian_at_mode(log_density, start)
        factor = np.linalg.cholesky(covariance)
    except np.linalg.LinAlgError:
        centre, factor = start, np.eye(len(start))
    names = likelihood.names

    def expand(phi: np.ndarray) -> dict[str, np.ndarray]:
        values = likelihood.natural(likelihood.reported(phi))
        return {name: np.asarray(value) for name, value in zip(names, values, strict=True)}

    return whitened_pyfunc_model(log_density, centre, factor, expand, names)


__all__ = ["compile_covariate_native", "compile_native", "covariate_priors", "log_normal_priors",
           "normal_log_density", "python_log_density", "whitened_pyfunc_model"]
