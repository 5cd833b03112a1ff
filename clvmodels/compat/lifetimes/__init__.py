"""lifetimes' API on clvmodels' models: ``from clvmodels.compat import lifetimes`` in place of
``import lifetimes``.

The fitters keep lifetimes' constructors, ``fit`` arguments, fitted attributes and method
names, shapes and indexes; every number comes from the clvmodels models (BG/NBD, MBG/NBD,
Pareto/NBD, BG/BB, Gamma-Gamma), which are numerically robust where lifetimes returns NaN or
fails on pandas 3. ``save_model`` writes JSON and ``load_model`` refuses pickles.
``fitter.clvmodels_model`` is the clvmodels model at the fitted parameters.
"""

from clvmodels.compat.lifetimes.fitters import BaseFitter
from clvmodels.compat.lifetimes.fitters.beta_geo_beta_binom_fitter import BetaGeoBetaBinomFitter
from clvmodels.compat.lifetimes.fitters.beta_geo_fitter import BetaGeoFitter
from clvmodels.compat.lifetimes.fitters.gamma_gamma_fitter import GammaGammaFitter
from clvmodels.compat.lifetimes.fitters.modified_beta_geo_fitter import ModifiedBetaGeoFitter
from clvmodels.compat.lifetimes.fitters.pareto_nbd_fitter import ParetoNBDFitter

#: The lifetimes release whose API this reproduces.
__version__ = "0.11.3"

__all__ = (
    "__version__",
    "BaseFitter",
    "BetaGeoFitter",
    "ParetoNBDFitter",
    "GammaGammaFitter",
    "ModifiedBetaGeoFitter",
    "BetaGeoBetaBinomFitter",
)
