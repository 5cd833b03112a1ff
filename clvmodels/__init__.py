"""clvmodels: probabilistic customer-lifetime-value models.

Transaction log -> RFM summary (:func:`rfm_summary`) -> purchase-count model (:class:`BetaGeoModel`,
:class:`ParetoNBDModel`) and spend model (:class:`GammaGammaModel`) -> per-customer predictions,
:func:`customer_lifetime_value` and :func:`customer_equity`.
"""

from clvmodels.clv import CustomerEquity, customer_equity, customer_lifetime_value
from clvmodels.datasets import load_cdnow_summary, load_cdnow_transactions, load_donations
from clvmodels.evaluate import Backtest, backtest, compare_models
from clvmodels.models import BetaGeoModel, ConvergenceError, GammaGammaModel, ParetoNBDModel
from clvmodels.models._base import package_version
from clvmodels.rfm import calibration_holdout, rfm_summary
from clvmodels.validation import ValidationError, check_rfm, check_transactions

__version__ = package_version()

# The Bayesian models need PyMC (the ``bayes`` extra): imported on first use, so that
# ``import clvmodels`` works without it.
_BAYESIAN = ("BayesianBetaGeoModel", "BayesianGammaGammaModel", "BayesianParetoNBDModel")


def __getattr__(name: str):
    if name in _BAYESIAN:
        from clvmodels import bayes  # raises ImportError naming the extra when PyMC is missing

        return getattr(bayes, name)
    raise AttributeError(f"module 'clvmodels' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_BAYESIAN])

__all__ = [
    "Backtest",
    "BetaGeoModel",
    "ConvergenceError",
    "CustomerEquity",
    "GammaGammaModel",
    "ParetoNBDModel",
    "ValidationError",
    "backtest",
    "calibration_holdout",
    "check_rfm",
    "check_transactions",
    "compare_models",
    "customer_equity",
    "customer_lifetime_value",
    "load_cdnow_summary",
    "load_cdnow_transactions",
    "load_donations",
    "rfm_summary",
]
