"""clvmodels: probabilistic customer-lifetime-value models.

Transaction log -> RFM summary (:func:`rfm_summary`) -> purchase-count model
(:class:`BetaGeoModel`, :class:`ModifiedBetaGeoModel`, :class:`ParetoNBDModel`,
:class:`GGompertzNBDModel`; in discrete time :class:`BetaGeoBetaBinomModel`) and spend model
(:class:`GammaGammaModel`), fitted by maximum likelihood or as Bayesian models (``Bayesian...``,
the ``bayes`` extra) -> per-customer predictions, :func:`customer_lifetime_value` and
:func:`customer_equity`.
"""

from clvmodels.clv import (
    CustomerEquity,
    customer_equity,
    customer_lifetime_value,
    new_customer_lifetime_value,
)
from clvmodels.datasets import (
    load_cdnow_summary,
    load_cdnow_transactions,
    load_donations,
    load_retention_cohorts,
)
from clvmodels.errors import ConvergenceError, DegenerateFitWarning
from clvmodels.estimation.base import package_version
from clvmodels.estimation.contract import cohort_to_customers
from clvmodels.evaluate import Backtest, backtest, compare_models
from clvmodels.models import (
    BayesianBetaDiscreteWeibullModel,
    BayesianBetaGeoBetaBinomModel,
    BayesianBetaGeoModel,
    BayesianGammaGammaModel,
    BayesianGGompertzNBDModel,
    BayesianModifiedBetaGeoModel,
    BayesianParetoNBDCorrelationModel,
    BayesianParetoNBDModel,
    BayesianShiftedBetaGeoModel,
    BetaDiscreteWeibullModel,
    BetaGeoBetaBinomModel,
    BetaGeoModel,
    GammaGammaModel,
    GGompertzNBDModel,
    ModifiedBetaGeoModel,
    ParetoNBDCorrelationModel,
    ParetoNBDModel,
    ShiftedBetaGeoModel,
)
from clvmodels.rfm import calibration_holdout, discrete_rfm_summary, rfm_summary
from clvmodels.subscriptions import contract_summary
from clvmodels.timeunit import TimeUnit
from clvmodels.validation import ValidationError, check_rfm, check_transactions

__version__ = package_version()

__all__ = [
    "Backtest",
    "BayesianBetaDiscreteWeibullModel",
    "BayesianBetaGeoBetaBinomModel",
    "BayesianBetaGeoModel",
    "BayesianGammaGammaModel",
    "BayesianGGompertzNBDModel",
    "BayesianModifiedBetaGeoModel",
    "BayesianParetoNBDCorrelationModel",
    "BayesianParetoNBDModel",
    "BayesianShiftedBetaGeoModel",
    "BetaDiscreteWeibullModel",
    "BetaGeoBetaBinomModel",
    "BetaGeoModel",
    "ConvergenceError",
    "DegenerateFitWarning",
    "CustomerEquity",
    "GammaGammaModel",
    "GGompertzNBDModel",
    "ModifiedBetaGeoModel",
    "ParetoNBDCorrelationModel",
    "ParetoNBDModel",
    "ShiftedBetaGeoModel",
    "TimeUnit",
    "ValidationError",
    "backtest",
    "calibration_holdout",
    "check_rfm",
    "check_transactions",
    "cohort_to_customers",
    "compare_models",
    "contract_summary",
    "customer_equity",
    "customer_lifetime_value",
    "new_customer_lifetime_value",
    "discrete_rfm_summary",
    "load_cdnow_summary",
    "load_cdnow_transactions",
    "load_donations",
    "load_retention_cohorts",
    "rfm_summary",
]
