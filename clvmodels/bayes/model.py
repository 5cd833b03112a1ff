"""The PyMC model of a family on one fit's data: the priors and the likelihood as a potential
(with static covariates: the coefficients' priors too)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pymc as pm

from clvmodels.bayes.likelihood import CovariateLogLikelihood, log_likelihood_term
from clvmodels.estimation.covariate_posterior import CovariateLikelihood
from clvmodels.estimation.family import Family
from clvmodels.estimation.fitdata import FitData

# The scale of a weakly informative log-normal prior: 95% of its mass within a factor
# e**(1.96 * 2) ~ 50 either side of its median.
PRIOR_SIGMA = 2.0


def log_normal(median: float) -> Any:
    """The default prior: log-normal with the given median and log-scale sd ``PRIOR_SIGMA``."""
    return pm.LogNormal.dist(mu=np.log(median), sigma=PRIOR_SIGMA)


def priors_of(family: Family, fit_data: FitData, priors: dict[str, Any]) -> dict[str, Any]:
    """Every parameter's prior: the user's where given, else the default log-normal centred on
    the family's prior median (scale parameters on the data's own time or money scale)."""
    medians = family.prior_medians(fit_data)
    return {name: priors[name] if name in priors else log_normal(float(median))
            for name, median in zip(family.param_names, medians, strict=True)}


def pymc_model(family: Family, fit_data: FitData, priors: dict[str, Any]) -> pm.Model:
    """The PyMC model: one variable per parameter, the likelihood as a potential."""
    all_priors = priors_of(family, fit_data, priors)
    with pm.Model() as model:
        params = [model.register_rv(all_priors[name], name) for name in family.param_names]
        pm.Potential("log_likelihood", log_likelihood_term(family, fit_data, params))
    return model


def covariate_priors_of(likelihood: CovariateLikelihood, fit_data: FitData,
                        priors: dict[str, Any]) -> dict[str, Any]:
    """Every prior of a model with covariates: the base parameters' as without covariates
    (of the base parameters at z = 0), each coefficient's the user's where given, else
    Normal(0, ``COEFFICIENT_PRIOR_SIGMA``) on its standardised column (on the user's scale,
    Normal(0, sigma / column sd))."""
    family = likelihood.family
    base = priors_of(family, fit_data, {k: v for k, v in priors.items()
                                        if k in family.param_names})
    sds = likelihood.default_coefficient_sds()
    coefficients = {name: priors[name] if name in priors else pm.Normal.dist(mu=0.0,
                                                                              sigma=float(sd))
                    for name, sd in zip(likelihood.coordinates.names, sds, strict=True)}
    return {**base, **coefficients}


def covariate_pymc_model(likelihood: CovariateLikelihood, fit_data: FitData,
                         priors: dict[str, Any]) -> pm.Model:
    """The PyMC model with covariates: one variable per reported parameter (base parameters,
    then coefficients), the likelihood as a potential."""
    all_priors = covariate_priors_of(likelihood, fit_data, priors)
    with pm.Model() as model:
        params = [model.register_rv(all_priors[name], name) for name in likelihood.names]
        pm.Potential("log_likelihood", CovariateLogLikelihood(likelihood)(*params)[0])
    return model


def describe_priors(family: Family, fit_data: FitData, priors: dict[str, Any],
                    likelihood: CovariateLikelihood | None = None) -> str:
    """``r ~ LogNormal(0, 2); alpha ~ ...``: the priors used, for the saved posterior (with
    the coefficients' for a model with covariates)."""
    if likelihood is None:
        all_priors, names = priors_of(family, fit_data, priors), family.param_names
    else:
        all_priors = covariate_priors_of(likelihood, fit_data, priors)
        names = likelihood.names
    return "; ".join(f"{name} ~ {_describe(all_priors[name])}" for name in names)


def _describe(distribution: Any) -> str:
    """``LogNormal(-1.2, 2)`` for an unnamed PyMC distribution: its name and parameters."""
    node = distribution.owner
    name = type(node.op).__name__.removesuffix("RV")
    try:
        # Constant folding runs the Ops in Python: eval() would compile C code, ~1 s a fit.
        values = [np.asarray(value).tolist()
                  for value in pm.pytensorf.constant_fold(node.op.dist_params(node))]
    except Exception:  # symbolic parameters: name the distribution only
        return f"{name}(...)"
    shown = ", ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in values)
    return f"{name}({shown})"


__all__ = ["PRIOR_SIGMA", "covariate_pymc_model", "covariate_priors_of", "describe_priors",
           "log_normal", "priors_of", "pymc_model"]
