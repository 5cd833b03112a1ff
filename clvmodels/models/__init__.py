"""The maximum-likelihood models, one module each."""

from clvmodels.models._base import ConvergenceError
from clvmodels.models.beta_geo import BetaGeoModel
from clvmodels.models.gamma_gamma import GammaGammaModel
from clvmodels.models.pareto_nbd import ParetoNBDModel

__all__ = ["BetaGeoModel", "ConvergenceError", "GammaGammaModel", "ParetoNBDModel"]
