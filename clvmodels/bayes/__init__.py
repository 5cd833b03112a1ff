"""Bayesian variants of the models, fitted with PyMC (needs the ``bayes`` extra).

:class:`BayesianBetaGeoModel`, :class:`BayesianParetoNBDModel` and
:class:`BayesianGammaGammaModel` share their likelihoods and prediction formulas with the
maximum-likelihood models and carry the posterior through every prediction: each returns a
posterior mean and a credible interval per customer.
"""

try:
    import arviz  # noqa: F401
    import pymc  # noqa: F401
except ImportError as error:
    raise ImportError(
        f"the Bayesian models need PyMC and ArviZ ({error}); install them with "
        'pip install "clvmodels[bayes]"'
    ) from error

from clvmodels.bayes.beta_geo import BayesianBetaGeoModel
from clvmodels.bayes.gamma_gamma import BayesianGammaGammaModel
from clvmodels.bayes.pareto_nbd import BayesianParetoNBDModel

__all__ = ["BayesianBetaGeoModel", "BayesianGammaGammaModel", "BayesianParetoNBDModel"]
