"""clvmodels: probabilistic customer-lifetime-value models.

Transaction log -> RFM summary (:func:`rfm_summary`) -> purchase-count model (:class:`BetaGeoModel`,
:class:`ParetoNBDModel`) and spend model (:class:`GammaGammaModel`) -> per-customer predictions,
:func:`customer_lifetime_value` and :func:`customer_equity`.
"""

from clvmodels.clv import CustomerEquity, customer_equity, customer_lifetime_value
from clvmodels.datasets import load_cdnow_summary, load_cdnow_transactions, load_donations
from clvmodels.models import BetaGeoModel, ConvergenceError, GammaGammaModel, ParetoNBDModel
from clvmodels.models._base import package_version
from clvmodels.rfm import calibration_holdout, rfm_summary
from clvmodels.validation import ValidationError, check_rfm, check_transactions

__version__ = package_version()

__all__ = [
    "BetaGeoModel",
    "ConvergenceError",
    "CustomerEquity",
    "GammaGammaModel",
    "ParetoNBDModel",
    "ValidationError",
    "calibration_holdout",
    "check_rfm",
    "check_transactions",
    "customer_equity",
    "customer_lifetime_value",
    "load_cdnow_summary",
    "load_cdnow_transactions",
    "load_donations",
    "rfm_summary",
]
