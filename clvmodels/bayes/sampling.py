"""Drawing from a posterior: NUTS (nutpie or PyMC) or the Laplace approximation, with the
convergence checks, the summary and the netCDF reader of the Bayesian estimator."""

from __future__ import annotations

import os
import time
import warnings
from typing import Any

import arviz as az
import numpy as np
import pymc as pm
import pytensor.tensor as pt

from clvmodels.bayes.mode import gaussian_at_mode
from clvmodels.bayes.model import covariate_pymc_model, describe_priors, pymc_model
from clvmodels.bayes.native import compile_covariate_native, compile_native
from clvmodels.estimation.covariate_posterior import CovariateLikelihood
from clvmodels.estimation.covariates import CovariateDesign
from clvmodels.estimation.family import Family
from clvmodels.estimation.fitdata import FitData
from clvmodels.validation import ValidationError

# Convergence: Vehtari et al. (2021) recommend R-hat below 1.01 before using a posterior.
_RHAT_LIMIT = 1.01


def default_sampler() -> str:
    """``"nutpie"`` when installed (it compiles the model to machine code), else ``"pymc"``."""
    try:
        import nutpie  # noqa: F401
    except ImportError:
        return "pymc"
    return "nutpie"


def sample_posterior(family: Family, fit_data: FitData, priors: dict[str, Any], *,
                     method: str, draws: int, tune: int, chains: int,
                     random_seed: int | None, sampler: str | None,
                     target_accept: float | None,
                     progressbar: bool, design: CovariateDesign | None = None
                     ) -> az.InferenceData:
    """The posterior of ``family``'s parameters given ``fit_data``: ``chains x draws`` draws of
    NUTS (``method="nuts"``) or of the Laplace approximation (``"map"``), with the sampler's
    statistics; ``posterior.attrs`` record the method, sampler, priors, seed, timings, and for
    NUTS the target acceptance rate and the tuning steps per chain; with nutpie also
    ``leapfrog_steps``, the leapfrog steps of all chains, tuning included (one gradient of the
    log density each: the fit's cost in gradient calls). ``target_accept=None`` takes the
    family's: its ``native_target_accept`` where nutpie samples the compiled kernel's native
    model (the default priors, no covariates), else its ``target_accept``.

    With a covariate ``design`` (``fit_data`` then holds its ``covariate:`` columns) the
    posterior is of the base parameters and the coefficients, named as the
    maximum-likelihood fit reports them (see :mod:`clvmodels.estimation.covariate_posterior`).
    """
    sampler = default_sampler() if sampler is None else sampler
    likelihood = None if design is None else CovariateLikelihood.of(family, design, fit_data)
    if likelihood is None:
        model, names = pymc_model(family, fit_data, priors), list(family.param_names)
    else:
        model, names = covariate_pymc_model(likelihood, fit_data, priors), likelihood.names
    seed = int(np.random.SeedSequence(random_seed).generate_state(1)[0])
    timings: dict[str, float] = {}
    if method == "map":
        idata = _laplace(model, tuple(names), draws, chains, seed, timings)
    elif sampler == "nutpie":
        idata, target_accept = _sample_nutpie(model, family, fit_data, draws, tune, chains, seed,
                                              target_accept, progressbar, timings, likelihood)
    else:
        target_accept = family.target_accept if target_accept is None else target_accept
        start = time.perf_counter()
        idata = pm.sample(
            draws=draws, tune=tune, chains=chains, cores=min(chains, os.cpu_count() or 1),
            random_seed=seed, target_accept=target_accept, progressbar=progressbar,
            compute_convergence_checks=False, model=model,
        )
        timings["sampling_seconds"] = time.perf_counter() - start
    idata = az.InferenceData(
        posterior=idata.posterior[names],
        **({"sample_stats": idata.sample_stats} if "sample_stats" in idata.groups() else {}),
    )
    idata.posterior.attrs = {
        "method": method,
        "sampler": "laplace" if method == "map" else sampler,
        "priors": describe_priors(family, fit_data, priors, likelihood),
        "random_seed": seed,
        **({} if method == "map" else {"target_accept": target_accept, "tune": tune}),
        **timings,
    }
    return idata


def _sample_nutpie(model, family, fit_data, draws, tune, chains, seed, target_accept,
                   progressbar, timings, likelihood=None):
    import nutpie

    start = time.perf_counter()
    compiled = (compile_native(model, family, fit_data, family.param_names)
                if likelihood is None else compile_covariate_native(model, likelihood))
    if target_accept is None:
        native = (likelihood is None and compiled is not None
                  and family.native_target_accept is not None)
        target_accept = family.native_target_accept if native else family.target_accept
    if compiled is None:
        with warnings.catch_warnings():
            # An Op without a compiled form (a family without a kernel) runs in object mode.
            warnings.filterwarnings("ignore", "Numba will use object mode", UserWarning)
            compiled = nutpie.compile_pymc_model(model)
    timings["compile_seconds"] = time.perf_counter() - start
    start = time.perf_counter()
    idata = nutpie.sample(
        compiled, draws=draws, tune=tune, chains=chains, seed=seed, target_accept=target_accept,
        cores=min(chains, os.cpu_count() or 1), progress_bar=progressbar,
    )
    timings["sampling_seconds"] = time.perf_counter() - start
    timings["leapfrog_steps"] = sum(
        int(group["n_steps"].sum()) for group in (idata.get("warmup_sample_stats"),
                                                  idata.get("sample_stats"))
        if group is not None and "n_steps" in group)
    return idata, target_accept


def _laplace(model: pm.Model, names: tuple[str, ...], draws: int, chains: int, seed: int,
             timings: dict) -> az.InferenceData:
    """Draws from a Gaussian at the posterior mode with the inverse Hessian as covariance,
    in the model's unconstrained parameters.

    Mode and Hessian are both of the density of the unconstrained (log) parameters, Jacobian
    included: ``pm.find_MAP`` maximises the density of the natural parameters, whose mode
    sits elsewhere (for BG/NBD's skewed a and b, half a posterior sd away), so its point only
    starts the search.
    """
    start = time.perf_counter()
    value_vars = model.value_vars
    point = pm.find_MAP(model=model, progressbar=False, seed=seed)
    shapes = [np.shape(point[v.name]) for v in value_vars]
    sizes = [int(np.prod(shape)) for shape in shapes]
    log_density, gradient = model.compile_logp(), model.compile_dlogp()

    def as_point(vector):
        parts = np.split(vector, np.cumsum(sizes)[:-1])
        return {v.name: part.reshape(shape)
                for v, part, shape in zip(value_vars, parts, shapes, strict=True)}

    try:
        mode, covariance = gaussian_at_mode(
            lambda vector: (float(log_density(as_point(vector))), gradient(as_point(vector))),
            np.concatenate([np.ravel(point[v.name]) for v in value_vars]),
        )
    except np.linalg.LinAlgError:
        raise ValidationError(
            "the posterior mode has a singular or non-negative curvature, so the Laplace "
            "approximation does not exist; use method='nuts'"
        ) from None
    rng = np.random.default_rng(seed)
    unconstrained = rng.multivariate_normal(mode, covariance, size=(chains, draws))
    posterior = {}
    offsets = np.cumsum([0, *sizes])
    for i, value_var in enumerate(value_vars):
        rv = model.values_to_rvs[value_var]
        transform = model.rvs_to_transforms[rv]
        values = unconstrained[..., offsets[i]:offsets[i + 1]].reshape(
            (chains, draws, *shapes[i]))
        posterior[rv.name] = (
            transform.backward(pt.as_tensor(values), *rv.owner.inputs).eval()
            if transform else values
        )
    timings["sampling_seconds"] = time.perf_counter() - start
    return az.from_dict(posterior={name: posterior[name] for name in names})


def warn_unconverged(idata: az.InferenceData, names: tuple[str, ...], owner: str) -> None:
    """A UserWarning per parameter whose R-hat exceeds 1.01, and one for divergences."""
    posterior = idata.posterior
    if posterior.sizes["chain"] > 1:
        rhat = az.rhat(idata, var_names=list(names))
        for param in names:
            value = float(rhat[param])
            if not value <= _RHAT_LIMIT:
                warnings.warn(
                    f"{owner}: R-hat of {param} is {value:.4f} > {_RHAT_LIMIT}: the chains "
                    "disagree, so the draws may not represent the posterior. Run more "
                    "tune/draws, or check the data and priors.",
                    UserWarning,
                    stacklevel=3,
                )
    stats = getattr(idata, "sample_stats", None)
    if stats is not None and "diverging" in stats:
        divergences = int(stats["diverging"].sum())
        if divergences:
            warnings.warn(
                f"{owner}: {divergences} divergent transition(s) after tuning: the sampler "
                "missed part of the posterior. Try more tune steps or stronger priors.",
                UserWarning,
                stacklevel=3,
            )


def summary(idata: az.InferenceData, names: tuple[str, ...], **kwargs: Any):
    """ArviZ's summary of the parameters."""
    return az.summary(idata, var_names=list(names), **kwargs)


def read_netcdf(path: str | os.PathLike) -> az.InferenceData:
    """A netCDF file as ArviZ's InferenceData (ValidationError when it is not one)."""
    try:
        return az.from_netcdf(str(path))
    except (OSError, ValueError, KeyError) as error:
        raise ValidationError(f"{path}: not a netCDF model file ({error})") from None


__all__ = ["default_sampler", "read_netcdf", "sample_posterior", "summary", "warn_unconverged"]
